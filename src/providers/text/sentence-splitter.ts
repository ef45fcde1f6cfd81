/**
 * Splits normalized text into sentence-sized segments for engines that synthesize one request at a time.
 *
 * Base: `Intl.Segmenter` with sentence granularity (ICU, UAX #29), which already keeps decimals (3.14),
 * ellipses followed by lower case, and CJK/Devanagari/Arabic terminators right. ICU does not apply its
 * abbreviation suppressions through `Intl.Segmenter`, so it breaks after "Mr. ", "Dr. ", "vol. ", "z.B. "
 * and after a quoted exclamation followed by lower case (`"Stop!" he said`). The fix-up pass below merges
 * those back. Then very short segments are merged into their neighbour and long ones (XTTS refuses more than
 * 400 tokens and degrades above ~250 characters) are cut at clause punctuation, else at a space.
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

export function splitSentences(text: string, options: SplitOptions = {}): TextSegment[] {
  const maxChars = options.maxChars ?? DEFAULT_MAX_SEGMENT_CHARS;
  const minChars = options.minChars ?? DEFAULT_MIN_SEGMENT_CHARS;
  const raw = [...segmenter(options.locale).segment(text)].map((s) => s.segment);

  const merged = mergeFalseBreaks(raw);
  const short = mergeShort(merged, minChars, maxChars);
  const out: TextSegment[] = [];
  for (const sentence of short) {
    for (const piece of cutLong(sentence, maxChars, options.locale)) {
      const trimmed = piece.trim();
      if (trimmed) out.push({ text: trimmed, end: endOf(trimmed) });
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
  let current: TextSegment | undefined;
  for (const segment of segments) {
    const budget = budgets[Math.min(groups.length, budgets.length - 1)];
    if (current && length(current.text) + 1 + length(segment.text) <= budget) {
      current = { text: `${current.text} ${segment.text}`, end: segment.end };
    } else {
      if (current) groups.push(current);
      current = segment;
    }
  }
  if (current) groups.push(current);
  return groups;
}

function segmenter(locale: string | undefined): Intl.Segmenter {
  try {
    return new Intl.Segmenter(locale, { granularity: 'sentence' });
  } catch {
    // An engine-specific tag ICU rejects (e.g. espeak's "en-us-nyc"): the rules are the same anyway.
    return new Intl.Segmenter(undefined, { granularity: 'sentence' });
  }
}

function mergeFalseBreaks(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (const segment of raw) {
    const previous = out[out.length - 1];
    if (previous !== undefined && isFalseBreak(previous, segment)) out[out.length - 1] = previous + segment;
    else out.push(segment);
  }
  return out;
}

function isFalseBreak(before: string, after: string): boolean {
  const next = after.trimStart();
  if (!next) return true;
  const first = next[0];
  // A sentence does not start in lower case or with closing punctuation: `"Stop!" he said`, `etc. and`.
  if (/[\p{Ll},;:)\]}]/u.test(first)) return true;
  const tail = before.trimEnd();
  if (!tail.endsWith('.') || tail.endsWith('..')) return false;
  const word = lastWord(tail.slice(0, -1));
  if (NEVER_FINAL.has(word)) return true;
  if (/\p{N}/u.test(first) && BEFORE_NUMBER.has(word)) return true;
  // An initial: "J. K. Rowling", "George W. Bush".
  return /^\p{Lu}$/u.test(word) && /\p{Lu}/u.test(first);
}

/** The token before the final dot, lower case, keeping inner dots ("e.g", "u.s", "z.b"). */
function lastWord(text: string): string {
  const match = /(?:^|[\s("'“‘«[])([\p{L}.]+)$/u.exec(text);
  const word = match ? match[1] : '';
  return /^\p{Lu}$/u.test(word) ? word : word.toLowerCase();
}

function mergeShort(sentences: readonly string[], minChars: number, maxChars: number): string[] {
  const out: string[] = [];
  let carry = '';
  for (const sentence of sentences) {
    const joined = carry + sentence;
    if (carry && length(joined.trim()) > maxChars) {
      out.push(carry);
      carry = sentence;
    } else {
      carry = joined;
    }
    if (length(carry.trim()) >= minChars) {
      out.push(carry);
      carry = '';
    }
  }
  if (carry) {
    // A short tail joins the previous segment when it fits, else stands alone.
    const last = out[out.length - 1];
    if (last !== undefined && length((last + carry).trim()) <= maxChars) out[out.length - 1] = last + carry;
    else out.push(carry);
  }
  return out;
}

/**
 * Cuts a sentence longer than `maxChars` into near-equal pieces: at clause punctuation, else at a space,
 * else (Thai, Japanese without punctuation, one giant token) at a word boundary, else between graphemes.
 */
function cutLong(sentence: string, maxChars: number, locale: string | undefined): string[] {
  const pieces: string[] = [];
  let rest = [...sentence.trim()];
  while (rest.length > maxChars) {
    const parts = Math.ceil(rest.length / maxChars);
    const target = Math.ceil(rest.length / parts);
    const low = Math.floor(target * 0.5);
    const cut =
      bestCut(
        rest,
        low,
        maxChars,
        target,
        (ch, next) => CLAUSE_BREAK.test(ch) && (next === undefined || /\s/u.test(next) || isWide(ch)),
      ) ??
      bestCut(rest, low, maxChars, target, (_ch, next) => next !== undefined && /\s/u.test(next)) ??
      wordCut(rest, low, maxChars, target, locale) ??
      graphemeCut(rest, target);
    pieces.push(rest.slice(0, cut).join(''));
    rest = dropLeadingSpace(rest.slice(cut));
  }
  if (rest.length > 0) pieces.push(rest.join(''));
  return pieces;
}

function wordCut(
  chars: readonly string[],
  low: number,
  high: number,
  target: number,
  locale?: string,
): number | undefined {
  let words: Intl.Segmenter;
  try {
    words = new Intl.Segmenter(locale, { granularity: 'word' });
  } catch {
    words = new Intl.Segmenter(undefined, { granularity: 'word' });
  }
  let best: number | undefined;
  let at = 0;
  for (const { segment } of words.segment(chars.slice(0, high + 1).join(''))) {
    at += [...segment].length;
    if (
      at >= low &&
      at <= high &&
      at < chars.length &&
      (best === undefined || Math.abs(at - target) < Math.abs(best - target))
    ) {
      best = at;
    }
  }
  return best;
}

/** Never between a base character and its combining marks. */
function graphemeCut(chars: readonly string[], target: number): number {
  let cut = target;
  while (cut < chars.length - 1 && /[\p{M}\u200D]/u.test(chars[cut])) cut++;
  return cut;
}

/** The cut position (piece length) in [low, high] closest to `target` where `ok(char before, char after)`. */
function bestCut(
  chars: readonly string[],
  low: number,
  high: number,
  target: number,
  ok: (ch: string, next: string | undefined) => boolean,
): number | undefined {
  let best: number | undefined;
  for (let len = Math.max(1, low); len <= Math.min(high, chars.length - 1); len++) {
    if (!ok(chars[len - 1], chars[len])) continue;
    // Keep closing quotes and brackets with the piece they close.
    let end = len;
    while (end < chars.length && end < high && /["'”’»)\]}」』）】]/u.test(chars[end])) end++;
    if (best === undefined || Math.abs(end - target) < Math.abs(best - target)) best = end;
  }
  return best;
}

function dropLeadingSpace(chars: string[]): string[] {
  let i = 0;
  while (i < chars.length && /\s/u.test(chars[i])) i++;
  return chars.slice(i);
}

/** Full-width punctuation needs no following space to be a break (Chinese, Japanese). */
function isWide(ch: string): boolean {
  return /[、，；：]/u.test(ch);
}

function endOf(text: string): SegmentEnd {
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
