import {
  FILTER_CACHE_MAX_BYTES,
  Resampler,
  filterCacheStats,
  fixedPoint,
  type ResamplerOptions,
} from './resampler';
import { simdKernel } from './resampler-kernel';

const tone = (hz: number, rate: number, seconds: number, amplitude = 10000) =>
  Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)),
  );

/** Runs the signal through in chunks of `chunk` samples, as a stream would. */
function resampleInChunks(
  input: Int16Array,
  from: number,
  to: number,
  chunk: number,
  options: ResamplerOptions = {},
): Int16Array {
  const r = new Resampler(from, to, options);
  const parts: Int16Array[] = [];
  const copy = (p: Int16Array) => (options.reuseOutput ? p.slice() : p);
  for (let i = 0; i < input.length; i += chunk) parts.push(copy(r.process(input.subarray(i, i + chunk))));
  parts.push(copy(r.flush()));
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

function gcdOf(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Both inner loops: the WebAssembly SIMD kernel (exact ratios) and the JS loop it falls back to. */
const KERNELS: [string, ResamplerOptions][] = [
  ['SIMD kernel', { simd: true }],
  ['JS loop', { simd: false }],
];

describe(Resampler.name, () => {
  it('should have the SIMD kernel on this Node', () => {
    expect(simdKernel()).not.toBeNull();
  });

  it('should pass samples through untouched when the rates are equal', () => {
    const input = tone(440, 24000, 0.1);
    expect(new Resampler(24000, 24000).process(input)).toBe(input);
  });

  describe.each(KERNELS)('with the %s', (_, kernel) => {
    it.each([
      [24000, 8000],
      [24000, 16000],
      [22050, 16000],
      [22050, 24000],
      [24000, 44100],
      [24000, 48000],
      [16000, 8001],
      [48000, 11025],
    ])('should output exactly ceil(n * out / in) samples for %i -> %i Hz', (from, to) => {
      const input = tone(300, from, 0.437);
      const out = resampleInChunks(input, from, to, 480, kernel);
      expect(out.length).toBe(Math.ceil((input.length * to) / from));
    });

    it.each([
      [24000, 8000, 1000],
      [24000, 16000, 3000],
      [22050, 16000, 3000],
      [22050, 24000, 5000],
      [24000, 48000, 5000],
      [16000, 8001, 1000],
    ])('should keep a passband tone at its level (%i -> %i Hz, %i Hz tone)', (from, to, hz) => {
      const out = resampleInChunks(tone(hz, from, 0.5), from, to, 480, kernel);
      expect(Math.abs(db(amplitudeAt(out, to, hz) / 10000))).toBeLessThan(0.5);
    });

    it.each([
      [24000, 8000, 7000, 1000],
      [24000, 16000, 11000, 5000],
      [22050, 16000, 10000, 6000],
    ])(
      'should remove content above the new Nyquist frequency instead of folding it back (%i -> %i Hz)',
      (from, to, hz, alias) => {
        // Without the anti-alias filter the tone would fold back to `alias` Hz at full level.
        const out = resampleInChunks(tone(hz, from, 0.5), from, to, 480, kernel);
        expect(db(amplitudeAt(out, to, alias) / 10000)).toBeLessThan(-60);
      },
    );

    it('should give the same samples whatever the chunk size (no clicks at chunk seams)', () => {
      const input = tone(440, 22050, 0.3);
      const whole = resampleInChunks(input, 22050, 16000, input.length, kernel);
      for (const chunk of [1, 7, 110, 441, 2000]) {
        const chunked = resampleInChunks(input, 22050, 16000, chunk, kernel);
        expect(chunked.length).toBe(whole.length);
        let maxDiff = 0;
        for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(whole[i] - chunked[i]));
        expect(maxDiff).toBeLessThanOrEqual(1);
      }
    });

    it('should not delay the signal (zero-lag filter)', () => {
      const input = new Int16Array(2400);
      input[1200] = 30000; // an impulse at 50 ms
      const out = resampleInChunks(input, 24000, 8000, 240, kernel);
      const peak = out.reduce((best, v, i) => (Math.abs(v) > Math.abs(out[best]) ? i : best), 0);
      expect(peak).toBe(400);
    });

    it('should clip to the s16 range instead of wrapping around', () => {
      const square = Int16Array.from({ length: 4800 }, (_, i) => (Math.floor(i / 60) % 2 ? -32768 : 32767));
      const out = resampleInChunks(square, 24000, 16000, 480, kernel);
      expect(Math.max(...out)).toBe(32767); // Gibbs overshoot past full scale is clipped
      expect(Math.min(...out)).toBe(-32768);
    });
  });

  it.each([
    [24000, 16000],
    [24000, 8000],
    [22050, 16000],
    [16000, 48000],
  ])('should give the same samples from the SIMD kernel as from the JS loop (%i -> %i Hz)', (from, to) => {
    // 1.5 s in one chunk runs the kernel over several blocks; then chunks of odd sizes.
    const input = Int16Array.from({ length: Math.round(from * 1.5) }, (_, i) =>
      Math.round(9000 * Math.sin(i * 0.07) + 6000 * Math.sin(i * 0.9)),
    );
    for (const chunk of [input.length, 333]) {
      const simd = resampleInChunks(input, from, to, chunk, { simd: true });
      const js = resampleInChunks(input, from, to, chunk, { simd: false });
      expect(simd).toEqual(js); // the same integer sums, the same rounding
    }
  });

  it.each([
    [24000, 16000],
    [24000, 8000],
    [22050, 16000],
    [16000, 48000],
    [8000, 48000],
  ])('should saturate, not wrap, on the worst-case input of every phase (%i -> %i Hz)', (from, to) => {
    // Full scale with the sign of each tap of one row: the largest sum that row can make. A 32-bit sum
    // that overflowed would come out negative (or positive for the negated pattern).
    const probe = new Resampler(from, to);
    const bank = (probe as unknown as { bank: { fixed: Int16Array; taps: number; phases: number } }).bank;
    for (let phase = 0; phase < Math.min(bank.phases, 8); phase++) {
      const row = bank.fixed.subarray(phase * bank.taps, (phase + 1) * bank.taps);
      for (const sign of [1, -1]) {
        const pattern = Int16Array.from(row, (c) => (c * sign >= 0 ? 32767 : -32768));
        // The pattern repeated: whatever phase lands on it, the sums stay bounded and clip.
        const input = new Int16Array(pattern.length * 40);
        for (let i = 0; i < 40; i++) input.set(pattern, i * pattern.length);
        for (const simd of [true, false]) {
          const out = resampleInChunks(input, from, to, 480, { simd });
          const peak = sign > 0 ? Math.max(...out) : Math.min(...out);
          expect(peak).toBe(sign > 0 ? 32767 : -32768);
        }
      }
    }
  });

  it('should pass a constant through exactly (each row of fixed-point taps sums to unity)', () => {
    for (const [from, to] of [
      [24000, 16000],
      [24000, 8000],
      [22050, 16000],
      [16000, 48000],
    ]) {
      for (const level of [32767, -32768, 1234, -1]) {
        const out = resampleInChunks(new Int16Array(from / 2).fill(level), from, to, 480);
        // Away from the start and the end (where the filter sees the silence around the signal).
        const middle = out.subarray(out.length / 4, (3 * out.length) / 4);
        expect(middle.every((v) => v === level)).toBe(true);
      }
    }
  });

  it('should round coefficients to integers that sum to exactly 2^shift, each within one unit', () => {
    const taps = 48;
    const smooth = Float32Array.from({ length: 2 * taps }, (_, i) =>
      Math.exp(-(((i % taps) - 24) ** 2) / 40),
    );
    for (let row = 0; row < smooth.length; row += taps) {
      const sum = smooth.subarray(row, row + taps).reduce((a, c) => a + c, 0);
      for (let t = row; t < row + taps; t++) smooth[t] /= sum;
    }
    const { fixed, shift } = fixedPoint(smooth, taps);
    expect(shift).toBe(15);
    for (let row = 0; row < smooth.length; row += taps) {
      expect(fixed.subarray(row, row + taps).reduce((a, c) => a + c, 0)).toBe(2 ** shift);
    }
    smooth.forEach((c, t) => expect(Math.abs(fixed[t] - c * 2 ** shift)).toBeLessThan(1));
  });

  it('should use fewer fraction bits where full-scale input could overflow a 32-bit sum', () => {
    // Large taps of both signs (sum 1, magnitudes summing to 5): 32768 x 5 x 2^15 would pass 2^31.
    const row = Float32Array.from({ length: 8 }, (_, t) => (t % 2 ? -0.5 : 0.75));
    const { fixed, shift } = fixedPoint(row, 8);
    expect(shift).toBeLessThan(15);
    const magnitude = fixed.reduce((a, c) => a + Math.abs(c), 0);
    expect(32768 * magnitude + 2 ** (shift - 1)).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(fixed.reduce((a, c) => a + c, 0)).toBe(2 ** shift);
  });

  it('should stay exact when more filter banks are in use than the kernel keeps in its memory', () => {
    // Rates near 8 kHz whose ratio to 48 kHz needs 500-1024 phases: ~0.4-0.8 MiB tables each, more than
    // the kernel's 4 MiB arena holds together, so it wipes and re-uploads them as they take turns.
    const rates: number[] = [];
    for (let rate = 8001; rates.length < 8; rate++) {
      const L = rate / gcdOf(48000, rate);
      if (L >= 500 && L <= 1024) rates.push(rate);
    }
    const input = tone(1000, 48000, 0.1);
    const simd = rates.map((rate) => new Resampler(48000, rate, { simd: true }));
    const js = rates.map((rate) => new Resampler(48000, rate, { simd: false }));
    for (let i = 0; i < input.length; i += 960) {
      rates.forEach((_, k) => {
        const a = simd[k].process(input.subarray(i, i + 960));
        const b = js[k].process(input.subarray(i, i + 960));
        expect(a.length).toBe(b.length);
        for (let j = 0; j < a.length; j++) expect(Math.abs(a[j] - b[j])).toBeLessThanOrEqual(1);
      });
    }
  });

  it('should reuse one output buffer when asked to, with the same samples', () => {
    const input = tone(440, 24000, 0.2);
    const reused = new Resampler(24000, 16000, { reuseOutput: true });
    reused.process(input.subarray(0, 480)); // the first call yields less (the filter's look-ahead)
    const second = reused.process(input.subarray(480, 960));
    const third = reused.process(input.subarray(960, 1440));
    expect(third.buffer).toBe(second.buffer); // overwritten by the next call
    expect(resampleInChunks(input, 24000, 16000, 480, { reuseOutput: true })).toEqual(
      resampleInChunks(input, 24000, 16000, 480),
    );
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
