import { Module, OnModuleInit } from '@nestjs/common';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProvidersModule } from '../providers/providers.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { ProviderResilienceService } from './provider-resilience.service';
import { SynthesisRuns } from './synthesis-runs';
import { SynthesisSlots } from './synthesis-slots';
import { TtsService } from './tts.service';

/**
 * The synthesis path, with no transport: provider resilience (bulkhead, timeouts, retries, breaker),
 * attempts and failover (`TtsService`), the one concurrency cap (`SynthesisSlots`), accounting of every run
 * (`SynthesisRuns`); the replay buffers' seam (`ReplayStore`) is declared here and provided by the StateModule. Sessions, the WebSocket gateway and the
 * OpenAI-compatible route all synthesize through here.
 */
@Module({
  imports: [ProvidersModule, TranscodeModule],
  providers: [ProviderResilienceService, TtsService, SynthesisSlots, SynthesisRuns],
  exports: [
    TtsService,
    ProviderResilienceService,
    SynthesisSlots,
    SynthesisRuns,
    TranscodeModule,
    ProvidersModule,
  ],
})
export class SynthesisModule implements OnModuleInit {
  constructor(
    private readonly resilience: ProviderResilienceService,
    private readonly registry: ProviderRegistry,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.resilience.track(this.registry.ids());
  }
}
