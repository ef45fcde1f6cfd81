import { Module, OnModuleInit } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProvidersModule } from '../providers/providers.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { AudioCache, cacheConfig } from './audio-cache';
import { ProviderResilienceService } from './provider-resilience.service';
import { SynthesisRuns } from './synthesis-runs';
import { SynthesisSlots } from './synthesis-slots';
import { TtsService } from './tts.service';

/**
 * The synthesis path, with no transport: provider resilience (bulkhead, timeouts, retries, breaker),
 * attempts, failover and SSML rendering (`TtsService`), the audio cache with single-flight (`AudioCache`),
 * the one concurrency cap (`SynthesisSlots`) and the accounting of every run (`SynthesisRuns`). The replay
 * buffers' seam (`ReplayStore`) is declared here and provided by the StateModule. Sessions, the WebSocket
 * gateways and the OpenAI-compatible route all synthesize through here.
 */
@Module({
  imports: [ProvidersModule, TranscodeModule, ConfigModule.forFeature(cacheConfig)],
  providers: [ProviderResilienceService, AudioCache, TtsService, SynthesisSlots, SynthesisRuns],
  exports: [
    TtsService,
    AudioCache,
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
