import type { PcmPiece } from '../synthesis/tts.service';

/** Bytes of PCM a sentence synthesized ahead may hold before its engine call is paused (~45 s at 24 kHz). */
export const MAX_LOOK_AHEAD_BYTES = 2 << 20;

/**
 * One sentence's synthesis, started as soon as the sentence is complete (or is next in line) and running on
 * its own: its PCM is buffered until the context's encoder reaches it, so sentence k+1 renders while k is
 * being sent. The engine call is paused when the buffer passes `maxBufferedBytes` (a look-ahead must not
 * turn a slow client into unbounded memory) and stops when `signal` aborts (clear, error, socket gone).
 */
export class SentenceJob {
  readonly settled: Promise<void>;
  private readonly buffer: PcmPiece[] = [];
  private bufferedBytes = 0;
  private done = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private drained: (() => void) | undefined;

  constructor(
    source: (signal: AbortSignal) => AsyncIterable<PcmPiece>,
    private readonly signal: AbortSignal,
    private readonly maxBufferedBytes = MAX_LOOK_AHEAD_BYTES,
  ) {
    this.settled = this.run(source);
  }

  /** The sentence's PCM in order, as it is produced; throws the synthesis error where it happened. */
  async *pieces(): AsyncGenerator<PcmPiece> {
    for (;;) {
      this.signal.throwIfAborted();
      const next = this.buffer.shift();
      if (next) {
        this.bufferedBytes -= next.chunk.pcm.byteLength;
        if (this.drained && this.bufferedBytes <= this.maxBufferedBytes / 2) {
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

  private async run(source: (signal: AbortSignal) => AsyncIterable<PcmPiece>): Promise<void> {
    const signal = this.signal;
    const onAbort = () => {
      this.drained?.();
      this.notify();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      signal.throwIfAborted();
      for await (const piece of source(signal)) {
        // Empty chunks carry nothing, unless they place an SSML mark.
        if (piece.chunk.pcm.length === 0 && piece.mark === undefined) continue;
        this.buffer.push(piece);
        this.bufferedBytes += piece.chunk.pcm.byteLength;
        this.notify();
        if (this.bufferedBytes > this.maxBufferedBytes) {
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
