import { PROVIDER_IDS, type ProviderId, type TtsProvider } from './provider.contract';
import type { ProvidersConfig } from '../config/configuration';

/**
 * Which providers run, decided at start from configuration (never at import time):
 * - `PROVIDERS` set: exactly those; one that lacks its settings stops the process with a clear message.
 * - unset: the built-ins (`mock_tone`, `espeak`) plus every remote engine whose base URL is configured.
 *   A built-in whose system dependency is missing (no espeak-ng binary) stays enabled and reports itself
 *   down in /readyz and /v1/voices, so the reason is visible instead of the provider silently vanishing.
 */
export function enabledProviderIds(config: ProvidersConfig): ProviderId[] {
  const configured = (id: ProviderId): string | undefined => {
    switch (id) {
      case 'mock_tone':
      case 'espeak':
        return undefined;
      case 'coqui':
        return config.coqui.baseUrl ? undefined : 'COQUI_BASE_URL is not set';
      case 'openai':
        return config.openai.baseUrl ? undefined : 'OPENAI_TTS_BASE_URL is not set';
    }
  };

  if (!config.enabled) {
    const defaults = PROVIDER_IDS.filter((id) => configured(id) === undefined);
    const wanted = config.defaultProvider;
    if (wanted && !defaults.includes(wanted)) {
      throw new Error(
        `Invalid provider configuration: DEFAULT_PROVIDER "${wanted}" cannot be used because ${configured(wanted) ?? 'it is not enabled'}`,
      );
    }
    return defaults;
  }

  const problems = config.enabled
    .map((id) => [id, configured(id)] as const)
    .filter(([, problem]) => problem !== undefined)
    .map(([id, problem]) => `provider "${id}" is listed in PROVIDERS but ${problem}`);
  if (problems.length > 0) throw new Error(`Invalid provider configuration: ${problems.join('; ')}`);
  if (config.defaultProvider && !config.enabled.includes(config.defaultProvider)) {
    throw new Error(
      `Invalid provider configuration: DEFAULT_PROVIDER "${config.defaultProvider}" is not in PROVIDERS (${config.enabled.join(', ')})`,
    );
  }
  return [...new Set(config.enabled)];
}

export function selectEnabledProviders(config: ProvidersConfig, all: readonly TtsProvider[]): TtsProvider[] {
  const ids = enabledProviderIds(config);
  // By default, only engines this build implements; an explicit PROVIDERS list must be satisfied exactly.
  const wanted = config.enabled ? ids : ids.filter((id) => all.some((p) => p.id === id));
  return wanted.map((id) => {
    const provider = all.find((p) => p.id === id);
    if (!provider) throw new Error(`No implementation registered for provider "${id}"`);
    return provider;
  });
}
