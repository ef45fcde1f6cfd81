import { Module } from '@nestjs/common';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { VoicesModule } from '../voices/voices.module';
import { MemorySessionStore } from './memory-session.store';
import { SessionFiles } from './session-files';
import { SessionStore } from './session.store';
import { SessionStreams } from './session-streams';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';

@Module({
  imports: [SynthesisModule, VoicesModule],
  controllers: [SessionsController],
  // The store seam: in-process today; REDIS_URL selects a Redis-backed class here.
  providers: [
    SessionsService,
    SessionStreams,
    SessionFiles,
    { provide: SessionStore, useClass: MemorySessionStore },
  ],
  exports: [SessionsService, SessionStreams, SynthesisModule],
})
export class SessionsModule {}
