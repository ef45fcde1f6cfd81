import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { METRIC } from '../metrics/metric-names';
import { UsageStore, type UsageField } from '../state/counters';
import { ApiKeysService } from './api-keys.service';
import { keyNameOf, type Caller } from './caller';

const MINUTE_MS = 60_000;

/**
 * Per-key accounting and the limits that are not request counts: characters per minute (counted like
 * session creation: in Redis with REDIS_URL), allowed providers and voices, the longest text; and usage
 * totals (sessions, characters, audio seconds, bytes) in metrics labelled with the key's *name*, in the
 * admin view and in the stream-end log line. Anonymous callers (no keys configured) are not accounted.
 */
@Injectable()
export class UsageService {
  constructor(
    private readonly store: UsageStore,
    private readonly keys: ApiKeysService,
    @InjectMetric(METRIC.keyUsageTotal) private readonly usageTotal: Counter<string>,
  ) {}

  /** Refuses what the caller's key does not allow, before any work: provider, voice, text length. */
  assertAllowed(caller: Caller, request: { provider: string; voice: string; textChars: number }): void {
    const limits = caller.key?.limits;
    if (!limits) return;
    if (limits.providers && !limits.providers.includes(request.provider)) {
      throw new GatewayException(
        ErrorCode.ProviderNotEnabled,
        `provider "${request.provider}" is not allowed for this API key; allowed: ${limits.providers.join(', ')}`,
        { field: 'provider', allowed: limits.providers },
      );
    }
    if (limits.voices && !limits.voices.includes(request.voice)) {
      throw new GatewayException(
        ErrorCode.VoiceNotFound,
        `voice "${request.voice}" is not allowed for this API key`,
        {
          field: 'voice',
          allowed: limits.voices,
        },
      );
    }
    if (limits.maxTextChars !== undefined && request.textChars > limits.maxTextChars) {
      throw GatewayException.invalidField(
        'text',
        `text is ${request.textChars} characters long; this API key allows ${limits.maxTextChars}`,
      );
    }
  }

  /** Counts `chars` against the key's characters per minute; past it 429 with Retry-After. */
  async spendCharacters(caller: Caller, chars: number): Promise<void> {
    const limit = caller.key?.limits.charsPerMinute;
    if (!caller.key || limit === undefined) return;
    const { total, resetMs } = await this.store.addToWindow(`chars:${caller.key.name}`, chars, MINUTE_MS);
    if (total > limit) {
      throw new GatewayException(
        ErrorCode.RateLimited,
        `this API key may synthesize ${limit} characters per minute; retry in ${Math.ceil(resetMs / 1000)} s`,
        { retryAfterSeconds: Math.max(1, Math.ceil(resetMs / 1000)) },
      );
    }
  }

  /** Records usage of a caller (by caller id: `key:<name>`; anonymous callers are skipped). */
  record(callerId: string, usage: Partial<Record<UsageField, number>>): void {
    const name = keyNameOf(callerId);
    if (!name) return;
    for (const [field, amount] of Object.entries(usage)) {
      if (amount) this.usageTotal.inc({ key: name, kind: field }, amount);
    }
    void this.store.addUsage(name, usage).catch(() => undefined);
  }

  /** The concurrent-stream limit of a caller id, when its key sets one. */
  maxConcurrentStreams(callerId: string): number | undefined {
    const name = keyNameOf(callerId);
    return name ? this.keys.limitsOf(name)?.maxConcurrentStreams : undefined;
  }

  usage() {
    return this.store.usage();
  }
}
