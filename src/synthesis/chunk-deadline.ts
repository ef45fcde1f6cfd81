/**
 * The deadline for an engine's next chunk, for one engine call: one timer, re-armed for each chunk (the
 * first within the first-audio timeout, each later one within the idle timeout). The wait ends when the
 * deadline passes whether or not the engine honours its abort signal, as cockatiel's aggressive
 * TimeoutPolicy does.
 *
 * Hand-written because that policy is made for one call, not a stream of them: per call it builds an
 * AbortController, a timer, two listeners and a Promise.race, and aborts the controller on return (a
 * DOMException with its stack). Per 20 ms chunk, that was a third of the JS heap a fast /file render
 * allocated, and garbage the server's memory then had to hold until the next full collection.
 */
export class ChunkDeadline<T> {
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private resolve: ((result: IteratorResult<T>) => void) | undefined;
  private reject: ((error: unknown) => void) | undefined;
  private expired = false;

  /** @param onExpired the error a wait that ran out rejects with (called once, when it runs out). */
  constructor(
    private readonly iterator: AsyncIterator<T>,
    private readonly onExpired: (ms: number) => Error,
  ) {}

  /** The iterator's next result, or `onExpired`'s error when it takes longer than `ms`. One at a time. */
  next(ms: number): Promise<IteratorResult<T>> {
    if (this.expired) return Promise.reject(new Error('the chunk deadline has passed'));
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.arm(ms);
      this.iterator.next().then(this.settled, this.failed);
    });
  }

  /** Stops the timer; a wait still running is left to its iterator. */
  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    if (this.timer && this.timerMs === ms) {
      // Re-arms the same timer (also after it fired between two waits) instead of making a new one.
      this.timer.refresh();
      return;
    }
    clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.ranOut, ms);
  }

  private readonly settled = (result: IteratorResult<T>): void => {
    const resolve = this.resolve;
    this.resolve = this.reject = undefined;
    resolve?.(result);
  };

  private readonly failed = (error: unknown): void => {
    const reject = this.reject;
    this.resolve = this.reject = undefined;
    reject?.(error);
  };

  /** The timer fired: a wait still running fails; between waits (the consumer is busy) nothing happens. */
  private readonly ranOut = (): void => {
    const reject = this.reject;
    if (!reject) return;
    this.resolve = this.reject = undefined;
    this.expired = true;
    reject(this.onExpired(this.timerMs));
  };
}
