/**
 * Splits normalized text into sentence-sized segments for engines that synthesize one request at a time.
 *
 * Base: `Intl.Segmenter` with sentence granularity (ICU, UAX #29), which already keeps decimals (3.14),
 * ellipses followed by lower case, and CJK/Devanagari/Arabic terminators right. ICU does not apply its
 * abbreviation suppressions through `Intl.Segmenter`, so it breaks after "Mr. ", "Dr. ", "vol. ", "z.B. "
 * and after a quoted exclamation followed by lower case (`"Stop!" he said`). The fix-up pass below merges
 * those back (a break before lower case is kept after terminal punctuation that ends a line: list items). Then very short segments are merged into their neighbour and long ones (XTTS refuses more than
 * 400 tokens and degrades above ~250 characters) are cut at clause punctuation, else at a space.
 *
 * Cost: linear in the input length. Each pass works on index ranges into the input rather than on growing
 * strings (re-trimming or regex-scanning a growing merged sentence made `"Mr. " × 25 000` take seconds):
 * trimmed lengths come from prefix tables, the abbreviation check scans back at most a few characters, and
 * long sentences are cut through a moving index instead of re-slicing the rest after every cut. V8's
 * segmenter itself is quadratic in the number of segments, so long texts go through it in windows
 * (`sentenceRanges`). Segmenters are cached: building one costs more than segmenting a sentence.
 */

/** How a segment ends; decides the pause after it. */
export type SegmentEnd = 'period' | 'question' | 'exclamation' | 'ellipsis' | 'clause' | 'none';

export interface TextSegment {
  readonly text: string;
  readonly end: SegmentEnd;
}

export interface SplitOptions {
  /** Longest segment, in characters (code points). */
  maxChars?: number;
  /** Segments shorter than this are merged with the next one (if the result fits in `maxChars`). */
  minChars?: number;
  /** BCP-47 tag for the segmenter; ICU's sentence rules barely depend on it. */
  locale?: string;
}

export const DEFAULT_MAX_SEGMENT_CHARS = 250;
export const DEFAULT_MIN_SEGMENT_CHARS = 12;

/** Abbreviations that (almost) never end a sentence: titles and Latin/German shorthands. Lower case, no final dot. */
const NEVER_FINAL = new Set([
  'mr',
  'mrs',
  'ms',
  'mx',
  'dr',
  'prof',
  'rev',
  'hon',
  'gen',
  'col',
  'capt',
  'lt',
  'sgt',
  'gov',
  'sen',
  'rep',
  'sr',
  'sra',
  'srta',
  'dra',
  'mme',
  'mlle',
  'hr',
  'fr',
  'st',
  'mt',
  'ft',
  'e.g',
  'i.e',
  'cf',
  'vs',
  'viz',
  'approx',
  'ca',
  'z.b',
  'd.h',
  'u.a',
  'bzw',
  'vgl',
  'ggf',
  'p.ex',
  'p. ex',
]);
/** Abbreviations that precede a number ("No. 5", "fig. 3", "Jan. 5") but may also end a sentence. */
const BEFORE_NUMBER = new Set([
  'no',
  'nr',
  'nos',
  'vol',
  'vols',
  'fig',
  'figs',
  'p',
  'pp',
  'ch',
  'chap',
  'sec',
  'art',
  'par',
  'tel',
  'ed',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
]);

