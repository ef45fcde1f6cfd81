import { LookAheadBuffer } from '../common/look-ahead-buffer';
import type { PcmPiece } from '../synthesis/tts.service';

/** Bytes of PCM a sentence synthesized ahead may hold before its engine call is paused (~45 s at 24 kHz). */
export const MAX_LOOK_AHEAD_BYTES = 2 << 20;

/**
 * One sentence's synthesis, started as soon as the sentence is complete (or is next in line) and running on
 * its own: its PCM is buffered until the context's encoder reaches it, so sentence k+1 renders while k is
 * being sent. The engine call is paused when the buffer passes `maxBufferedBytes` (a look-ahead must not
 * turn a slow client into unbounded memory) and stops when `signal` aborts (clear, error, socket gone).
 */
export class SentenceJob extends LookAheadBuffer<PcmPiece> {
  constructor(
    source: (signal: AbortSignal) => AsyncIterable<PcmPiece>,
    signal: AbortSignal,
    maxBufferedBytes = MAX_LOOK_AHEAD_BYTES,
  ) {
    super(source, signal, {
      maxBytes: maxBufferedBytes,
      sizeOf: (piece) => piece.chunk.pcm.byteLength,
      // Empty chunks carry nothing, unless they place an SSML mark.
      keep: (piece) => piece.chunk.pcm.length > 0 || piece.mark !== undefined,
    });
  }

  /** The sentence's PCM in order, as it is produced; throws the synthesis error where it happened. */
  pieces(): AsyncGenerator<PcmPiece> {
    return this.items();
  }
}
