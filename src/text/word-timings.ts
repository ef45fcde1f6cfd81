/**
 * Estimated word timings for engines that report none (espeak-ng's CLI, Coqui, most OpenAI-compatible
 * servers): a syllable-rate model fitted to the audio actually produced for the text, as LiveKit's
 * transcription synchronizer does once it knows the audio duration (research: live-text-and-timings.md §2.7).
 *
 * 1. Words: `Intl.Segmenter` word granularity, word-like segments only (numbers included).
 * 2. Weights, in syllables: vowel groups for Latin, Greek and Cyrillic words (a final silent "e" does not
 *    count, minimum 1); one per character for Han, kana and Hangul; half a letter for Thai, Lao, Khmer and
 *    Myanmar (a syllable is about two letters) and for other scripts; 1.5 per digit plus 1 per decimal
 *    separator ("29.99" → about "twenty-nine point ninety-nine"). Punctuation after a word is a pause:
 *    0.75 for a comma-like mark, 1.5 for a sentence end or ellipsis (nothing after the last word).
 * 3. Speech span: RMS over 10 ms windows; a window is voiced when its RMS is within 35 dB of the loudest
 *    window and above an absolute floor of -60 dBFS. Leading and trailing unvoiced windows are trimmed, so
 *    estimates start where the voice starts and never run past the audio.
 * 4. Fit: the span is divided in proportion to the weights. Words never overlap, times only grow, all lie in
 *    [startMs + lead, startMs + duration - trail], rounded to whole milliseconds.
 *
 * No audio (empty PCM) gives every word a zero-length timing at `startMs`, so captions still get the text
 * offsets; audio without any voiced window uses its whole duration. Timings are marked "estimated" on the
 * wire by the caller. Offsets are UTF-16 indices: `text_start = textOffset + index in text`.
 */

/** On the wire (snake_case). */
export interface WordTiming {
  readonly text: string;
  readonly start_ms: number;
  readonly end_ms: number;
  /** UTF-16 index of the word in the client's original text. */
  readonly text_start: number;
  readonly text_end: number;
}

export interface WordTimingInput {
  /** The text this audio speaks. */
  text: string;
  /** Where `text` starts in the client's original text. */
  textOffset: number;
  /** Mono 16-bit samples of exactly this text's audio. */
  pcm: Int16Array;
  sampleRate: number;
  /** Where this audio starts on the stream, in ms from its first sample. */
  startMs: number;
  /** BCP-47; word boundaries barely depend on it (Thai and CJK dictionaries are built in). */
  language?: string;
}

/** Window for the energy measure. */
export const ENERGY_WINDOW_MS = 10;
/** A window quieter than the loudest by more than this is silence. */
export const SILENCE_BELOW_PEAK_DB = 35;
/** And anything below this is silence whatever the peak (dBFS). */
export const SILENCE_FLOOR_DBFS = -60;

const COMMA_PAUSE = 0.75;
const SENTENCE_PAUSE = 1.5;
const DIGIT_WEIGHT = 1.5;
/** V8's segmenter costs O(string length) per segment: long texts go through it in pieces. */
const SEGMENT_WINDOW = 2048;

interface Word {
  text: string;
  index: number;
  weight: number;
  /** Pause weight after this word (punctuation before the next word). */
  pause: number;
}

export function estimateWordTimings(input: WordTimingInput): WordTiming[] {
  const words = wordsOf(input.text, input.language);
  if (words.length === 0) return [];
  words[words.length - 1].pause = 0;

  const durationMs = input.sampleRate > 0 ? (input.pcm.length / input.sampleRate) * 1000 : 0;
  const span = speechSpan(input.pcm, input.sampleRate);
  const spanStart = input.startMs + (span ? span.startMs : 0);
  const spanEnd = input.startMs + (span ? span.endMs : durationMs);
  const low = Math.ceil(spanStart);
  const high = Math.max(low, Math.floor(spanEnd));

  const total = words.reduce((sum, word) => sum + word.weight + word.pause, 0);
  const at = (weight: number) =>
    Math.min(high, Math.max(low, Math.round(spanStart + ((spanEnd - spanStart) * weight) / total)));
  const out: WordTiming[] = [];
  let elapsed = 0;
  for (const word of words) {
    const start = at(elapsed);
    elapsed += word.weight;
    const end = at(elapsed);
    elapsed += word.pause;
    out.push({
      text: word.text,
      start_ms: start,
      end_ms: end,
      text_start: input.textOffset + word.index,
      text_end: input.textOffset + word.index + word.text.length,
    });
  }
  return out;
}

/**
 * Where speech starts and ends in `pcm`, in ms from its first sample (window resolution), or undefined when
 * no window is voiced.
 */
