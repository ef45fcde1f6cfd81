import { Module } from '@nestjs/common';
import { TtsModule } from '../streaming/tts.module';
import { VoicesModule } from '../voices/voices.module';
import { SpeechController } from './speech.controller';
import { SpeechService } from './speech.service';

/** The OpenAI-compatible face of the gateway (`POST /v1/audio/speech`). */
@Module({
  imports: [TtsModule, VoicesModule],
  controllers: [SpeechController],
  providers: [SpeechService],
})
export class SpeechModule {}
