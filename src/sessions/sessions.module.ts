import { Module } from '@nestjs/common';
import { TtsModule } from '../streaming/tts.module';
import { VoicesModule } from '../voices/voices.module';
import { MemorySessionStore } from './memory-session.store';
import { SessionStore } from './session.store';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';
import { StreamRegistry } from './stream-registry';

@Module({
  imports: [TtsModule, VoicesModule],
  controllers: [SessionsController],
  // The store seam: in-process today; REDIS_URL will select a Redis-backed class here.
  providers: [SessionsService, StreamRegistry, { provide: SessionStore, useClass: MemorySessionStore }],
  exports: [SessionsService, StreamRegistry],
})
export class SessionsModule {}
