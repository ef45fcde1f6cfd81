import { Module, type DynamicModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { providersConfig, type ProvidersConfig } from '../config/configuration';
import { CoquiProvider } from './coqui/coqui.provider';
import { EspeakProvider } from './espeak/espeak.provider';
import { MockToneProvider } from './mock-tone/mock-tone.provider';
import { OpenAiProvider } from './openai/openai.provider';
import type { TtsProvider } from './provider.contract';
import { ProviderRegistry } from './provider.registry';
import { ProvidersModule } from './providers.module';
import { TTS_PROVIDERS } from './provider.tokens';

@Module({})
class ConfigStubModule {
  static with(config: ProvidersConfig): DynamicModule {
    return {
      module: ConfigStubModule,
      global: true,
      providers: [{ provide: providersConfig.KEY, useValue: config }],
      exports: [providersConfig.KEY],
    };
  }
}

const config = (overrides: Partial<ProvidersConfig> = {}): ProvidersConfig => ({
  enabled: undefined,
  defaultProvider: undefined,
  mockTone: { realtimeFactor: 0 },
  espeak: { binary: 'espeak-ng' },
  coqui: { baseUrl: undefined },
  openai: { baseUrl: undefined, apiKey: undefined, model: 'tts-1', voices: [] },
  ...overrides,
});

async function compile(overrides: Partial<ProvidersConfig> = {}) {
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigStubModule.with(config(overrides)), ProvidersModule],
  }).compile();
  return {
    providers: moduleRef.get<TtsProvider[]>(TTS_PROVIDERS),
    registry: moduleRef.get(ProviderRegistry),
  };
}

describe(ProvidersModule.name, () => {
  it('should enable mock_tone and espeak by default and pick espeak as the default when espeak-ng is installed', async () => {
    const { providers, registry } = await compile();
    expect(providers.map((p) => p.id)).toEqual(['mock_tone', 'espeak']);
    expect(providers[0]).toBeInstanceOf(MockToneProvider);
    expect(providers[1]).toBeInstanceOf(EspeakProvider);
    await expect(registry.defaultProviderId()).resolves.toBe('espeak');
  });

  it('should keep espeak enabled but fall back to mock_tone as default when the binary is missing', async () => {
    const { registry } = await compile({ espeak: { binary: '/nonexistent/espeak-ng' } });
    expect(registry.ids()).toEqual(['mock_tone', 'espeak']);
    await expect(registry.checkHealth('espeak')).resolves.toMatchObject({ up: false });
    await expect(registry.defaultProviderId()).resolves.toBe('mock_tone');
  });

  it('should register coqui and openai when their base URLs are configured', async () => {
    const { providers } = await compile({
      coqui: { baseUrl: 'http://127.0.0.1:1' },
      openai: { baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'k', model: 'tts-1', voices: [] },
    });
    expect(providers.map((p) => p.id)).toEqual(['mock_tone', 'espeak', 'coqui', 'openai']);
    expect(providers[2]).toBeInstanceOf(CoquiProvider);
    expect(providers[3]).toBeInstanceOf(OpenAiProvider);
  });
});
