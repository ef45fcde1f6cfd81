import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { StreamingGateway } from './streaming.gateway';

/** The WebSocket transport only; synthesis, replay and session lifecycles live in their own modules. */
@Module({
  imports: [SessionsModule],
  providers: [StreamingGateway],
})
export class StreamingModule {}
