import { Module, OnModuleInit } from '@nestjs/common';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProvidersModule } from '../providers/providers.module';
import { TranscodeModule } from '../transcode/transcode.module';
import { ProviderResilienceService } from './provider-resilience.service';
import { TtsService } from './tts.service';

/** The synthesis pipeline (no transport): used by sessions, the stream gateway and the speech route. */
@Module({
  imports: [ProvidersModule, TranscodeModule],
  providers: [ProviderResilienceService, TtsService],
  exports: [TtsService, ProviderResilienceService, TranscodeModule, ProvidersModule],
})
export class TtsModule implements OnModuleInit {
  constructor(
    private readonly resilience: ProviderResilienceService,
    private readonly registry: ProviderRegistry,
  ) {}

  onModuleInit(): void {
    this.resilience.track(this.registry.ids());
  }
}
