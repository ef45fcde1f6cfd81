import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import {
  BrokenCircuitError,
  BulkheadPolicy,
  BulkheadRejectedError,
  bulkhead,
  circuitBreaker,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
} from 'cockatiel';
import type { Counter, Gauge } from 'prom-client';
import { sleep } from '../common/abort';
import { resilienceConfig, type ProviderPolicy, type ResilienceConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import {
  ProviderBusyError,
  ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  type AudioChunk,
  type ProviderId,
  type SynthesisRequest,
  type TtsProvider,
} from '../providers/provider.contract';
import { CircuitSync } from '../state/control';
import { ChunkDeadline } from './chunk-deadline';
import { FailureGate } from './failure-gate';
import type { SynthesisSource } from './synthesis.types';

export type CircuitStatus = 'closed' | 'open' | 'half_open';

/** Short upstream `Retry-After`s waited out per call before giving up on the provider. */
const MAX_RETRY_AFTER_WAITS = 2;

export interface ProviderLoad {
  circuit: CircuitStatus;
  /** Seconds until an open circuit lets a probe through (or an upstream 429 cool-down ends). */
  retryAfterSeconds?: number;
  inFlight: number;
  queued: number;
}

/** Everything kept per provider: its policy, breaker, failure gate, bulkhead and counters. */
interface ProviderGuard {
  readonly id: ProviderId;
  readonly policy: ProviderPolicy;
  readonly breaker: CircuitBreakerPolicy;
  readonly gate: FailureGate;
  readonly bulkhead: BulkheadPolicy | undefined;
  openedAt: number;
  /** performance.now() until which an upstream 429 with a long Retry-After asked us to stay away. */
  coolDownUntil: number;
  /** Epoch ms until which another replica reported this provider's circuit open. */
  remoteOpenUntil: number;
  inFlight: number;
}

/**
 * Timeouts, retries, a circuit breaker and a bulkhead per provider around a synthesis stream, built on
 * cockatiel; every number comes from the provider's policy (PROVIDER_* and PROVIDER_<ID>_* settings).
 *
 * - **Bulkhead**: at most `concurrency` streams run on the engine, `queue` more wait; past that the call
 *   fails at once with `provider_busy` (engines such as a single Coqui process serve one at a time). The
 *   slot is held for the whole stream, not just its start.
 * - **Timeouts**: the first chunk within the first-audio timeout, each later one within the idle timeout;
 *   otherwise the engine call is aborted and a ProviderTimeoutError raised.
 * - **Retries** (before the first chunk only, with exponential backoff and jitter): a retry after audio
 *   left would repeat words. An upstream 429 whose Retry-After fits `retryAfterMaxWaitMs` is waited out;
 *   a longer one puts the provider in a cool-down (callers fail over) without opening the circuit.
 * - **Breaker**: consecutive failures open it for `halfOpenMs`. Failures pass a `FailureGate` first, so one
 *   client or one text that makes the engine fail every time cannot open the circuit for everyone.
 *   Mid-stream failures count too (a stream that stalls or breaks is the engine failing).
 */
@Injectable()
export class ProviderResilienceService {
  private readonly logger = new Logger(ProviderResilienceService.name);
  private readonly guards = new Map<ProviderId, ProviderGuard>();

  constructor(
    @Inject(resilienceConfig.KEY) private readonly config: ResilienceConfig,
    @InjectMetric(METRIC.providerRequestsTotal) private readonly requests: Counter<string>,
    @InjectMetric(METRIC.providerCircuitState) private readonly circuitState: Gauge<string>,
    private readonly circuits: CircuitSync,
  ) {
    // Several replicas: a circuit another replica opened is honoured here too, until it closes there.
    circuits.onRemote((provider, open, until) => {
      const guard = this.guards.get(provider);
      if (!guard) return;
      guard.remoteOpenUntil = open ? until : 0;
      this.circuitState.set({ provider }, gaugeValue(effectiveStateOf(guard)));
    });
  }

  policyOf(providerId: ProviderId): ProviderPolicy {
    return this.config.policies[providerId];
  }

  /** Seconds until a refused provider may be tried again, or undefined when nothing refuses it now. */
  retryAfterSeconds(providerId: ProviderId): number | undefined {
    const guard = this.guard(providerId);
    const now = performance.now();
    const coolDown = Math.max(
      guard.coolDownUntil > now ? (guard.coolDownUntil - now) / 1000 : 0,
      guard.remoteOpenUntil > Date.now() ? (guard.remoteOpenUntil - Date.now()) / 1000 : 0,
    );
    let open = 0;
    if (guard.breaker.state === CircuitState.Open || guard.breaker.state === CircuitState.Isolated) {
      // Past the half-open time the next call is the probe, so it is not refused up front.
      open = Math.max(0, (guard.policy.halfOpenMs - (now - guard.openedAt)) / 1000);
    }
    const seconds = Math.max(coolDown, open);
    return seconds > 0 ? Math.max(1, Math.ceil(seconds)) : undefined;
  }

  load(providerId: ProviderId): ProviderLoad {
    const guard = this.guard(providerId);
    const retryAfter = this.retryAfterSeconds(providerId);
    const queued = guard.bulkhead ? guard.policy.queue - guard.bulkhead.queueSlots : 0;
    // cockatiel moves an open breaker to half-open only when the next call arrives; once the half-open time
    // has passed, that next call is the probe, so it is reported as half-open already.
    const probeDue =
      guard.breaker.state === CircuitState.Open &&
      performance.now() - guard.openedAt >= guard.policy.halfOpenMs;
    return {
      circuit: probeDue ? 'half_open' : circuitStatus(effectiveStateOf(guard)),
      ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
      inFlight: guard.inFlight,
      queued,
    };
  }

  /**
   * Initializes the circuit gauge for every provider, so dashboards see 0 before the first failure, and
   * picks up circuits another replica holds open.
   */
  async track(providerIds: readonly ProviderId[]): Promise<void> {
    for (const id of providerIds) this.guard(id);
    // Redis may not be connected yet when the gateway starts (or may come back later): read again then.
    this.circuits.onConnected(() => void this.readRemoteCircuits(providerIds));
    await this.readRemoteCircuits(providerIds);
  }

  private async readRemoteCircuits(providerIds: readonly ProviderId[]): Promise<void> {
    for (const id of providerIds) {
      const guard = this.guard(id);
      const until = await this.circuits.current(id).catch(() => undefined);
      if (until && until > guard.remoteOpenUntil) {
        guard.remoteOpenUntil = until;
        this.circuitState.set({ provider: id }, gaugeValue(effectiveStateOf(guard)));
      }
    }
  }

  async *stream(
    provider: TtsProvider,
    request: SynthesisRequest,
    signal: AbortSignal,
    source: SynthesisSource,
  ): AsyncGenerator<AudioChunk> {
    const guard = this.guard(provider.id);
    const coolDown = this.retryAfterSeconds(provider.id);
    if (coolDown !== undefined && guard.coolDownUntil > performance.now()) {
      this.requests.inc({ provider: provider.id, outcome: 'rejected' });
      throw new ProviderUnavailableError(provider.id, coolDown, 'the engine asked to wait (HTTP 429)');
    }
    if (guard.remoteOpenUntil > Date.now() && guard.breaker.state === CircuitState.Closed) {
      this.requests.inc({ provider: provider.id, outcome: 'rejected' });
      throw new ProviderUnavailableError(provider.id, coolDown ?? 1, 'circuit opened by another replica');
    }
    let release: () => void;
    try {
      release = await this.acquireSlot(guard, signal);
    } catch (error) {
      // Refused by the bulkhead (or cancelled while queued): no engine call, still a provider request.
      const outcome = signal.aborted ? 'cancelled' : error instanceof ProviderBusyError ? 'busy' : 'error';
      this.requests.inc({ provider: provider.id, outcome });
      throw error;
    }
    guard.inFlight++;
    let outcome = 'success';
    try {
      let backoff: IBackoff<unknown> | undefined;
      let retries = 0;
      let waits = 0;
      for (;;) {
        let produced = false;
        try {
          for await (const chunk of this.attempt(guard, provider, request, signal, source)) {
            produced = true;
            yield chunk;
          }
          return;
        } catch (error) {
          if (
            signal.aborted ||
            produced ||
            !(error instanceof ProviderError) ||
            !error.retryable ||
            error instanceof ProviderUnavailableError ||
            error instanceof ProviderBusyError
          ) {
            throw error;
          }
          if (error.kind === 'rate_limited') {
            // The engine says when to come back: wait if that is soon (at most twice), else cool down so
            // that callers fail over, without counting it against the circuit.
            const waitMs = (error.retryAfterSeconds ?? 1) * 1000;
            if (waitMs > guard.policy.retryAfterMaxWaitMs || waits >= MAX_RETRY_AFTER_WAITS) {
              guard.coolDownUntil = performance.now() + waitMs;
              throw error;
            }
            waits++;
            await sleep(waitMs, signal);
            continue;
          }
          if (retries >= guard.policy.retries) throw error;
          retries++;
          backoff = backoff ? backoff.next(undefined) : this.backoffFor(guard).next();
          await sleep(backoff.duration, signal);
        }
      }
    } catch (error) {
      outcome = signal.aborted
        ? 'cancelled'
        : error instanceof ProviderUnavailableError
          ? 'rejected'
          : error instanceof ProviderTimeoutError
            ? 'timeout'
            : 'error';
      throw signal.aborted ? signal.reason : error;
    } finally {
      guard.inFlight--;
      release();
      this.requests.inc({ provider: provider.id, outcome });
    }
  }

  /** One engine call: the start through the breaker, then chunks with the idle timeout. */
  private async *attempt(
    guard: ProviderGuard,
    provider: TtsProvider,
    request: SynthesisRequest,
    signal: AbortSignal,
    source: SynthesisSource,
  ): AsyncGenerator<AudioChunk> {
    const engineCall = new AbortController();
    const stop = () => engineCall.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const iterator = provider.synthesize(request, engineCall.signal)[Symbol.asyncIterator]();
    const deadline = new ChunkDeadline(iterator, (ms) => this.timedOut(provider.id, ms, engineCall));
    try {
      const first = await guard.breaker
        .execute(() =>
          this.attributed(
            source,
            this.nextWithin(provider.id, deadline, guard.policy.firstAudioTimeoutMs, engineCall),
          ),
        )
        .catch((error: unknown) => {
          if (error instanceof BrokenCircuitError)
            throw new ProviderUnavailableError(provider.id, this.retryAfterSeconds(provider.id) ?? 1);
          throw unattributed(error);
        });
      if (first.done) return;
      yield first.value;
      for (;;) {
        let next: IteratorResult<AudioChunk>;
        try {
          next = await this.nextWithin(provider.id, deadline, guard.policy.idleTimeoutMs, engineCall);
        } catch (error) {
          if (!signal.aborted) await this.recordFailure(guard, source, error);
          throw error;
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      deadline.dispose();
      signal.removeEventListener('abort', stop);
      engineCall.abort();
      // Let the engine release processes and sockets; its own errors on the way out are not ours to raise.
      await iterator.return?.().catch(() => undefined);
    }
  }

  /** Counts a failure that happened after the stream started (stall, reset, garbage) in the breaker. */
  private async recordFailure(guard: ProviderGuard, source: SynthesisSource, error: unknown): Promise<void> {
    await guard.breaker
      .execute(() => this.attributed(source, Promise.reject(asError(error))))
      .catch(() => undefined);
  }

  /** Tags an error with its source, so the breaker's filter can pass it through the failure gate. */
  private attributed<T>(source: SynthesisSource, work: Promise<T>): Promise<T> {
    return work.catch((error: unknown) => {
      throw new AttributedFailure(error, source);
    });
  }

  private async nextWithin(
    providerId: ProviderId,
    deadline: ChunkDeadline<AudioChunk>,
    ms: number,
    engineCall: AbortController,
  ): Promise<IteratorResult<AudioChunk>> {
    try {
      return await deadline.next(ms);
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (engineCall.signal.aborted) throw error;
      throw new ProviderError(providerId, `provider "${providerId}" failed: ${messageOf(error)}`, true, {
        cause: error,
      });
    }
  }

  /** A chunk that did not come in time: the engine call is abandoned and the wait fails with a timeout. */
  private timedOut(providerId: ProviderId, ms: number, engineCall: AbortController): Error {
    // The client left first: its reason ends the call, not a timeout of the engine.
    if (engineCall.signal.aborted) return asError(engineCall.signal.reason);
    engineCall.abort(new ProviderTimeoutError(providerId, `no audio from "${providerId}" within ${ms} ms`));
    return new ProviderTimeoutError(
      providerId,
      `provider "${providerId}" sent no audio within ${ms} ms`,
      `sent no audio within ${ms} ms`,
    );
  }

  private acquireSlot(guard: ProviderGuard, signal: AbortSignal): Promise<() => void> {
    const slots = guard.bulkhead;
    if (!slots) return Promise.resolve(() => undefined);
    return new Promise((resolve, reject) => {
      slots
        .execute(
          () =>
            // The slot is held until the stream releases it, not just for this callback.
            new Promise<void>((done) => {
              if (signal.aborted) done();
              else resolve(done);
            }),
          signal,
        )
        .catch((error: unknown) => {
          if (error instanceof BulkheadRejectedError)
            reject(new ProviderBusyError(guard.id, guard.policy.concurrency ?? 0, guard.policy.queue));
          else reject(asError(signal.aborted ? signal.reason : error));
        });
      signal.addEventListener('abort', () => reject(asError(signal.reason)), { once: true });
    });
  }

  private backoffFor(guard: ProviderGuard): ExponentialBackoff<unknown> {
    return new ExponentialBackoff({
      initialDelay: guard.policy.retryBackoffMs,
      maxDelay: guard.policy.retryBackoffMs * 16,
    });
  }

  private guard(providerId: ProviderId): ProviderGuard {
    const existing = this.guards.get(providerId);
    if (existing) return existing;
    const policy = this.config.policies[providerId];
    const gate = new FailureGate(policy.breakerThreshold);
    // Only engine failures that pass the gate count; a client that cancels is not the engine's fault, and
    // an upstream 429 is the engine asking us to slow down.
    const breaker = circuitBreaker(
      handleWhen((e) => {
        if (!(e instanceof AttributedFailure)) return false;
        const cause = e.cause;
        if (!(cause instanceof ProviderError) || !cause.retryable || cause.kind === 'rate_limited')
          return false;
        return gate.admit(e.source, cause.kind);
      }),
      { halfOpenAfter: policy.halfOpenMs, breaker: new ConsecutiveBreaker(policy.breakerThreshold) },
    );
    const guard: ProviderGuard = {
      id: providerId,
      policy,
      breaker,
      gate,
      bulkhead: policy.concurrency !== undefined ? bulkhead(policy.concurrency, policy.queue) : undefined,
      openedAt: 0,
      coolDownUntil: 0,
      remoteOpenUntil: 0,
      inFlight: 0,
    };
    breaker.onBreak(() => {
      guard.openedAt = performance.now();
      this.circuits.announce(providerId, true, Date.now() + policy.halfOpenMs);
      this.logger.warn(
        `circuit for provider ${providerId} opened after ${policy.breakerThreshold} failures (${gate.describe()})`,
      );
    });
    breaker.onSuccess(() => gate.reset());
    breaker.onStateChange((state) => {
      if (state !== CircuitState.HalfOpen) gate.reset();
      if (state === CircuitState.Closed) this.circuits.announce(providerId, false, 0);
      this.circuitState.set({ provider: providerId }, gaugeValue(effectiveStateOf(guard)));
    });
    this.circuitState.set({ provider: providerId }, 0);
    this.guards.set(providerId, guard);
    return guard;
  }
}

/** Local state, or open while another replica holds the circuit open. */
function effectiveStateOf(guard: ProviderGuard): CircuitState {
  if (guard.breaker.state === CircuitState.Closed && guard.remoteOpenUntil > Date.now())
    return CircuitState.Open;
  return guard.breaker.state;
}

/** Carries a failure and who caused it through the breaker; unwrapped before it leaves this service. */
class AttributedFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly source: SynthesisSource,
  ) {
    super('attributed failure');
  }
}

function unattributed(error: unknown): unknown {
  return error instanceof AttributedFailure ? error.cause : error;
}

function circuitStatus(state: CircuitState): CircuitStatus {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
    case CircuitState.Isolated:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half_open';
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

/** Rejections carry Errors; abort reasons and thrown values are Errors in practice, this only types it. */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