export function speechSpan(
  pcm: Int16Array,
  sampleRate: number,
): { startMs: number; endMs: number } | undefined {
  if (pcm.length === 0 || sampleRate <= 0) return undefined;
  const size = Math.max(1, Math.round((sampleRate * ENERGY_WINDOW_MS) / 1000));
  const windows = Math.ceil(pcm.length / size);
  const rms = new Float64Array(windows);
  let peak = 0;
  for (let w = 0; w < windows; w++) {
    const from = w * size;
    const to = Math.min(pcm.length, from + size);
    let sum = 0;
    for (let i = from; i < to; i++) sum += pcm[i] * pcm[i];
    rms[w] = Math.sqrt(sum / (to - from)) / 32768;
    peak = Math.max(peak, rms[w]);
  }
  const threshold = Math.max(peak * 10 ** (-SILENCE_BELOW_PEAK_DB / 20), 10 ** (SILENCE_FLOOR_DBFS / 20));
  let first = 0;
  while (first < windows && rms[first] < threshold) first++;
  if (first === windows) return undefined;
  let last = windows - 1;
  while (last > first && rms[last] < threshold) last--;
  const msPerSample = 1000 / sampleRate;
  return {
    startMs: first * size * msPerSample,
    endMs: Math.min(pcm.length, (last + 1) * size) * msPerSample,
  };
}

/** Estimated syllables of one word (see the module header). */
export function syllableWeight(word: string): number {
  let weight = 0;
  // Runs of one script class: "mp3" is letters then digits, "東京タワー" Han then kana.
  for (const [, letters, digits, other] of word.matchAll(
    /(\p{L}[\p{L}\p{M}'’]*)|(\p{Nd}+(?:[.,]\p{Nd}+)*)|([^])/gu,
  )) {
    if (digits !== undefined) {
      const count = digits.replace(/\D/gu, '').length;
      weight += count * DIGIT_WEIGHT + (digits.length - count);
    } else if (letters !== undefined) {
      weight += letterWeight(letters);
    } else if (other !== undefined && /\p{N}/u.test(other)) {
      weight += DIGIT_WEIGHT; // "½", "³"
    }
  }
  return Math.max(1, weight);
}

const PER_CHARACTER = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const HALF_LETTER = /[\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
const VOWEL_SCRIPT = /[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]/u;

function letterWeight(letters: string): number {
  let weight = 0;
  let alphabetic = '';
  const flush = () => {
    if (alphabetic) weight += vowelGroups(alphabetic);
    alphabetic = '';
  };
  for (const ch of letters) {
    if (/\p{M}/u.test(ch)) {
      // Combining marks belong to the letter before; a vowel sign of an abugida adds nothing of its own.
      if (alphabetic) alphabetic += ch;
      continue;
    }
    if (PER_CHARACTER.test(ch)) {
      flush();
      // The prolonged-sound mark and small kana extend the syllable before them.
      if (!/[ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ]/u.test(ch)) weight += 1;
    } else if (VOWEL_SCRIPT.test(ch) || ch === "'" || ch === '’') {
      alphabetic += ch;
    } else {
      flush();
      weight += HALF_LETTER.test(ch) || /\p{L}/u.test(ch) ? 0.5 : 0;
    }
  }
  flush();
  return weight;
}

function vowelGroups(word: string): number {
  // A diaeresis starts a vowel of its own ("naïve", "Noël"): "|" keeps it out of the group before.
  const plain = word
    .normalize('NFD')
    .toLowerCase()
    .replace(/(\p{L})\u0308/gu, '|$1')
    .replace(/\p{M}/gu, '');
  const groups = plain.match(/[aeiouyæøœаеёиоуыэюяіїєαεηιουω]+/gu)?.length ?? 0;
  // A final silent "e" ("make", "there"), but not "-le" ("table"), "ë" ("Zoë") or a lone vowel.
  const silentE = groups > 1 && /[^aeiouyl|]e$/u.test(plain) ? 1 : 0;
  return Math.max(1, groups - silentE);
}

function wordsOf(text: string, language: string | undefined): Word[] {
  const words: Word[] = [];
  const segmenter = wordSegmenter(language);
  for (let base = 0; base < text.length;) {
    const end = windowEnd(text, base);
    let lastWord: Word | undefined;
    for (const { segment, index, isWordLike } of segmenter.segment(text.slice(base, end))) {
      if (isWordLike) {
        lastWord = { text: segment, index: base + index, weight: syllableWeight(segment), pause: 0 };
        words.push(lastWord);
      } else if (lastWord) {
        lastWord.pause = Math.max(lastWord.pause, pauseWeight(segment));
      }
    }
    base = end;
  }
  return words;
}

/** A window end at white space, so no word is cut (a text without spaces that long is cut anyway). */
function windowEnd(text: string, base: number): number {
  if (text.length - base <= SEGMENT_WINDOW) return text.length;
  const limit = base + SEGMENT_WINDOW;
  for (let i = limit; i > base + SEGMENT_WINDOW / 2; i--) if (/\s/u.test(text[i - 1])) return i;
  return limit;
}

function pauseWeight(separator: string): number {
  if (/[.!?…。！？؟।]/u.test(separator)) return SENTENCE_PAUSE;
  if (/[,;:—–、，；：،]/u.test(separator) || /\s-\s/u.test(separator)) return COMMA_PAUSE;
  return 0;
}

const segmenters = new Map<string, Intl.Segmenter>();

function wordSegmenter(language: string | undefined): Intl.Segmenter {
  const key = language ?? '';
  let cached = segmenters.get(key);
  if (!cached) {
    try {
      cached = new Intl.Segmenter(language, { granularity: 'word' });
    } catch {
      cached = new Intl.Segmenter(undefined, { granularity: 'word' });
    }
    if (segmenters.size >= 32) segmenters.clear();
    segmenters.set(key, cached);
  }
  return cached;
}
