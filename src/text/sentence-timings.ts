/**
 * Word timings of the live socket, and the map from the text an engine is given back to the text the client
 * sent. Offsets on the wire (`text_start`/`text_end`) are UTF-16 indices into everything the client sent
 * for the context; `start_ms`/`end_ms` count from the context's first sample.
 *
 * - native: the tone generator's audio is a plan of per-character durations (`segmentsOf`), so a word
 *   spans exactly the samples of its characters;
 * - estimated: every other engine, with `estimateWordTimings` fitted to the sentence's own audio.
 */
import { segmentsOf } from '../providers/mock-tone/mock-tone.provider';
import { estimateWordTimings, type WordTiming } from './word-timings';

/**
 * A sentence as the engine gets it (NFC, control characters removed, white space collapsed, trimmed: the
 * rules of `normalizeText`), with, for each of its UTF-16 units, the range of the client's text it came
 * from (relative to the start of the raw sentence).
 */
export interface EngineText {
  readonly text: string;
  readonly rawStart: Int32Array;
  readonly rawEnd: Int32Array;
}

// The same characters `normalizeText` removes.
const CONTROL =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200D\u2060\uFEFF\u202A-\u202E]/u;
const SPACE = /\s/u;

export function engineTextOf(raw: string): EngineText {
  let text = '';
  const starts: number[] = [];
  const ends: number[] = [];
  // The current run of non-space characters, and where each of its UTF-16 units is in `raw` (control
  // characters inside a word are dropped without splitting it, so the positions need not be contiguous).
  let run = '';
  let positions: number[] = [];
  const flushRun = () => {
    if (!run) return;
    // NFC per run: composition never crosses white space. When it changes the length, units are spread
    // over the run, so a word's edges stay exact.
    const nfc = run.normalize('NFC');
    const scale = run.length / nfc.length;
    for (let k = 0; k < nfc.length; k++) {
      const from = nfc.length === run.length ? k : Math.floor(k * scale);
      const to = nfc.length === run.length ? k : Math.max(from, Math.ceil((k + 1) * scale) - 1);
      starts.push(positions[from]);
      ends.push(positions[to] + 1);
    }
    text += nfc;
    run = '';
    positions = [];
  };
  let spaceAt = -1;
  let index = 0;
  for (const ch of raw) {
    const at = index;
    index += ch.length;
    if (CONTROL.test(ch)) continue;
    if (SPACE.test(ch)) {
      flushRun();
      if (spaceAt < 0) spaceAt = at;
      continue;
    }
    if (spaceAt >= 0 && text.length > 0) {
      text += ' ';
      starts.push(spaceAt);
      ends.push(spaceAt + 1);
    }
    spaceAt = -1;
    run += ch;
    for (let u = 0; u < ch.length; u++) positions.push(at + u);
  }
  flushRun();
  return { text, rawStart: Int32Array.from(starts), rawEnd: Int32Array.from(ends) };
}

export interface SentenceTimingInput {
  /** The sentence as the client wrote it. */
  readonly raw: string;
  /** Where `raw` starts in the context's text (UTF-16). */
  readonly rawOffset: number;
  readonly engine: EngineText;
  /** Context time of the sentence's first sample, ms. */
  readonly startMs: number;
  readonly language?: string;
}

/**
 * Exact timings of mock_tone audio: the generator renders `segmentsOf(text, _, speed)` back to back at
 * `sampleRate`, one segment per code point, so a word lasts from its first character's first sample to its
 * last character's last sample.
 */
export function nativeToneTimings(
  input: SentenceTimingInput & { speed: number; sampleRate: number },
): WordTiming[] {
  const { text } = input.engine;
  const segments = segmentsOf(text, 0, input.speed);
  // Samples before each UTF-16 index (the end of a surrogate pair maps to after its code point).
  const before = new Float64Array(text.length + 1);
  let samples = 0;
  let unit = 0;
  let i = 0;
  for (const ch of text) {
    before[unit] = samples;
    samples += segments[i++]?.samples ?? 0;
    if (ch.length === 2) before[unit + 1] = samples;
    unit += ch.length;
  }
  before[text.length] = samples;
  const ms = (n: number) => input.startMs + (n * 1000) / input.sampleRate;
  return wordSpans(text, input.language).map(({ start, end }) =>
    toClient(input, start, end, Math.round(ms(before[start])), Math.round(ms(before[end]))),
  );
}

/** Estimated timings fitted to the sentence's audio (`pcm` at `sampleRate`, exactly this sentence's). */
export function estimatedTimings(
  input: SentenceTimingInput & { pcm: Int16Array; sampleRate: number },
): WordTiming[] {
  return estimateWordTimings({
    text: input.engine.text,
    textOffset: 0,
    pcm: input.pcm,
    sampleRate: input.sampleRate,
    startMs: input.startMs,
    language: input.language,
  }).map((w) => toClient(input, w.text_start, w.text_end, w.start_ms, w.end_ms));
}

/** A word of the engine text, with its times, as the client wrote it. */
function toClient(
  input: SentenceTimingInput,
  start: number,
  end: number,
  startMs: number,
  endMs: number,
): WordTiming {
  const rawStart = input.engine.rawStart[start] ?? 0;
  const rawEnd = end > start ? (input.engine.rawEnd[end - 1] ?? rawStart) : rawStart;
  return {
    text: input.raw.slice(rawStart, rawEnd),
    start_ms: startMs,
    end_ms: Math.max(startMs, endMs),
    text_start: input.rawOffset + rawStart,
    text_end: input.rawOffset + rawEnd,
  };
}

const segmenters = new Map<string, Intl.Segmenter>();

/** Word-like segments (numbers included), as `estimateWordTimings` finds them. */
function wordSpans(text: string, language: string | undefined): { start: number; end: number }[] {
  const key = language ?? '';
  let segmenter = segmenters.get(key);
  if (!segmenter) {
    try {
      segmenter = new Intl.Segmenter(language, { granularity: 'word' });
    } catch {
      segmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
    }
    if (segmenters.size >= 32) segmenters.clear();
    segmenters.set(key, segmenter);
  }
  const spans: { start: number; end: number }[] = [];
  for (const { segment, index, isWordLike } of segmenter.segment(text))
    if (isWordLike) spans.push({ start: index, end: index + segment.length });
  return spans;
}
