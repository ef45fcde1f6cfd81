/**
 * Tracks audio frame sequence numbers (expected to start at 1 and increase by 1).
 * `gaps` counts discontinuities (each jump, duplicate or reorder counts once);
 * `missing` counts frames skipped over by forward jumps.
 */
export class SeqTracker {
  last = 0;
  gaps = 0;
  missing = 0;

  /** Record a seq; returns true when it was not the expected next number. */
  observe(seq: number): boolean {
    const expected = this.last + 1;
    const gap = seq !== expected;
    if (gap) {
      this.gaps++;
      if (seq > expected) this.missing += seq - expected;
    }
    this.last = Math.max(this.last, seq);
    return gap;
  }
}
