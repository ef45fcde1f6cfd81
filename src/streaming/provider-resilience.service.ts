import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
} from 'cockatiel';
import type { Counter, Gauge } from 'prom-client';
import { streamingConfig, type StreamingConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import {
  ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  type AudioChunk,
  type ProviderId,
  type SynthesisRequest,
  type TtsProvider,
} from '../providers/provider.contract';

/** Consecutive failed stream starts that open a provider's circuit (Envoy's consecutive_5xx default). */
const BREAKER_THRESHOLD = 5;
/** How long an open circuit refuses before one probe is let through. */
const HALF_OPEN_AFTER_MS = 10_000;

/**
 * Timeouts and a circuit breaker per provider around a synthesis stream, built on cockatiel.
 *
 * - The first chunk must arrive within PROVIDER_FIRST_AUDIO_TIMEOUT_MS, and each later one within
 *   PROVIDER_IDLE_TIMEOUT_MS; otherwise the engine call is aborted and a ProviderTimeoutError raised.
 * - Only the stream start (up to the first chunk) runs through the breaker: that is the moment a request is
 *   "sent" to the engine, and a half-open breaker must not refuse chunks of streams already running.
 * - Retries and failover happen one level up (TtsService) and only before the first audio leaves, because
 *   after that a retry would repeat or change the voice mid-utterance.
 */
@Injectable()
export class ProviderResilienceService {
  private readonly logger = new Logger(ProviderResilienceService.name);
  private readonly breakers = new Map<ProviderId, { policy: CircuitBreakerPolicy; openedAt: number }>();

  constructor(
    @Inject(streamingConfig.KEY) private readonly config: StreamingConfig,
    @InjectMetric(METRIC.providerRequestsTotal) private readonly requests: Counter<string>,
    @InjectMetric(METRIC.providerCircuitState) private readonly circuitState: Gauge<string>,
  ) {}

  /** Seconds until a refused provider may be tried again, or undefined when its circuit is not open. */
  retryAfterSeconds(providerId: ProviderId): number | undefined {
    const entry = this.breakers.get(providerId);
    if (!entry || entry.policy.state !== CircuitState.Open) return undefined;
    const remaining = HALF_OPEN_AFTER_MS - (performance.now() - entry.openedAt);
    // Past the half-open time the next call is the probe, so it is not refused up front.
    return remaining > 0 ? Math.max(1, Math.ceil(remaining / 1000)) : undefined;
  }

  /** Initializes the circuit gauge for every provider, so dashboards see 0 before the first failure. */
  track(providerIds: readonly ProviderId[]): void {
    for (const id of providerIds) this.breaker(id);
  }

  async *stream(
    provider: TtsProvider,
    request: SynthesisRequest,
    signal: AbortSignal,
  ): AsyncGenerator<AudioChunk> {
    const engineCall = new AbortController();
    const stop = () => engineCall.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const iterator = provider.synthesize(request, engineCall.signal)[Symbol.asyncIterator]();
    let outcome = 'success';
    try {
      const first = await this.breaker(provider.id)
        .policy.execute(() =>
          this.nextWithin(provider.id, iterator, this.config.firstAudioTimeoutMs, engineCall),
        )
        .catch((error: unknown) => {
          if (error instanceof BrokenCircuitError) {
            outcome = 'rejected';
            throw new ProviderUnavailableError(provider.id, this.retryAfterSeconds(provider.id) ?? 1);
          }
          throw error;
        });
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await this.nextWithin(provider.id, iterator, this.config.idleTimeoutMs, engineCall);
        if (next.done) return;
        yield next.value;
      }
    } catch (error) {
      if (outcome !== 'rejected') {
        outcome = signal.aborted ? 'cancelled' : error instanceof ProviderTimeoutError ? 'timeout' : 'error';
      }
      throw signal.aborted ? signal.reason : error;
    } finally {
      signal.removeEventListener('abort', stop);
      engineCall.abort();
      // Let the engine release processes and sockets; its own errors on the way out are not ours to raise.
      await iterator.return?.().catch(() => undefined);
      this.requests.inc({ provider: provider.id, outcome });
    }
  }

  private async nextWithin(
    providerId: ProviderId,
    iterator: AsyncIterator<AudioChunk>,
    ms: number,
    engineCall: AbortController,
  ): Promise<IteratorResult<AudioChunk>> {
    try {
      return await timeout(ms, TimeoutStrategy.Aggressive).execute(() => iterator.next());
    } catch (error) {
      if (error instanceof TaskCancelledError && !engineCall.signal.aborted) {
        engineCall.abort(
          new ProviderTimeoutError(providerId, `no audio from "${providerId}" within ${ms} ms`),
        );
        throw new ProviderTimeoutError(providerId, `provider "${providerId}" sent no audio within ${ms} ms`);
      }
      if (error instanceof ProviderError) throw error;
      if (engineCall.signal.aborted) throw error;
      throw new ProviderError(providerId, `provider "${providerId}" failed: ${messageOf(error)}`, true, {
        cause: error,
      });
    }
  }

  private breaker(providerId: ProviderId) {
    let entry = this.breakers.get(providerId);
    if (entry) return entry;
    // Only engine failures count; a client that cancels is not the provider's fault.
    const policy = circuitBreaker(
      handleWhen((e) => e instanceof ProviderError && e.retryable),
      { halfOpenAfter: HALF_OPEN_AFTER_MS, breaker: new ConsecutiveBreaker(BREAKER_THRESHOLD) },
    );
    const created = { policy, openedAt: 0 };
    policy.onBreak(() => {
      created.openedAt = performance.now();
      this.logger.warn(`circuit for provider ${providerId} opened after ${BREAKER_THRESHOLD} failures`);
    });
    policy.onStateChange((state) => this.circuitState.set({ provider: providerId }, gaugeValue(state)));
    this.circuitState.set({ provider: providerId }, 0);
    entry = created;
    this.breakers.set(providerId, entry);
    return entry;
  }
}

function gaugeValue(state: CircuitState): number {
  switch (state) {
    case CircuitState.Closed:
      return 0;
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 1;
    case CircuitState.HalfOpen:
      return 2;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
