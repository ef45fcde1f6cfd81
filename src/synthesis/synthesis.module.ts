import { Module, OnModuleInit } from '@nestjs/common';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProvidersModule } from '../providers/providers.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { ProviderResilienceService } from './provider-resilience.service';
import { MemoryReplayStore, ReplayStore } from './replay/replay-store';
import { SynthesisRuns } from './synthesis-runs';
import { SynthesisSlots } from './synthesis-slots';
import { TtsService } from './tts.service';

/**
 * The synthesis path, with no transport: provider resilience (bulkhead, timeouts, retries, breaker),
 * attempts and failover (`TtsService`), the one concurrency cap (`SynthesisSlots`), accounting of every run
 * (`SynthesisRuns`) and replay buffers (`ReplayStore`). Sessions, the WebSocket gateway and the
 * OpenAI-compatible route all synthesize through here.
 */
@Module({
  imports: [ProvidersModule, TranscodeModule],
  providers: [
    ProviderResilienceService,
    TtsService,
    SynthesisSlots,
    SynthesisRuns,
    // The replay seam: in-process now; REDIS_URL selects a Redis Streams store.
    { provide: ReplayStore, useClass: MemoryReplayStore },
  ],
  exports: [
    TtsService,
    ProviderResilienceService,
    SynthesisSlots,
    SynthesisRuns,
    ReplayStore,
    TranscodeModule,
    ProvidersModule,
  ],
})
export class SynthesisModule implements OnModuleInit {
  constructor(
    private readonly resilience: ProviderResilienceService,
    private readonly registry: ProviderRegistry,
  ) {}

  onModuleInit(): void {
    this.resilience.track(this.registry.ids());
  }
}
