import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { StreamingGateway } from './streaming.gateway';
import { TtsModule } from './tts.module';

@Module({
  imports: [SessionsModule, TtsModule],
  providers: [StreamingGateway],
})
export class StreamingModule {}
