import { Inject, Injectable, Logger } from '@nestjs/common';
import { providersConfig, type ProvidersConfig } from '../config/configuration';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { ProviderHealth, ProviderId, TtsProvider } from './provider.contract';
import { TTS_PROVIDERS } from './provider.tokens';

const HEALTH_TTL_MS = 5000;

/** Resolves enabled providers by id and caches their health for a few seconds. */
@Injectable()
export class ProviderRegistry {
  private readonly byId: ReadonlyMap<ProviderId, TtsProvider>;
  private readonly health = new Map<ProviderId, { at: number; value: Promise<ProviderHealth> }>();
  private readonly lastUp = new Map<ProviderId, boolean>();
  private readonly logger = new Logger(ProviderRegistry.name);

  constructor(
    @Inject(TTS_PROVIDERS) providers: TtsProvider[],
    @Inject(providersConfig.KEY) private readonly config: ProvidersConfig,
  ) {
    this.byId = new Map(providers.map((p) => [p.id, p]));
  }

  ids(): ProviderId[] {
    return [...this.byId.keys()];
  }

  all(): TtsProvider[] {
    return [...this.byId.values()];
  }

  has(id: string): id is ProviderId {
    return this.byId.has(id as ProviderId);
  }

  /** The provider, or a 400 naming the enabled ones. */
  get(id: string, field = 'provider'): TtsProvider {
    const provider = this.byId.get(id as ProviderId);
    if (!provider) {
      throw new GatewayException(
        ErrorCode.ProviderNotEnabled,
        `${field} "${id}" is not an enabled provider; enabled providers: ${this.ids().join(', ')}`,
        { field, allowed: this.ids() },
      );
    }
    return provider;
  }

  /**
   * Health, cached for HEALTH_TTL_MS so probes and session creation do not hammer remote engines. The
   * reason is for the public (readiness, voice list, provider list): engine URLs, hosts and addresses are
   * replaced, and the full reason goes to the log when the state changes.
   */
  checkHealth(id: ProviderId): Promise<ProviderHealth> {
    const cached = this.health.get(id);
    if (cached && performance.now() - cached.at < HEALTH_TTL_MS) return cached.value;
    const value = this.get(id)
      .checkHealth(AbortSignal.timeout(3000))
      .catch((error: unknown): ProviderHealth => ({ up: false, reason: errorMessage(error) }))
      .then((health) => {
        const wasUp = this.lastUp.get(id);
        if (wasUp !== health.up) {
          this.lastUp.set(id, health.up);
          if (!health.up) this.logger.warn(`provider ${id} is down: ${health.reason ?? 'no reason given'}`);
          else if (wasUp === false) this.logger.log(`provider ${id} is up again`);
        }
        return health.up ? health : { up: false, reason: publicReason(health.reason) };
      });
    this.health.set(id, { at: performance.now(), value });
    return value;
  }

  /**
   * The provider used when a request names none: `DEFAULT_PROVIDER`, else the first enabled real voice
   * that is up, else `mock_tone` (else whatever is enabled first).
   */
  async defaultProviderId(allowed?: readonly string[]): Promise<ProviderId> {
    const ok = (id: ProviderId) => !allowed || allowed.includes(id);
    if (
      this.config.defaultProvider &&
      this.byId.has(this.config.defaultProvider) &&
      ok(this.config.defaultProvider)
    ) {
      return this.config.defaultProvider;
    }
    for (const id of this.ids()) {
      if (id !== 'mock_tone' && ok(id) && (await this.checkHealth(id)).up) return id;
    }
    if (this.byId.has('mock_tone') && ok('mock_tone')) return 'mock_tone';
    // A key restricted to providers none of which is up: its first allowed one (the error will say why).
    return this.ids().find(ok) ?? this.ids()[0];
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A down reason fit for unauthenticated readers: URLs, IP addresses, `host:port` pairs and file paths are
 * replaced (`connect ECONNREFUSED 10.1.2.3:5002` → `connect ECONNREFUSED (address)`); the log has the original.
 */
export function publicReason(reason: string | undefined): string {
  if (!reason) return 'health check failed';
  return reason
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)'"]+/gi, '(url)')
    .replace(/\[[0-9a-f:.]+\](:\d+)?/gi, '(address)')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, '(address)')
    .replace(/\b[a-z0-9-]+(\.[a-z0-9-]+)*:\d{2,5}\b/gi, '(address)')
    .replace(/(^|\s)\/[\w./-]+/g, '$1(path)')
    .slice(0, 300);
}
