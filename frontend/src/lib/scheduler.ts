/** Default lead time so the first chunk (or one after an underrun) is not cut off. */
export const LEAD_SECONDS = 0.05;

/**
 * Gap-free playback cursor: each chunk starts where the previous one ended,
 * unless playback has fallen behind the clock, in which case it restarts slightly ahead.
 */
export class PlaybackCursor {
  cursor = 0;

  constructor(private readonly lead = LEAD_SECONDS) {}

  /** Returns when to start a chunk of `duration` seconds given the clock `now`; advances the cursor. */
  schedule(now: number, duration: number): number {
    const startAt = Math.max(this.cursor, now + this.lead);
    this.cursor = startAt + duration;
    return startAt;
  }
}
