import { Module } from '@nestjs/common';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { VoicesModule } from '../voices/voices.module';
import { SpeechController } from './speech.controller';
import { SpeechService } from './speech.service';

/** The OpenAI-compatible face of the gateway (`POST /v1/audio/speech`). */
@Module({
  imports: [SynthesisModule, VoicesModule],
  controllers: [SpeechController],
  providers: [SpeechService],
})
export class SpeechModule {}
