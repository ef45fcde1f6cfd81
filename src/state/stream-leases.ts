import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { RedisService } from './redis.service';

/** Gives back one lease; calling it again does nothing. */
export type LeaseRelease = () => void;

/**
 * The syntheses a caller runs on every replica together, for limits that are the caller's own and not a
 * replica's: an API key's `max_concurrent_streams` holds for the whole gateway, however many replicas the
 * autoscaler runs. In one process the replica's own count is the whole count, so nothing is shared
 * (`shared` false); with REDIS_URL the leases live in Redis.
 */
export abstract class StreamLeases {
  /** Whether leases are counted across replicas; when false, callers count in process only. */
  abstract readonly shared: boolean;
  /**
   * Takes one of `limit` leases of `owner`: a release when one was free, undefined when all are held (on any
   * replica). Rejects with `state_unavailable` when the shared state cannot be reached.
   */
  abstract take(owner: string, limit: number): Promise<LeaseRelease | undefined>;
}

export class LocalStreamLeases extends StreamLeases {
  readonly shared = false;
  take(): Promise<LeaseRelease | undefined> {
    return Promise.resolve(() => undefined);
  }
}

/**
 * Leases as members of one sorted set per owner (`tts:streams:{key:alice}`), scored by when they expire.
 * Taking one is a script (drop the expired, count, add if below the limit), so two replicas never both take
 * the last one. Each replica renews the leases it holds every `ttlMs / 3`; a replica that dies stops renewing,
 * and its leases lapse within `ttlMs` — a crash never holds a caller's streams for ever. Expiry is compared
 * with the taking replica's clock: replicas whose clocks differ by more than `ttlMs / 3` could drop each
 * other's live leases early (NTP keeps them well within that).
 *
 * While Redis is unreachable, taking fails (`state_unavailable`, as creating a session does then) and
 * renewals fail: running streams go on, and their leases may lapse, so until Redis is back and renewals
 * resume other replicas may admit more than the limit for a while. Releasing is fire and forget: a release
 * that does not reach Redis lapses at its expiry.
 */
export class RedisStreamLeases extends StreamLeases implements OnApplicationShutdown {
  readonly shared = true;
  private readonly logger = new Logger('StreamLeases');
  /** Leases this replica holds: member → sorted-set key. */
  private readonly held = new Map<string, string>();
  private renewal: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(
    private readonly redis: RedisService,
    private readonly ttlMs: number,
  ) {
    super();
  }

  async take(owner: string, limit: number): Promise<LeaseRelease | undefined> {
    const key = leaseKey(owner);
    const member = `${this.redis.replicaId}:${++this.next}`;
    const now = Date.now();
    const taken = await this.redis.run('lease_take', (c) =>
      c.eval(TAKE_SCRIPT, {
        keys: [key],
        arguments: [String(now), String(limit), String(now + this.ttlMs), member, String(this.ttlMs)],
      }),
    );
    if (Number(taken) !== 1) return undefined;
    this.held.set(member, key);
    this.renewal ??= setInterval(() => void this.renew(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.renewal.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held.delete(member);
      if (this.held.size === 0) this.stopRenewing();
      this.redis.run('lease_release', (c) => c.zRem(key, member)).catch(() => undefined);
    };
  }

  onApplicationShutdown(): void {
    this.stopRenewing();
  }

  /** Moves every held lease's expiry forward, in one round trip. */
  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const expires = Date.now() + this.ttlMs;
    try {
      await this.redis.run('lease_renew', (c) => {
        const m = c.multi();
        for (const [member, key] of this.held) {
          // XX: a lease that was dropped (expired during an outage, or Redis lost it) is not taken again here.
          m.zAdd(key, { score: expires, value: member }, { condition: 'XX' });
          m.pExpire(key, this.ttlMs);
        }
        return m.execAsPipeline();
      });
    } catch (error) {
      this.logger.warn(
        `could not renew ${this.held.size} stream lease(s): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private stopRenewing(): void {
    clearInterval(this.renewal);
    this.renewal = undefined;
  }
}

function leaseKey(owner: string): string {
  return `tts:streams:{${owner}}`;
}

/** KEYS[1] the owner's set; ARGV: now, limit, expiry of the new lease, its member, the set's TTL (ms). */
const TAKE_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;
