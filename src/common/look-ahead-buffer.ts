/**
 * A producer run ahead of its consumer, bounded: `source` is pulled on its own as soon as this is created,
 * its items are buffered until `items()` reads them, and the pulling pauses once more than `maxBytes` are
 * held (resuming at half), so a look-ahead never turns a slow consumer into unbounded memory. It stops when
 * `signal` aborts; a failure of the source is thrown to the reader where it happened, after the items
 * before it. Used for sentence look-ahead (the next sentence renders while the current one is sent).
 *
 * Hand-written: what is needed is an async queue with byte-based backpressure on the producer and abort
 * on both sides, in a few lines; stream libraries would add a dependency and an object mode for just this.
 */
export class LookAheadBuffer<T> {
  /** Resolves when the source is done (ended, failed or aborted). */
  readonly settled: Promise<void>;
  private readonly buffer: T[] = [];
  private bufferedBytes = 0;
  private done = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private drained: (() => void) | undefined;

  constructor(
    source: (signal: AbortSignal) => AsyncIterable<T>,
    private readonly signal: AbortSignal,
    private readonly options: {
      readonly maxBytes: number;
      readonly sizeOf: (item: T) => number;
      /** Items worth keeping (default all); the others are dropped as they come. */
      readonly keep?: (item: T) => boolean;
    },
  ) {
    this.settled = this.run(source);
  }

  /** The items in order, as they are produced; throws the source's error (or the abort reason). */
  async *items(): AsyncGenerator<T> {
    for (;;) {
      this.signal.throwIfAborted();
      if (this.buffer.length > 0) {
        const next = this.buffer.shift() as T;
        this.bufferedBytes -= this.options.sizeOf(next);
        if (this.drained && this.bufferedBytes <= this.options.maxBytes / 2) {
          const resume = this.drained;
          this.drained = undefined;
          resume();
        }
        yield next;
        continue;
      }
      if (this.failure) throw this.failure.error;
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async run(source: (signal: AbortSignal) => AsyncIterable<T>): Promise<void> {
    const signal = this.signal;
    const onAbort = () => {
      this.drained?.();
      this.notify();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      signal.throwIfAborted();
      for await (const item of source(signal)) {
        if (this.options.keep?.(item) ?? true) {
          this.buffer.push(item);
          this.bufferedBytes += this.options.sizeOf(item);
        }
        this.notify();
        if (this.bufferedBytes > this.options.maxBytes) {
          await new Promise<void>((resolve) => (this.drained = resolve));
          signal.throwIfAborted();
        }
      }
    } catch (error) {
      this.failure = { error: signal.aborted ? signal.reason : error };
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.done = true;
      this.notify();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
