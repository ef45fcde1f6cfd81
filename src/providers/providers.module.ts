import { Module } from '@nestjs/common';
import { providersConfig, type ProvidersConfig } from '../config/configuration';
import { CoquiProvider } from './coqui/coqui.provider';
import { EspeakProvider } from './espeak/espeak.provider';
import { MockToneProvider } from './mock-tone/mock-tone.provider';
import { OpenAiProvider } from './openai/openai.provider';
import type { TtsProvider } from './provider.contract';
import { ProviderRegistry } from './provider.registry';
import { selectEnabledProviders } from './provider-selection';
import { TTS_PROVIDERS } from './provider.tokens';

/**
 * Every engine class is a normal Nest provider; the factory below gathers the enabled ones under
 * `TTS_PROVIDERS`. To add an engine: implement `TtsProvider` in its own folder, list the class in
 * `ENGINE_CLASSES`, and teach `enabledProviderIds` when it counts as configured.
 */
const ENGINE_CLASSES = [MockToneProvider, EspeakProvider, CoquiProvider, OpenAiProvider] as const;

@Module({
  providers: [
    ...ENGINE_CLASSES,
    {
      provide: TTS_PROVIDERS,
      inject: [providersConfig.KEY, ...ENGINE_CLASSES],
      useFactory: (config: ProvidersConfig, ...engines: TtsProvider[]) =>
        selectEnabledProviders(config, engines),
    },
    ProviderRegistry,
  ],
  exports: [ProviderRegistry, TTS_PROVIDERS],
})
export class ProvidersModule {}
