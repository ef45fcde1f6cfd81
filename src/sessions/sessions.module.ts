import { Module } from '@nestjs/common';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { VoicesModule } from '../voices/voices.module';
import { SessionFiles } from './session-files';
import { SessionStreams } from './session-streams';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';

@Module({
  imports: [SynthesisModule, VoicesModule],
  controllers: [SessionsController],
  // The SessionStore (in process, or Redis) comes from the global StateModule.
  providers: [SessionsService, SessionStreams, SessionFiles],
  exports: [SessionsService, SessionStreams, SynthesisModule],
})
export class SessionsModule {}
