import { Inject, Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { limitsConfig, type LimitsConfig } from '../config/configuration';
import { UsageService } from '../auth/usage.service';
import { METRIC } from '../metrics/metric-names';
import { StreamLeases } from '../state/stream-leases';
import type { SynthesisRoute } from './synthesis.types';

/** A held synthesis slot; release it exactly once (further calls are no-ops). */
export type SlotRelease = () => void;

/**
 * The one cap on concurrent syntheses of this replica, whatever the route (WebSocket stream, `/file`,
 * `/v1/audio/speech`, live contexts): MAX_CONCURRENT_STREAMS in all, MAX_STREAMS_PER_CLIENT per client, so
 * one client can neither take every slot nor start work that no cap counts. Past either cap the request is
 * refused at once with `too_many_streams` and `Retry-After` (never queued: queues hide overload): 503 (close
 * 4503) when this replica is full, 429 (close 4429) when the client is over its own limit.
 *
 * An API key's `max_concurrent_streams` is the key's across the whole gateway: with REDIS_URL, besides the
 * replica's own count, a stream of such a key holds one of the key's leases in Redis (`StreamLeases`), taken
 * by `acquireShared` (or `lease`, for callers that must take the local slot synchronously).
 */
@Injectable()
export class SynthesisSlots {
  private total = 0;
  private readonly perClient = new Map<string, number>();

  constructor(
    @Inject(limitsConfig.KEY) private readonly limits: LimitsConfig,
    @InjectMetric(METRIC.rateLimitedTotal) private readonly refused: Counter<string>,
    private readonly usage: UsageService,
    private readonly leases: StreamLeases,
  ) {}

  get active(): number {
    return this.total;
  }

  activeFor(client: string): number {
    return this.perClient.get(client) ?? 0;
  }

  /** Takes a slot for `client` or throws `too_many_streams` (per client: the key's limit, else MAX_STREAMS_PER_CLIENT). */
  acquire(client: string, route: SynthesisRoute): SlotRelease {
    const perClientLimit = this.usage.maxConcurrentStreams(client) ?? this.limits.maxStreamsPerClient;
    if (this.total >= this.limits.maxConcurrentStreams) {
      this.refused.inc({ route: `${route}_capacity` });
      throw new GatewayException(
        ErrorCode.TooManyStreams,
        `this gateway is running its maximum of ${this.limits.maxConcurrentStreams} syntheses (MAX_CONCURRENT_STREAMS); retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    const mine = this.activeFor(client);
    if (mine >= perClientLimit) {
      this.refused.inc({ route: `${route}_per_client` });
      throw new GatewayException(
        ErrorCode.TooManyStreams,
        `this client is already running ${mine} syntheses, its limit (MAX_STREAMS_PER_CLIENT or the key's max_concurrent_streams); finish or cancel one first`,
        // The caller's own limit, not the gateway's capacity: 429 (close 4429), like every per-client limit.
        { retryAfterSeconds: 1, status: 429 },
      );
    }
    this.total++;
    this.perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left <= 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
    };
  }

  /**
   * `acquire`, then, for a key whose `max_concurrent_streams` holds across replicas, one of its leases; both
   * are given back by the one release. Refused like `acquire` (429 `too_many_streams`) when the key's streams
   * on every replica together are at its limit.
   */
  async acquireShared(client: string, route: SynthesisRoute): Promise<SlotRelease> {
    const local = this.acquire(client, route);
    const shared = this.lease(client, route);
    if (!shared) return local;
    try {
      const remote = await shared;
      return () => {
        local();
        remote();
      };
    } catch (error) {
      local();
      throw error;
    }
  }

  /**
   * The cross-replica part of `acquireShared` alone, for a caller that took its local slot with `acquire`:
   * undefined when nothing is shared (no REDIS_URL, or a caller without a key limit).
   */
  lease(client: string, route: SynthesisRoute): Promise<SlotRelease> | undefined {
    const limit = this.usage.maxConcurrentStreams(client);
    if (limit === undefined || !this.leases.shared) return undefined;
    return this.leases.take(client, limit).then((release) => {
      if (release) return release;
      this.refused.inc({ route: `${route}_per_key` });
      throw new GatewayException(
        ErrorCode.TooManyStreams,
        `this key is already running ${limit} syntheses across the gateway's replicas, its max_concurrent_streams; finish or cancel one first`,
        { retryAfterSeconds: 1, status: 429 },
      );
    });
  }
}