/** Clause punctuation where a long sentence may be cut (Latin, CJK, Arabic, Devanagari comma-likes). */
const CLAUSE_BREAK = /[,;:—–、，；：،؛]/u;
const CLOSERS = /[\s"'”’»)\]}」』）】〉》]/u;

/** A segment with its position in the input: `text === input.slice(start, endOffset)`. */
export interface SentenceSpan extends TextSegment {
  /** UTF-16 index of the segment's first character in the input. */
  readonly start: number;
  /** UTF-16 index just past the segment's last character. */
  readonly endOffset: number;
}

export function splitSentences(text: string, options: SplitOptions = {}): TextSegment[] {
  return splitSentenceSpans(text, options).map(({ text: segment, end }) => ({ text: segment, end }));
}

/** `splitSentences` with each segment's offsets in `text` (for word timings and live input). */
export function splitSentenceSpans(text: string, options: SplitOptions = {}): SentenceSpan[] {
  const maxChars = options.maxChars ?? DEFAULT_MAX_SEGMENT_CHARS;
  const minChars = options.minChars ?? DEFAULT_MIN_SEGMENT_CHARS;
  const merged = mergeFalseBreaks(text, sentenceRanges(text, options.locale));
  const index = new TrimIndex(text);
  const { out, carry } = mergeShort(index, merged, minChars, maxChars);
  if (carry) {
    // A short tail joins the previous segment when it fits, else stands alone.
    const last = out[out.length - 1];
    if (last !== undefined && index.trimmedLength(last.start, carry.end) <= maxChars) last.end = carry.end;
    else out.push(carry);
  }
  return spansOf(text, out, maxChars, options.locale);
}

/** What `splitSettledSpans` found: segments no continuation of the text can change, and where they stop. */
export interface SettledSplit {
  readonly spans: SentenceSpan[];
  /**
   * Where the unsettled rest starts (0 when nothing settled): a sentence boundary, so splitting
   * `text.slice(settled) + more` gives what splitting `text + more` gives after the settled spans.
   */
  readonly settled: number;
}

/**
 * The leading segments of `text` that `splitSentenceSpans(text + anything)` would also return, for text that
 * is still arriving (one exception: at the very end, `splitSentenceSpans` joins a short last sentence to the
 * one before; a settled segment never waits for that).
 *
 * A segment is settled once each stage's decision about its end is made by text already present:
 * - ICU: every boundary but the last internal one is final. That one may be an SB8 look-ahead cut short by the
 *   end of the text ("$29. 9" breaks after the period, "$29. 9 apples" does not): it counts only once a letter
 *   or a line break follows it, since either ends the look-ahead.
 * - false breaks: the merge of the next segment depends on its first non-space character, so a segment is
 *   final once that character is there and does not merge it ("Mr." waits for " Smith").
 * - short sentences: a carry shorter than `minChars` waits for the next sentence to be joined to.
 */
export function splitSettledSpans(text: string, options: SplitOptions = {}): SettledSplit {
  const maxChars = options.maxChars ?? DEFAULT_MAX_SEGMENT_CHARS;
  const minChars = options.minChars ?? DEFAULT_MIN_SEGMENT_CHARS;
  const raw = sentenceRanges(text, options.locale);
  let settledRaw = raw.length - 1;
  if (settledRaw > 0 && !endsLookAhead(text, raw[raw.length - 1])) settledRaw--;
  const groups = mergeFalseBreaks(text, raw.slice(0, Math.max(0, settledRaw)));
  const lastGroup = groups[groups.length - 1];
  if (lastGroup !== undefined && isFalseBreak(text, lastGroup, { start: lastGroup.end, end: text.length })) {
    groups.pop();
  }
  const { out } = mergeShort(new TrimIndex(text), groups, minChars, maxChars);
  const settled = out.length > 0 ? out[out.length - 1].end : 0;
  return { spans: spansOf(text, out, maxChars, options.locale), settled };
}

/**
 * Whether `range` (the text after the last internal ICU boundary) shows that boundary is final: a letter or a
 * line break stops SB8's look-ahead. Letters that ICU treats as combining (Thai and Lao SARA AM) do not count.
 */
function endsLookAhead(text: string, range: Range): boolean {
  return LOOK_AHEAD_STOP.test(text.slice(range.start, range.end));
}
const LOOK_AHEAD_STOP = /[\p{Lu}\p{Ll}\p{Lt}\p{Lo}\n\r\u0085\u2028\u2029](?<![\u0e33\u0eb3])/u;

/** Characters ICU may end a sentence at (STerm, ATerm, paragraph separators), plus ';' for Greek rules. */
export const SENTENCE_END_HINT = /[\p{Sentence_Terminal}.\u2024\ufe52\uff0e;\n\r\u0085\u2028\u2029]/u;

function spansOf(
  text: string,
  sentences: readonly Range[],
  maxChars: number,
  locale?: string,
): SentenceSpan[] {
  const out: SentenceSpan[] = [];
  for (const sentence of sentences) {
    for (const piece of cutLong(text.slice(sentence.start, sentence.end), maxChars, locale)) {
      const trimmed = piece.text.trim();
      if (!trimmed) continue;
      const start = sentence.start + piece.index + (piece.text.length - piece.text.trimStart().length);
      out.push({ text: trimmed, end: segmentEnd(trimmed), start, endOffset: start + trimmed.length });
    }
  }
  return out;
}

/**
 * Joins consecutive segments into groups whose lengths grow along `budgets` (the last budget repeats):
 * a small first request starts audio early, later requests are larger to cut per-request overhead.
 * Segments are never cut here; a segment longer than its budget forms a group alone.
 */
export function groupSegments(segments: readonly TextSegment[], budgets: readonly number[]): TextSegment[] {
  const groups: TextSegment[] = [];
  let parts: string[] = [];
  let currentLength = 0;
  let currentEnd: SegmentEnd = 'none';
  for (const segment of segments) {
    const budget = budgets[Math.min(groups.length, budgets.length - 1)];
    const segmentLength = length(segment.text);
    if (parts.length > 0 && currentLength + 1 + segmentLength <= budget) {
      parts.push(segment.text);
      currentLength += 1 + segmentLength;
    } else {
      if (parts.length > 0) groups.push({ text: parts.join(' '), end: currentEnd });
      parts = [segment.text];
      currentLength = segmentLength;
    }
    currentEnd = segment.end;
  }
  if (parts.length > 0) groups.push({ text: parts.join(' '), end: currentEnd });
  return groups;
}

/** A half-open UTF-16 range of the input. */
export interface Range {
  start: number;
  end: number;
}

/** Texts up to this many UTF-16 units go through ICU in one pass; longer ones in windows of about this size. */
export const SENTENCE_WINDOW = 4096;
/** Boundaries this close to a window's cut end are re-found by the next window, which starts before them. */
const WINDOW_MARGIN = 1024;

/**
 * ICU's sentence segments of `text` as ranges, in windows: V8's segment iterator costs O(length of the whole
 * string) per step (measured on Node 20: 25 000 sentences in 100 KB take ~0.4 s, 2.5 s at 200 KB), so one
 * pass over a long text is quadratic.
 *
 * ICU finds each boundary by running its rules forward from the previous boundary, so a window that starts at
 * a boundary yields the same boundaries as the whole text, except where a decision needed text past the
 * window's end. Such a decision is a boundary the rules looked ahead from, and the only unbounded look-ahead
 * in the sentence rules is UAX #29 SB8 (after "etc. ", a run of digits, symbols and spaces up to the next
 * letter). So a window accepts only the boundaries more than `WINDOW_MARGIN` before its cut end, and the next
 * window starts at the last one accepted. The result equals one ICU pass unless an SB8 run is longer than the
 * margin, i.e. a thousand characters without a letter, a terminator or a line break right after a period.
 * A window that accepts nothing (one very long sentence) is retried twice as long and then keeps only its
 * first boundary, so every window costs O(its length) per boundary it yields and the total stays linear.
 */
export function sentenceRanges(text: string, locale?: string, window = SENTENCE_WINDOW): Range[] {
  const icu = segmenter(locale, 'sentence');
  const out: Range[] = [];
  const margin = Math.min(WINDOW_MARGIN, Math.floor(window / 4));
  let start = 0;
  let size = window;
  while (start < text.length) {
    const end = Math.min(text.length, start + size);
    const last = end === text.length;
    // Boundaries past `limit` may depend on text after `end`; the final one (= end) is then not a boundary.
    const limit = last ? end : end - margin;
    const grown = size > window;
    let accepted = start;
    for (const { index, segment } of icu.segment(text.slice(start, end))) {
      const stop = start + index + segment.length;
      if (stop > limit) break;
      out.push({ start: accepted, end: stop });
      accepted = stop;
      if (grown) break;
    }
    if (accepted === start && !last) {
      size *= 2;
    } else {
      start = accepted;
      size = window;
    }
  }
  return out;
}

const segmenters = new Map<string, Intl.Segmenter>();

/** Segmenters are stateless between `segment()` calls and costly to build: one per locale and granularity. */
function segmenter(locale: string | undefined, granularity: 'sentence' | 'word'): Intl.Segmenter {
  const key = `${granularity}:${locale ?? ''}`;
  let cached = segmenters.get(key);
  if (!cached) {
    try {
      cached = new Intl.Segmenter(locale, { granularity });
    } catch {
      // An engine-specific tag ICU rejects (e.g. espeak's "en-us-nyc"): the rules are the same anyway.
      cached = new Intl.Segmenter(undefined, { granularity });
    }
    if (segmenters.size >= 32) segmenters.clear(); // callers pass client-chosen locales: stay bounded
    segmenters.set(key, cached);
  }
  return cached;
}

function mergeFalseBreaks(text: string, raw: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const segment of raw) {
    const previous = out[out.length - 1];
    if (previous !== undefined && isFalseBreak(text, previous, segment)) previous.end = segment.end;
    else out.push({ ...segment });
  }
  return out;
}

