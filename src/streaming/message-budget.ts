/**
 * What a socket may send us: a token bucket of `perSecond` messages (burst of twice that). Over budget, a
 * message is dropped unprocessed; a client that keeps sending while over budget — more than five seconds'
 * worth of dropped messages — is closed (`policy_violation`). Warnings about bad messages are limited to one
 * per second, so a flood never turns into a flood of replies queued for a client that does not read.
 *
 * Hand-written: the limiter libraries are asynchronous (a promise per message) and keyed stores, where one
 * socket needs three numbers checked synchronously on every frame.
 */
export class MessageBudget {
  private tokens: number;
  private refilledAt = performance.now();
  private dropped = 0;
  private lastWarningAt = -Infinity;

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond * 2;
  }

  take(): 'ok' | 'drop' | 'close' {
    const now = performance.now();
    this.tokens = Math.min(
      this.perSecond * 2,
      this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond,
    );
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'ok';
    }
    this.dropped++;
    return this.dropped > this.perSecond * 5 ? 'close' : 'drop';
  }

  mayWarn(): boolean {
    const now = performance.now();
    if (now - this.lastWarningAt < 1000) return false;
    this.lastWarningAt = now;
    return true;
  }
}
