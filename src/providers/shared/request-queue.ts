/**
 * A per-backend concurrency limit with a FIFO queue. Engines such as Coqui's tts-server hold a global lock:
 * sending them parallel requests only makes every request slower (and XTTS servers have mixed up
 * concurrent streams), so requests wait here instead, and a waiting request that is aborted leaves the
 * queue at once.
 */
export class RequestQueue {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(readonly concurrency = 1) {}

  /** Requests running plus waiting, for diagnostics. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    await this.acquire(signal);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          this.active++;
          resolve();
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.grant();
  }
}