function isFalseBreak(text: string, before: Range, after: Range): boolean {
  let lineBreak = false;
  let next = after.start;
  for (; next < after.end && isSpace(text.charCodeAt(next)); next++) {
    lineBreak ||= isLineBreak(text.charCodeAt(next));
  }
  if (next === after.end) return true;
  // One UTF-16 unit, as the first character was always read (`next[0]`).
  const first = text[next];
  // Scanning back over trailing space is amortized linear: a segment is the tail of one check only.
  let tail = before.end;
  for (; tail > before.start && isSpace(text.charCodeAt(tail - 1)); tail--) {
    lineBreak ||= isLineBreak(text.charCodeAt(tail - 1));
  }
  // A sentence does not start in lower case or with closing punctuation: `"Stop!" he said`, `etc. and`.
  // Except on a new line after terminal punctuation: list items and lines of a reply ("Done.\nnext step").
  if (/[\p{Ll},;:)\]}]/u.test(first) && !(lineBreak && endsSentence(text, before.start, tail))) return true;
  if (tail === before.start || text[tail - 1] !== '.') return false;
  if (tail - 2 >= before.start && text[tail - 2] === '.') return false;
  const word = lastWord(text, before.start, tail - 1);
  if (NEVER_FINAL.has(word)) return true;
  if (/\p{N}/u.test(first) && BEFORE_NUMBER.has(word)) return true;
  // An initial: "J. K. Rowling", "George W. Bush".
  return /^\p{Lu}$/u.test(word) && /\p{Lu}/u.test(first);
}

