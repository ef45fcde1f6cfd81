import type { LiveConfig } from './live.config';

export type CharVerdict = { ok: true } | { ok: false; retryAfterSeconds: number; limit: number };

/**
 * Characters of live text a client may send per minute, over all its sockets (LIVE_CHARS_PER_MINUTE). The
 * seam: this in-process budget counts one replica's traffic; with several replicas a Redis-backed class
 * (INCRBY on a per-minute key with EXPIRE) replaces it in `LiveModule`, as the throttler's storage does for
 * session creation.
 */
export abstract class LiveCharBudget {
  /** Counts `chars` for `client`, or refuses them (nothing is counted then). */
  abstract take(client: string, chars: number): CharVerdict;
}

const WINDOW_MS = 60_000;
/** Entries kept before expired windows are swept (one per client seen in the last minute). */
const SWEEP_ABOVE = 10_000;

/**
 * Fixed one-minute windows per client, like @nestjs/throttler's counting of session creations (ttl 60 s):
 * the first character of a window starts it, and a refusal says when the window ends. Built by a factory in
 * `LiveModule` (the clock is a parameter for specs).
 */
export class MemoryLiveCharBudget extends LiveCharBudget {
  private readonly windows = new Map<string, { startedAt: number; used: number }>();

  constructor(
    private readonly config: Pick<LiveConfig, 'charsPerMinute'>,
    private readonly now: () => number = () => performance.now(),
  ) {
    super();
  }

  take(client: string, chars: number): CharVerdict {
    const limit = this.config.charsPerMinute;
    if (limit <= 0 || chars <= 0) return { ok: true };
    const now = this.now();
    let window = this.windows.get(client);
    if (!window || now - window.startedAt >= WINDOW_MS) {
      if (this.windows.size >= SWEEP_ABOVE) this.sweep(now);
      window = { startedAt: now, used: 0 };
      this.windows.set(client, window);
    }
    if (window.used + chars > limit) {
      const retryAfterSeconds = Math.max(1, Math.ceil((window.startedAt + WINDOW_MS - now) / 1000));
      return { ok: false, retryAfterSeconds, limit };
    }
    window.used += chars;
    return { ok: true };
  }

  private sweep(now: number): void {
    for (const [client, window] of this.windows)
      if (now - window.startedAt >= WINDOW_MS) this.windows.delete(client);
  }
}
