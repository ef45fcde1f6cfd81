/**
 * The budget for replay logs of streams that have ended: each is kept for RESUME_WINDOW_SECONDS so the
 * session can be replayed, and all of them together hold at most RESUME_RETAINED_BYTES of audio — without it,
 * a burst of short sessions would keep a minute of everybody's audio (at 1000 sessions/s of short replies,
 * gigabytes). Past the budget the longest-retired logs are freed first; a resume then gets
 * `resume_unavailable`, as past the window. Running streams are not counted: RESUME_BUFFER_BYTES and the
 * stream caps bound those.
 */
export class RetainedLogs {
  /** Retired session ids in retirement order (a Map iterates in insertion order) with their bytes. */
  private readonly retired = new Map<string, number>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** Counts a log that was just retired; returns the sessions whose logs must now be freed (oldest first). */
  add(sessionId: string, bytes: number): string[] {
    this.remove(sessionId);
    this.retired.set(sessionId, bytes);
    this.total += bytes;
    const evicted: string[] = [];
    for (const [id, held] of this.retired) {
      if (this.total <= this.maxBytes) break;
      this.retired.delete(id);
      this.total -= held;
      evicted.push(id);
    }
    return evicted;
  }

  /** The log was freed (window over, dropped, replaced). */
  remove(sessionId: string): void {
    const held = this.retired.get(sessionId);
    if (held === undefined) return;
    this.retired.delete(sessionId);
    this.total -= held;
  }

  get bytes(): number {
    return this.total;
  }
}
