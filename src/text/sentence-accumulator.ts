/**
 * Turns text that arrives in pieces (LLM tokens on the live socket) into sentences as soon as they are
 * certainly complete, with the splitter's rules: `splitSentences` decides what a sentence is, this class only
 * decides when a sentence can no longer change.
 *
 * "Certainly complete" means no continuation can change it (`splitSettledSpans`): "It costs $29." waits for the
 * next piece because "99" may follow, "Mr." waits for what follows, "Hi." waits to be joined to the next
 * sentence as `splitSentences` joins short sentences. Fed piece by piece, the sentences are the ones
 * `splitSentences` gives for the whole text, with two deliberate differences:
 * - a short last sentence is returned on its own by `end()`; `splitSentences` would join it to the sentence
 *   before, which a live caller has already sent to the engine;
 * - a sentence still open when the buffer passes `maxChars` (no terminator yet) is cut there, at the same
 *   clause/space/word boundaries the splitter uses, so the cut points may differ from cutting the whole
 *   sentence at once. This bounds the buffer to about `maxChars` plus one piece.
 *
 * Offsets: `start`/`endOffset` are UTF-16 indices into the concatenation of every string ever pushed,
 * including text later dropped by `clear()`: offsets keep counting across a clear, so they stay unique within
 * one accumulator and map straight into the text the client sent (the live protocol's `text_start`).
 *
 * Cost: each push re-splits only the unconsumed tail (at most about `maxChars` plus the piece), and a piece
 * without any character that can end a sentence does not re-split at all while nothing is pending.
 * Timers (idle flush) belong to the caller.
 */
import {
  DEFAULT_MAX_SEGMENT_CHARS,
  segmentEnd,
  SENTENCE_END_HINT,
  splitSentenceSpans,
  splitSettledSpans,
  type SegmentEnd,
  type SentenceSpan,
  type SplitOptions,
} from '../providers/text/sentence-splitter';

export interface CompletedSentence {
  /** The sentence, trimmed. */
  readonly text: string;
  /** How it ends (decides the pause after it). */
  readonly end: SegmentEnd;
  /** UTF-16 index of its first character in everything pushed so far (clears included). */
  readonly start: number;
  /** UTF-16 index just past its last character: `pushed.slice(start, endOffset) === text`. */
  readonly endOffset: number;
}

export class SentenceAccumulator {
  private buffer = '';
  /** Offset of `buffer[0]` in everything pushed. */
  private offset = 0;
  /** Whether `buffer` holds a character that may end a sentence, i.e. a decision may be pending. */
  private hinted = false;
  private readonly maxChars: number;

  constructor(private readonly options: SplitOptions = {}) {
    this.maxChars = options.maxChars ?? DEFAULT_MAX_SEGMENT_CHARS;
  }

  /** Text buffered and not yet returned. */
  get pending(): string {
    return this.buffer;
  }

  /** Appends `text`; returns the sentences it completed, in order (often none). */
  push(text: string): CompletedSentence[] {
    if (!text) return [];
    this.buffer += text;
    // Nothing can settle without a terminator or a line break somewhere in the buffer; an open sentence may
    // only have grown past maxChars (UTF-16 length ≥ code points, so this never misses a cut).
    if (!this.hinted && !SENTENCE_END_HINT.test(text) && this.buffer.length <= this.maxChars) return [];
    return this.settle();
  }

  /** Everything buffered now as one piece, even mid-sentence (`flush` on the live socket). */
  flush(): CompletedSentence | undefined {
    // A high surrogate at the very end waits for its other half.
    const keep = isHighSurrogate(this.buffer.charCodeAt(this.buffer.length - 1)) ? 1 : 0;
    const text = this.buffer.slice(0, this.buffer.length - keep);
    const trimmed = text.trim();
    const start = this.offset + (text.length - text.trimStart().length);
    this.consume(text.length);
    if (!trimmed) return undefined;
    return { text: trimmed, end: segmentEnd(trimmed), start, endOffset: start + trimmed.length };
  }

  /**
   * No more text: the rest, split as `splitSentences` splits a complete text, so a trailing "$29." counts as
   * ended. Returns several sentences when several were pending (e.g. "Ok. Fine" with short carries).
   * The accumulator stays usable: later pushes start a new text at the next offset.
   */
  end(): CompletedSentence[] {
    const spans = splitSentenceSpans(this.buffer, this.options).map((span) => this.absolute(span));
    this.consume(this.buffer.length);
    return spans;
  }

  /** Drops the buffer (barge-in). Offsets go on counting from the end of the dropped text. */
  clear(): void {
    this.consume(this.buffer.length);
  }

  private settle(): CompletedSentence[] {
    const { spans, settled } = splitSettledSpans(this.buffer, this.options);
    const out = spans.map((span) => this.absolute(span));
    this.consume(settled);
    if (codePoints(this.buffer.trim()) > this.maxChars) {
      // An open sentence past maxChars: keep only its last piece.
      const pieces = splitSentenceSpans(this.buffer, this.options);
      const last = pieces[pieces.length - 1];
      if (pieces.length > 1) {
        for (const piece of pieces.slice(0, -1)) out.push(this.absolute(piece));
        this.consume(last.start);
      }
    }
    this.hinted = SENTENCE_END_HINT.test(this.buffer);
    return out;
  }

  private absolute(span: SentenceSpan): CompletedSentence {
    return {
      text: span.text,
      end: span.end,
      start: this.offset + span.start,
      endOffset: this.offset + span.endOffset,
    };
  }

  private consume(units: number): void {
    if (units <= 0) return;
    this.buffer = this.buffer.slice(units);
    this.offset += units;
    this.hinted = SENTENCE_END_HINT.test(this.buffer);
  }
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}
