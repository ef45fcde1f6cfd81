import type { ProvidersConfig } from '../config/configuration';
import type { TtsProvider } from './provider.contract';
import { enabledProviderIds, selectEnabledProviders } from './provider-selection';

const config = (overrides: Partial<ProvidersConfig> = {}): ProvidersConfig => ({
  enabled: undefined,
  defaultProvider: undefined,
  mockTone: { realtimeFactor: 0 },
  espeak: { binary: 'espeak-ng' },
  coqui: { baseUrl: undefined },
  openai: { baseUrl: undefined, apiKey: undefined, model: 'tts-1', voices: [] },
  ...overrides,
});

const fake = (id: TtsProvider['id']) => ({ id }) as TtsProvider;

describe('provider selection', () => {
  it('should enable the built-ins and only the remote engines that are configured by default', () => {
    expect(enabledProviderIds(config())).toEqual(['mock_tone', 'espeak']);
    expect(enabledProviderIds(config({ coqui: { baseUrl: 'http://coqui:5002' } }))).toEqual([
      'mock_tone',
      'espeak',
      'coqui',
    ]);
  });

  it('should enable exactly PROVIDERS when it is set', () => {
    expect(enabledProviderIds(config({ enabled: ['espeak'] }))).toEqual(['espeak']);
  });

  it('should refuse PROVIDERS naming an engine without its settings', () => {
    expect(() => enabledProviderIds(config({ enabled: ['openai'] }))).toThrow(/OPENAI_TTS_BASE_URL/);
  });

  it('should refuse a DEFAULT_PROVIDER outside PROVIDERS', () => {
    expect(() => enabledProviderIds(config({ enabled: ['mock_tone'], defaultProvider: 'espeak' }))).toThrow(
      /DEFAULT_PROVIDER/,
    );
  });

  it('should return the instances in order and fail for an explicitly enabled engine with no implementation', () => {
    const all = [fake('espeak'), fake('mock_tone')];
    expect(selectEnabledProviders(config(), all).map((p) => p.id)).toEqual(['mock_tone', 'espeak']);
    expect(() =>
      selectEnabledProviders(config({ enabled: ['mock_tone', 'espeak'] }), [fake('mock_tone')]),
    ).toThrow(/espeak/);
  });
});
