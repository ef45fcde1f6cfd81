import { segmentsOf } from '../providers/mock-tone/mock-tone.provider';
import { engineTextOf, estimatedTimings, nativeToneTimings } from './sentence-timings';

/** Raw offsets of each engine-text unit, as [start, end) pairs. */
const mapOf = (raw: string) => {
  const engine = engineTextOf(raw);
  return [...engine.text].map((_, i) => [engine.rawStart[i], engine.rawEnd[i]]);
};

describe('engineTextOf', () => {
  it('should normalize like normalizeText: white space collapsed, controls dropped, trimmed', () => {
    expect(engineTextOf('  Hello \n\t world\u200B!  ').text).toBe('Hello world!');
    expect(engineTextOf('\u0007').text).toBe('');
  });

  it('should map every unit back to the raw text', () => {
    const raw = ' a  b\u200Bc';
    const engine = engineTextOf(raw);
    expect(engine.text).toBe('a bc');
    expect(mapOf(raw)).toEqual([
      [1, 2],
      [2, 3], // the space stands for the first white space of the run
      [4, 5],
      [6, 7], // past the dropped zero-width space
    ]);
  });

  it('should compose decomposed text and keep the word edges exact', () => {
    const raw = 'cafe\u0301 ok';
    const engine = engineTextOf(raw);
    expect(engine.text).toBe('café ok');
    expect(engine.rawStart[0]).toBe(0);
    expect(engine.rawEnd[3]).toBe(5); // "é" covers "e" and the combining accent
    expect(raw.slice(engine.rawStart[5], engine.rawEnd[6])).toBe('ok');
  });

  it('should keep surrogate pairs whole', () => {
    const raw = 'hi 😀 there';
    const engine = engineTextOf(raw);
    expect(engine.text).toBe(raw);
    expect(raw.slice(engine.rawStart[3], engine.rawEnd[4])).toBe('😀');
  });
});

describe('nativeToneTimings', () => {
  const input = (raw: string, rawOffset = 0, startMs = 0) => ({
    raw,
    rawOffset,
    engine: engineTextOf(raw),
    startMs,
    sampleRate: 24000,
    speed: 1,
  });

  it('should give each word the exact samples of its characters', () => {
    const words = nativeToneTimings(input('Hi there.'));
    // 70 ms per letter, 50 ms per space.
    expect(words).toEqual([
      { text: 'Hi', start_ms: 0, end_ms: 140, text_start: 0, text_end: 2 },
      { text: 'there', start_ms: 190, end_ms: 540, text_start: 3, text_end: 8 },
    ]);
    const total = segmentsOf('Hi there.', 0).reduce((n, s) => n + s.samples, 0);
    expect(words[1].end_ms).toBeLessThanOrEqual((total / 24000) * 1000);
  });

  it('should count from the context time and into the client text', () => {
    const words = nativeToneTimings(input('So\n  it  goes', 100, 5000));
    expect(words.map((w) => [w.text, w.start_ms, w.text_start, w.text_end])).toEqual([
      ['So', 5000, 100, 102],
      ['it', 5190, 105, 107],
      ['goes', 5380, 109, 113],
    ]);
  });

  it('should scale with speed', () => {
    const words = nativeToneTimings({ ...input('Hi there.'), speed: 2 });
    expect(words[1]).toMatchObject({ start_ms: 95, end_ms: 270 });
  });
});

describe('estimatedTimings', () => {
  it('should fit the words to the audio and report client offsets', () => {
    const raw = 'One,\n two   three.';
    // 1 s of tone after 200 ms of silence, 24 kHz.
    const pcm = new Int16Array(28800);
    for (let i = 4800; i < 28800; i++) pcm[i] = Math.round(8000 * Math.sin(i / 5));
    const words = estimatedTimings({
      raw,
      rawOffset: 10,
      engine: engineTextOf(raw),
      startMs: 1000,
      pcm,
      sampleRate: 24000,
    });
    expect(words.map((w) => w.text)).toEqual(['One', 'two', 'three']);
    expect(words.map((w) => [w.text_start, w.text_end])).toEqual([
      [10, 13],
      [16, 19],
      [22, 27],
    ]);
    expect(words[0].start_ms).toBeGreaterThanOrEqual(1200);
    expect(words[2].end_ms).toBeLessThanOrEqual(2200);
    for (let i = 1; i < words.length; i++)
      expect(words[i].start_ms).toBeGreaterThanOrEqual(words[i - 1].end_ms);
  });
});
