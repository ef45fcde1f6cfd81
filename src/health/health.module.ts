import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProvidersModule } from '../providers/providers.module';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown.state';

@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), ProvidersModule, SynthesisModule],
  controllers: [HealthController],
  providers: [ShutdownState],
  exports: [ShutdownState],
})
export class HealthModule {}
