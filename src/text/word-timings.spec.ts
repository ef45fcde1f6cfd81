import { estimateWordTimings, speechSpan, syllableWeight, type WordTiming } from './word-timings';

const RATE = 16_000;

/** Deterministic noise: amplitude `level` (of 32767), `ms` long. */
function noise(ms: number, level: number, seed = 1): Int16Array {
  const out = new Int16Array(Math.round((RATE * ms) / 1000));
  let state = seed;
  for (let i = 0; i < out.length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    out[i] = Math.round((state / 2147483648 - 0.5) * 2 * level);
  }
  return out;
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** 300 ms of near-silence (hiss at -70 dBFS), 1 s of "speech", 400 ms of near-silence. */
const burst = () => concat(noise(300, 10, 2), noise(1000, 12000, 3), noise(400, 10, 4));

function expectWellFormed(timings: readonly WordTiming[], low: number, high: number): void {
  let previousEnd = low;
  for (const t of timings) {
    expect(t.start_ms).toBeGreaterThanOrEqual(previousEnd);
    expect(t.end_ms).toBeGreaterThanOrEqual(t.start_ms);
    expect(t.end_ms).toBeLessThanOrEqual(high);
    expect(Number.isInteger(t.start_ms) && Number.isInteger(t.end_ms)).toBe(true);
    previousEnd = t.end_ms;
  }
}

describe(estimateWordTimings.name, () => {
  it('should place the words inside the voiced part of the audio, in order, without overlap', () => {
    const original = 'Intro. Hello there, how are you today? Fine.';
    const text = 'Hello there, how are you today?';
    const textOffset = original.indexOf(text);
    const timings = estimateWordTimings({ text, textOffset, pcm: burst(), sampleRate: RATE, startMs: 5000 });
    expect(timings.map((t) => t.text)).toEqual(['Hello', 'there', 'how', 'are', 'you', 'today']);
    expect(timings[0].start_ms).toBe(5300);
    expect(timings[timings.length - 1].end_ms).toBe(6300);
    expectWellFormed(timings, 5300, 6300);
    for (const t of timings) expect(original.slice(t.text_start, t.text_end)).toBe(t.text);
    // The comma leaves a gap; plain word boundaries do not.
    expect(timings[1].end_ms).toBeLessThan(timings[2].start_ms);
    expect(timings[3].end_ms).toBe(timings[4].start_ms);
    // Two syllables take longer than one.
    const length = (t: WordTiming) => t.end_ms - t.start_ms;
    expect(length(timings[5])).toBeGreaterThan(length(timings[4]));
  });

  it('should use the whole audio when it starts and ends with speech', () => {
    const pcm = noise(800, 9000);
    const timings = estimateWordTimings({
      text: 'one two three',
      textOffset: 0,
      pcm,
      sampleRate: RATE,
      startMs: 0,
    });
    expect(timings[0].start_ms).toBe(0);
    expect(timings[2].end_ms).toBe(800);
    expectWellFormed(timings, 0, 800);
  });

  it('should give CJK characters a syllable each', () => {
    const text = '今天天气很好，我们去公园吧。';
    const timings = estimateWordTimings({ text, textOffset: 10, pcm: burst(), sampleRate: RATE, startMs: 0 });
    expect(timings.length).toBeGreaterThan(3);
    expect(timings.map((t) => t.text).join('')).toBe('今天天气很好我们去公园吧');
    expectWellFormed(timings, 300, 1300);
    for (const t of timings) expect(text.slice(t.text_start - 10, t.text_end - 10)).toBe(t.text);
    const perChar = timings.map((t) => (t.end_ms - t.start_ms) / t.text.length);
    expect(Math.max(...perChar) - Math.min(...perChar)).toBeLessThan(5);
  });

  it('should give numbers the time their spoken form takes', () => {
    const text = 'It costs 1299.50 in total';
    const timings = estimateWordTimings({ text, textOffset: 0, pcm: burst(), sampleRate: RATE, startMs: 0 });
    expect(timings.map((t) => t.text)).toEqual(['It', 'costs', '1299.50', 'in', 'total']);
    const [it, , number] = timings;
    expect(number.end_ms - number.start_ms).toBeGreaterThan(5 * (it.end_ms - it.start_ms));
    expectWellFormed(timings, 300, 1300);
  });

  it('should handle empty audio, silent audio and text without words', () => {
    const empty = estimateWordTimings({
      text: 'Hi there',
      textOffset: 3,
      pcm: new Int16Array(0),
      sampleRate: RATE,
      startMs: 250,
    });
    expect(empty).toEqual([
      { text: 'Hi', start_ms: 250, end_ms: 250, text_start: 3, text_end: 5 },
      { text: 'there', start_ms: 250, end_ms: 250, text_start: 6, text_end: 11 },
    ]);
    const silent = estimateWordTimings({
      text: 'Hi there',
      textOffset: 0,
      pcm: new Int16Array(RATE),
      sampleRate: RATE,
      startMs: 0,
    });
    expect(silent[0].start_ms).toBe(0);
    expect(silent[1].end_ms).toBe(1000);
    expect(
      estimateWordTimings({ text: ' ... !', textOffset: 0, pcm: burst(), sampleRate: RATE, startMs: 0 }),
    ).toEqual([]);
    expect(
      estimateWordTimings({ text: 'Hi', textOffset: 0, pcm: burst(), sampleRate: 0, startMs: 7 }),
    ).toEqual([{ text: 'Hi', start_ms: 7, end_ms: 7, text_start: 0, text_end: 2 }]);
  });

  it('should keep a fractional stream start inside the bounds', () => {
    const timings = estimateWordTimings({
      text: 'a b c d e f g',
      textOffset: 0,
      pcm: burst(),
      sampleRate: RATE,
      startMs: 1000.4,
    });
    expectWellFormed(timings, 1301, 2300);
    expect(timings[0].start_ms).toBe(1301);
  });

  it('should stay fast on a long text', () => {
    const text = 'Some words, then more words. '.repeat(400);
    const started = performance.now();
    const timings = estimateWordTimings({
      text,
      textOffset: 0,
      pcm: noise(60_000, 8000),
      sampleRate: RATE,
      startMs: 0,
    });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(timings).toHaveLength(2000);
    expectWellFormed(timings, 0, 60_000);
  });
});

describe(speechSpan.name, () => {
  it('should trim leading and trailing windows quieter than the threshold', () => {
    expect(speechSpan(burst(), RATE)).toEqual({ startMs: 300, endMs: 1300 });
    expect(speechSpan(new Int16Array(800), RATE)).toBeUndefined();
    expect(speechSpan(new Int16Array(0), RATE)).toBeUndefined();
    // Quiet speech still counts: the threshold is relative to the loudest window.
    expect(speechSpan(concat(noise(100, 0), noise(200, 300), noise(100, 0)), RATE)).toEqual({
      startMs: 100,
      endMs: 300,
    });
  });
});

describe(syllableWeight.name, () => {
  it('should count vowel groups with a minimum of one, per character for CJK, and digits roughly', () => {
    expect(syllableWeight('hello')).toBe(2);
    expect(syllableWeight('make')).toBe(1);
    expect(syllableWeight('table')).toBe(2);
    expect(syllableWeight('strengths')).toBe(1);
    expect(syllableWeight('rhythm')).toBe(1);
    expect(syllableWeight('naïve')).toBe(2);
    expect(syllableWeight('Zoë')).toBe(2);
    expect(syllableWeight('Привет')).toBe(2);
    expect(syllableWeight('東京')).toBe(2);
    expect(syllableWeight('トーキョー')).toBe(3);
    expect(syllableWeight('서울')).toBe(2);
    expect(syllableWeight('42')).toBe(3);
    expect(syllableWeight('3.5')).toBe(4);
    expect(syllableWeight('mp3')).toBe(2.5);
    // Abugidas: half a syllable per letter, vowel signs add nothing (na-mas-te: an estimate of 2).
    expect(syllableWeight('नमस्ते')).toBe(2);
    expect(syllableWeight('สวัสดี')).toBe(2);
  });
});
