import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { SynthesisModule } from '../synthesis/synthesis.module';
import { VoicesModule } from '../voices/voices.module';
import { UsageStore } from '../state/counters';
import { LiveCharBudget, WindowedLiveCharBudget } from './char-budget';
import { liveConfig, type LiveConfig } from './live.config';
import { LiveGateway } from './live.gateway';
import { LIVE_METRIC_PROVIDERS } from './live.metrics';
import { LiveSettingsResolver } from './live-settings';

/**
 * Live text input for voice agents (`WS /v1/tts/live`): sentence buffering, per-context pipelines over the
 * synthesis path (`TtsService`, slots, runs), fair sending on one socket, word timings. Its settings are
 * the `live` namespace (LIVE_*); its metrics are declared here.
 */
@Module({
  imports: [ConfigModule.forFeature(liveConfig), SynthesisModule, VoicesModule],
  providers: [
    LiveGateway,
    LiveSettingsResolver,
    // The per-client character budget, on the shared counters (in process, or Redis with REDIS_URL).
    {
      provide: LiveCharBudget,
      inject: [UsageStore, liveConfig.KEY],
      useFactory: (store: UsageStore, config: LiveConfig) => new WindowedLiveCharBudget(store, config),
    },
    ...LIVE_METRIC_PROVIDERS,
  ],
  exports: [LiveGateway],
})
export class LiveModule {}