/** Whether `text[start, end)` ends with terminal punctuation, before at most a few closing quotes/brackets. */
function endsSentence(text: string, start: number, end: number): boolean {
  let i = end;
  while (i > start && end - i < 8 && CLOSING.test(text[i - 1])) i--;
  return i > start && /[.!?…。！？؟।॥]/u.test(text[i - 1]);
}

function isLineBreak(unit: number): boolean {
  return unit === 0x0a || unit === 0x0d || unit === 0x85 || unit === 0x2028 || unit === 0x2029;
}

/** Longer than any abbreviation in the lists: such a word can neither match one nor be an initial. */
const LONGEST_ABBREVIATION = Math.max(...[...NEVER_FINAL, ...BEFORE_NUMBER].map((w) => w.length));
const WORD_CHAR = /[\p{L}.]/u;
const WORD_OPENER = /[\s("'“‘«[]/u;

/**
 * The token before the final dot in `text[start, end)`, lower case, keeping inner dots ("e.g", "u.s", "z.b"):
 * the run of letters and dots at the end, if it starts the range or follows a space or opening punctuation.
 * Scans back at most `LONGEST_ABBREVIATION + 1` code points (a longer run yields "", which nothing matches).
 */
function lastWord(text: string, start: number, end: number): string {
  let i = end;
  let count = 0;
  while (i > start) {
    const width =
      i - 2 >= start && isLowSurrogate(text.charCodeAt(i - 1)) && isHighSurrogate(text.charCodeAt(i - 2))
        ? 2
        : 1;
    if (!WORD_CHAR.test(text.slice(i - width, i))) break;
    i -= width;
    if (++count > LONGEST_ABBREVIATION) return '';
  }
  if (i === end || (i > start && !WORD_OPENER.test(text[i - 1]))) return '';
  const word = text.slice(i, end);
  return /^\p{Lu}$/u.test(word) ? word : word.toLowerCase();
}

/** Joins sentences shorter than `minChars` to the next; `carry` is a short rest at the end. */
function mergeShort(
  index: TrimIndex,
  sentences: readonly Range[],
  minChars: number,
  maxChars: number,
): { out: Range[]; carry: Range | undefined } {
  const out: Range[] = [];
  let carry: Range | undefined;
  for (const sentence of sentences) {
    if (carry && index.trimmedLength(carry.start, sentence.end) > maxChars) {
      out.push(carry);
      carry = { ...sentence };
    } else if (carry) {
      carry.end = sentence.end;
    } else {
      carry = { ...sentence };
    }
    if (index.trimmedLength(carry.start, carry.end) >= minChars) {
      out.push(carry);
      carry = undefined;
    }
  }
  return { out, carry };
}

/** Answers "how many code points has `text.slice(a, b).trim()`" in O(1) after one linear pass. */
class TrimIndex {
  /** `codePoints[i]`: code points that start before index `i`. */
  private readonly codePoints: Int32Array;
  /** `nextSolid[i]`: the first index ≥ i that is not white space (or the length). */
  private readonly nextSolid: Int32Array;
  /** `solidEnd[i]`: the largest k ≤ i with k = 0 or `text[k - 1]` not white space. */
  private readonly solidEnd: Int32Array;

  constructor(text: string) {
    const n = text.length;
    this.codePoints = new Int32Array(n + 1);
    this.nextSolid = new Int32Array(n + 1);
    this.solidEnd = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const unit = text.charCodeAt(i);
      const continues = isLowSurrogate(unit) && i > 0 && isHighSurrogate(text.charCodeAt(i - 1));
      this.codePoints[i + 1] = this.codePoints[i] + (continues ? 0 : 1);
      this.solidEnd[i + 1] = isSpace(unit) ? this.solidEnd[i] : i + 1;
    }
    this.nextSolid[n] = n;
    for (let i = n - 1; i >= 0; i--)
      this.nextSolid[i] = isSpace(text.charCodeAt(i)) ? this.nextSolid[i + 1] : i;
  }

  trimmedLength(start: number, end: number): number {
    const first = this.nextSolid[start];
    if (first >= end) return 0;
    return this.codePoints[this.solidEnd[end]] - this.codePoints[first];
  }
}

/** A piece of a sentence and its UTF-16 index in that sentence. */
interface Piece {
  text: string;
  index: number;
}

/**
 * Cuts a sentence longer than `maxChars` into near-equal pieces: at clause punctuation, else at a space,
 * else (Thai, Japanese without punctuation, one giant token) at a word boundary, else between graphemes.
 * `chars[pos..]` is the rest still to cut; each cut looks at most `maxChars` code points ahead.
 */
function cutLong(sentence: string, maxChars: number, locale: string | undefined): Piece[] {
  const pieces: Piece[] = [];
  const chars = [...sentence.trim()];
  let pos = 0;
  let unit = sentence.length - sentence.trimStart().length;
  while (chars.length - pos > maxChars) {
    const rest = chars.length - pos;
    const parts = Math.ceil(rest / maxChars);
    const target = Math.ceil(rest / parts);
    const low = Math.floor(target * 0.5);
    const cut =
      bestCut(
        chars,
        pos,
        low,
        maxChars,
        target,
        (ch, next) => CLAUSE_BREAK.test(ch) && (next === undefined || /\s/u.test(next) || isWide(ch)),
      ) ??
      bestCut(chars, pos, low, maxChars, target, (_ch, next) => next !== undefined && /\s/u.test(next)) ??
      wordCut(chars, pos, low, maxChars, target, locale) ??
      graphemeCut(chars, pos, target);
    const piece = chars.slice(pos, pos + cut).join('');
    pieces.push({ text: piece, index: unit });
    unit += piece.length;
    pos += cut;
    while (pos < chars.length && /\s/u.test(chars[pos])) unit += chars[pos++].length;
  }
  if (pos < chars.length) pieces.push({ text: chars.slice(pos).join(''), index: unit });
  return pieces;
}

function wordCut(
  chars: readonly string[],
  pos: number,
  low: number,
  high: number,
  target: number,
  locale?: string,
): number | undefined {
  const rest = chars.length - pos;
  let best: number | undefined;
  let at = 0;
  for (const { segment } of segmenter(locale, 'word').segment(chars.slice(pos, pos + high + 1).join(''))) {
    at += [...segment].length;
    if (
      at >= low &&
      at <= high &&
      at < rest &&
      (best === undefined || Math.abs(at - target) < Math.abs(best - target))
    ) {
      best = at;
    }
  }
  return best;
}

/** Never between a base character and its combining marks. */
function graphemeCut(chars: readonly string[], pos: number, target: number): number {
  let cut = target;
  while (cut < chars.length - pos - 1 && /[\p{M}\u200D]/u.test(chars[pos + cut])) cut++;
  return cut;
}

const CLOSING = /["'”’»)\]}」』）】]/u;

/**
 * The cut position (piece length) in [low, high] closest to `target` where `ok(char before, char after)`,
 * the smallest on a tie. Walks down from `high` so the run of closing quotes and brackets after each
 * position (kept with the piece they close) is known in O(1).
 */
function bestCut(
  chars: readonly string[],
  pos: number,
  low: number,
  high: number,
  target: number,
  ok: (ch: string, next: string | undefined) => boolean,
): number | undefined {
  const rest = chars.length - pos;
  let best: number | undefined;
  // closedAt: where the closing run that starts at `len` stops (capped at `high`).
  let closedAt = high;
  for (let len = high; len >= Math.max(1, low); len--) {
    if (!(len < rest && len < high && CLOSING.test(chars[pos + len]))) closedAt = len;
    if (len > rest - 1 || !ok(chars[pos + len - 1], chars[pos + len])) continue;
    if (best === undefined || Math.abs(closedAt - target) <= Math.abs(best - target)) best = closedAt;
  }
  return best;
}

/** Full-width punctuation needs no following space to be a break (Chinese, Japanese). */
function isWide(ch: string): boolean {
  return /[、，；：]/u.test(ch);
}

/** ECMAScript white space and line terminators: exactly what `trim()` and `\s` remove. */
function isSpace(unit: number): boolean {
  return (
    (unit >= 0x09 && unit <= 0x0d) ||
    unit === 0x20 ||
    unit === 0xa0 ||
    unit === 0x1680 ||
    (unit >= 0x2000 && unit <= 0x200a) ||
    unit === 0x2028 ||
    unit === 0x2029 ||
    unit === 0x202f ||
    unit === 0x205f ||
    unit === 0x3000 ||
    unit === 0xfeff
  );
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** How a (trimmed) segment ends. */
export function segmentEnd(text: string): SegmentEnd {
  let i = text.length;
  while (i > 0 && CLOSERS.test(text[i - 1])) i--;
  const core = text.slice(0, i);
  if (core.endsWith('...') || core.endsWith('…')) return 'ellipsis';
  const last = core[core.length - 1] ?? '';
  if (/[?？؟]/u.test(last)) return 'question';
  if (/[!！]/u.test(last)) return 'exclamation';
  if (/[.。।॥։።]/u.test(last)) return 'period';
  if (CLAUSE_BREAK.test(last)) return 'clause';
  return 'none';
}

function length(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
