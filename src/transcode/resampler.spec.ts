import { FILTER_CACHE_MAX_BYTES, Resampler, filterCacheStats } from './resampler';

const tone = (hz: number, rate: number, seconds: number, amplitude = 10000) =>
  Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)),
  );

/** Runs the signal through in chunks of `chunk` samples, as a stream would. */
function resampleInChunks(input: Int16Array, from: number, to: number, chunk: number): Int16Array {
  const r = new Resampler(from, to);
  const parts: Int16Array[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(r.process(input.subarray(i, i + chunk)));
  parts.push(r.flush());
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Amplitude of `hz` in the signal (single-bin DFT), ignoring filter warm-up at the edges. */
function amplitudeAt(signal: Int16Array, rate: number, hz: number): number {
  const from = Math.floor(signal.length * 0.1);
  const to = Math.floor(signal.length * 0.9);
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += signal[i] * Math.cos((2 * Math.PI * hz * i) / rate);
    im += signal[i] * Math.sin((2 * Math.PI * hz * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

const db = (ratio: number) => 20 * Math.log10(ratio);

describe(Resampler.name, () => {
  it('should pass samples through untouched when the rates are equal', () => {
    const input = tone(440, 24000, 0.1);
    expect(new Resampler(24000, 24000).process(input)).toBe(input);
  });

  it.each([
    [24000, 8000],
    [24000, 16000],
    [22050, 24000],
    [24000, 44100],
    [24000, 48000],
    [16000, 8001],
    [48000, 11025],
  ])('should output exactly ceil(n * out / in) samples for %i -> %i Hz', (from, to) => {
    const input = tone(300, from, 0.437);
    const out = resampleInChunks(input, from, to, 480);
    expect(out.length).toBe(Math.ceil((input.length * to) / from));
  });

  it.each([
    [24000, 8000, 1000],
    [24000, 16000, 3000],
    [22050, 24000, 5000],
    [24000, 48000, 5000],
    [16000, 8001, 1000],
  ])('should keep a passband tone at its level (%i -> %i Hz, %i Hz tone)', (from, to, hz) => {
    const out = resampleInChunks(tone(hz, from, 0.5), from, to, 480);
    expect(Math.abs(db(amplitudeAt(out, to, hz) / 10000))).toBeLessThan(0.5);
  });

  it('should remove content above the new Nyquist frequency instead of folding it back (24 kHz -> 8 kHz)', () => {
    // A 7 kHz tone would alias to 1 kHz at 8 kHz without the anti-alias filter.
    const out = resampleInChunks(tone(7000, 24000, 0.5), 24000, 8000, 480);
    expect(db(amplitudeAt(out, 8000, 1000) / 10000)).toBeLessThan(-60);
  });

  it('should give the same samples whatever the chunk size (no clicks at chunk seams)', () => {
    const input = tone(440, 22050, 0.3);
    const whole = resampleInChunks(input, 22050, 16000, input.length);
    for (const chunk of [1, 7, 110, 441, 2000]) {
      const chunked = resampleInChunks(input, 22050, 16000, chunk);
      expect(chunked.length).toBe(whole.length);
      let maxDiff = 0;
      for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - chunked[i]));
      expect(maxDiff).toBeLessThanOrEqual(1);
    }
  });

  it('should not delay the signal (zero-lag filter)', () => {
    const input = new Int16Array(2400);
    input[1200] = 30000; // an impulse at 50 ms
    const out = resampleInChunks(input, 24000, 8000, 240);
    const peak = out.reduce((best, v, i) => (Math.abs(v) > Math.abs(out[best]) ? i : best), 0);
    expect(peak).toBe(400);
  });

  it('should keep its shared coefficient tables within a byte bound whatever rates clients ask for', () => {
    // Upsampling to odd rates: ~130 KiB tables (1024 phases x 32 taps), cheap enough to build 200 in a test.
    const input = tone(1000, 16000, 0.05);
    const early = new Resampler(16000, 24001);
    const earlyOut = early.process(input);
    for (let rate = 24002; rate < 24202; rate++) {
      new Resampler(16000, rate).process(input.subarray(0, 48));
      const stats = filterCacheStats();
      expect(stats.maxBytes).toBe(FILTER_CACHE_MAX_BYTES);
      expect(stats.bytes).toBeLessThanOrEqual(FILTER_CACHE_MAX_BYTES);
    }
    // 200 tables would be ~26 MiB: most were evicted ...
    expect(filterCacheStats().entries).toBeLessThan(100);
    expect(filterCacheStats().bytes).toBeGreaterThan(FILTER_CACHE_MAX_BYTES / 2);
    // ... yet a stream opened before the evictions keeps its own table and stays seamless.
    const rest = early.process(input);
    const tail = early.flush();
    const whole = new Resampler(16000, 24001);
    const reference = [whole.process(input), whole.process(input), whole.flush()];
    expect([...earlyOut, ...rest, ...tail]).toEqual(reference.flatMap((p) => [...p]));
  });

  it('should reject non-integer rates', () => {
    expect(() => new Resampler(24000.5, 8000)).toThrow(RangeError);
  });
});
