import type { UsageStore } from '../state/counters';

export type CharVerdict = { ok: true } | { ok: false; retryAfterSeconds: number; limit: number };

/**
 * Characters of live text a client may send per minute, over all its sockets (LIVE_CHARS_PER_MINUTE). The
 * seam between the live socket and wherever the counts are kept.
 */
export abstract class LiveCharBudget {
  /** Counts `chars` for `client` and says whether the client is still within its budget. */
  abstract take(client: string, chars: number): Promise<CharVerdict>;
}

const WINDOW_MS = 60_000;

/**
 * On the gateway's shared counters (`UsageStore`: in process, or Redis with REDIS_URL, so every replica
 * counts the same minute), in fixed one-minute windows per client like the counting of session creations:
 * the first characters of a window start it, and a refusal says when it ends. Built by a factory in
 * `LiveModule`.
 */
export class WindowedLiveCharBudget extends LiveCharBudget {
  constructor(
    private readonly store: Pick<UsageStore, 'addToWindow'>,
    private readonly config: { charsPerMinute: number },
  ) {
    super();
  }

  async take(client: string, chars: number): Promise<CharVerdict> {
    const limit = this.config.charsPerMinute;
    if (limit <= 0 || chars <= 0) return { ok: true };
    const { total, resetMs } = await this.store.addToWindow(`live_chars:${client}`, chars, WINDOW_MS);
    if (total <= limit) return { ok: true };
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(resetMs / 1000)), limit };
  }
}
