import type { ProviderId } from '../providers/provider.contract';
import type { RedisService } from './redis.service';

/**
 * Messages about one session stream that must reach whichever replica produces or reads it: a cancel
 * (DELETE or a cancel message on another replica) and a takeover (a resume elsewhere supersedes the old
 * reader). In one process nothing has to travel; with Redis they go over the control channel.
 */
export abstract class StreamControl {
  abstract requestCancel(sessionId: string, message: string): Promise<void>;
  abstract announceReader(sessionId: string): Promise<void>;
  abstract onCancel(listener: (sessionId: string, message: string) => void): void;
  abstract onTakeover(listener: (sessionId: string) => void): void;
}

/** A provider's circuit, shared so that one replica's open circuit is known to the others within a second. */
export abstract class CircuitSync {
  /** This replica's circuit for `provider` opened (until `untilEpochMs`) or closed. */
  abstract announce(provider: ProviderId, open: boolean, untilEpochMs: number): void;
  abstract onRemote(listener: (provider: ProviderId, open: boolean, untilEpochMs: number) => void): void;
  /** Until when another replica last declared the circuit open (on start-up), if it still is. */
  abstract current(provider: ProviderId): Promise<number | undefined>;
  /** Shared state became reachable (first connect, reconnect): `current` may know more than before. */
  abstract onConnected(listener: () => void): void;
}

export class LocalStreamControl extends StreamControl {
  requestCancel(): Promise<void> {
    return Promise.resolve();
  }
  announceReader(): Promise<void> {
    return Promise.resolve();
  }
  onCancel(): void {}
  onTakeover(): void {}
}

export class LocalCircuitSync extends CircuitSync {
  announce(): void {}
  onRemote(): void {}
  current(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
  onConnected(): void {}
}

export class RedisStreamControl extends StreamControl {
  constructor(private readonly redis: RedisService) {
    super();
  }
  requestCancel(sessionId: string, message: string): Promise<void> {
    return this.redis.publish({ t: 'cancel', s: sessionId, message });
  }
  announceReader(sessionId: string): Promise<void> {
    return this.redis.publish({ t: 'takeover', s: sessionId });
  }
  onCancel(listener: (sessionId: string, message: string) => void): void {
    this.redis.onControl((m) => m.t === 'cancel' && listener(m.s, m.message));
  }
  onTakeover(listener: (sessionId: string) => void): void {
    this.redis.onControl((m) => m.t === 'takeover' && listener(m.s));
  }
}

export class RedisCircuitSync extends CircuitSync {
  constructor(private readonly redis: RedisService) {
    super();
  }
  announce(provider: ProviderId, open: boolean, untilEpochMs: number): void {
    const key = `tts:circuit:{${provider}}`;
    void this.redis.publish({ t: 'circuit', p: provider, open, until: untilEpochMs }).catch(() => undefined);
    void this.redis
      .run('circuit_state', async (c) => {
        if (open) await c.set(key, String(untilEpochMs), { PXAT: untilEpochMs });
        else await c.del(key);
      })
      .catch(() => undefined);
  }
  onRemote(listener: (provider: ProviderId, open: boolean, untilEpochMs: number) => void): void {
    this.redis.onControl((m) => m.t === 'circuit' && listener(m.p as ProviderId, m.open, m.until));
  }
  onConnected(listener: () => void): void {
    this.redis.onConnected(listener);
  }
  async current(provider: ProviderId): Promise<number | undefined> {
    if (!this.redis.usable) return undefined;
    const value = await this.redis
      .run('circuit_state', (c) => c.get(`tts:circuit:{${provider}}`))
      .catch(() => null);
    const until = value === null ? NaN : Number(value);
    return Number.isFinite(until) && until > Date.now() ? until : undefined;
  }
}
