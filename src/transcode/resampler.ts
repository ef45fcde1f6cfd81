/**
 * Streaming polyphase windowed-sinc resampler for mono s16 PCM, with state kept across chunks so chunk seams
 * are inaudible, and zero lag (the filter is centred; it holds back only its half-width of input).
 *
 * Written by hand because no maintained Node library fits: libsamplerate-js SINC_FASTEST cuts the top 20%
 * of the band and costs 2 MiB per stream, speex-resampler is unmaintained since 2020, and ffmpeg/soxr would
 * mean a process per stream (see shared research, codecs.md §3).
 *
 * Design: output sample n sits at input position n*M/L (L/M = outRate/inRate reduced). Coefficients are
 * tabulated per fractional phase; exact for L <= MAX_PHASES (all common rate pairs), otherwise MAX_PHASES
 * phases with linear interpolation between neighbours (odd rates such as 8001 Hz).
 *
 * Speed: for exact ratios each output is one dot product with a precomputed row and a precomputed step to
 * the next phase, in fixed point (s16 input, 16-bit coefficients, exact 32-bit sums), run by a WebAssembly
 * SIMD kernel (resampler-kernel.ts; ~25x the original JS loop on 24 -> 16 kHz) or, without SIMD, by an
 * unrolled JS loop that computes the same sums. How many outputs a call yields is computed up front, so no
 * loop tests for the end of the input per sample. Odd ratios interpolate between float rows in JS.
 *
 * Fixed point: each row is normalised to unity gain at DC, then rounded to integers at 2^shift (shift 15
 * where the worst case allows it, see {@link fixedPoint}) that still sum to exactly 2^shift. The rounding
 * of 16-bit taps sets the stopband floor: what folds back is at most -74 dB on 24 -> 16 and 24 -> 8 kHz
 * (-78 dB on 22.05 -> 16 kHz), where float taps reach -82 to -88 dB; the passband is untouched, and the
 * tests bound aliasing at -60 dB. An s16 output's own quantisation noise is at -98 dB.
 */

import { LRUCache } from 'lru-cache';
import { KERNEL_BLOCK, simdKernel, type KernelBank } from './resampler-kernel';

const ZERO_CROSSINGS = 16;
const KAISER_BETA = 8;
const MAX_PHASES = 1024;
/**
 * Bound on the coefficient tables kept for reuse. A table costs (phases + 1) x taps x 4 bytes: under 1 KiB
 * for common pairs (24 -> 16 kHz has 2 phases), ~130-790 KiB for odd rates (1024 phases; 48 -> 8.001 kHz is
 * the largest). Any integer rate from 8 to 48 kHz is accepted from clients, so without a bound every
 * distinct rate pair would pin its table forever. 8 MiB holds a few dozen odd-rate tables at once, far
 * more than a deployment uses; a live Resampler keeps its own reference, so an evicted table stays valid
 * for the streams already using it.
 */
export const FILTER_CACHE_MAX_BYTES = 8 * 1024 * 1024;

interface FilterBank extends KernelBank {
  readonly halfTaps: number; // H: taps reach H-1 samples back and H samples ahead
  readonly phases: number; // P
  readonly L: number;
  readonly M: number;
  /** P === L: every output position falls exactly on a row (no interpolation between rows). */
  readonly exact: boolean;
  /** Interpolating banks: (P + 1) rows of 2H float coefficients; row k is for fractional offset k/P. */
  readonly table: Float32Array;
  /** Exact banks: P rows of 2H coefficients in fixed point (KernelBank); empty otherwise. */
  readonly fixed: Int16Array;
  /** Exact banks: per phase, the input advance and the next phase (empty otherwise). */
  readonly advance: Int32Array;
  readonly next: Int32Array;
}

const banks = new LRUCache<string, FilterBank>({
  maxSize: FILTER_CACHE_MAX_BYTES,
  sizeCalculation: (bank) =>
    bank.table.byteLength + bank.fixed.byteLength + bank.advance.byteLength + bank.next.byteLength,
});

export interface FilterCacheStats {
  /** Rate pairs whose coefficient table is cached. */
  readonly entries: number;
  /** Bytes of coefficient tables held by the cache (never above `maxBytes`). */
  readonly bytes: number;
  readonly maxBytes: number;
}

/** What the shared coefficient-table cache holds right now (for tests and diagnostics). */
export function filterCacheStats(): FilterCacheStats {
  return { entries: banks.size, bytes: banks.calculatedSize, maxBytes: FILTER_CACHE_MAX_BYTES };
}

/**
 * How many samples a Resampler emits in total for `inputSamples` (everything `process` returns plus
 * `flush`): exactly ceil(n x outRate / inRate), n itself when the rates are equal.
 */
export function resampledLength(inputSamples: number, inRate: number, outRate: number): number {
  if (inRate === outRate) return inputSamples;
  const g = gcd(inRate, outRate);
  return Math.ceil((inputSamples * (outRate / g)) / (inRate / g));
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  const q = (x * x) / 4;
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/** Coefficient tables are shared by every stream with the same rate pair (least recently used evicted first). */
function filterBank(inRate: number, outRate: number): FilterBank {
  const key = `${inRate}:${outRate}`;
  const cached = banks.get(key);
  if (cached) return cached;

  const g = gcd(inRate, outRate);
  const L = outRate / g;
  const M = inRate / g;
  const cutoff = Math.min(1, outRate / inRate); // relative to the input Nyquist
  const halfTaps = Math.ceil(ZERO_CROSSINGS / cutoff);
  const taps = 2 * halfTaps;
  const phases = Math.min(L, MAX_PHASES);
  const table = new Float32Array((phases + 1) * taps);
  // Every coefficient samples one even kernel at x = m / phases input samples (m integer, |m| <= H x phases),
  // so the kernel is evaluated once per |m| and scattered into the rows: half the work of evaluating each
  // row's taps separately, which matters because a new rate pair pays for its table on a stream's open.
  const kernel = new Float64Array(halfTaps * phases + 1);
  const i0Beta = besselI0(KAISER_BETA);
  for (let m = 0; m < kernel.length; m++) {
    const x = m / phases; // distance from the output position, in input samples
    const r = x / halfTaps;
    const window = r >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta;
    const arg = Math.PI * cutoff * x;
    kernel[m] = cutoff * (m === 0 ? 1 : Math.sin(arg) / arg) * window;
  }
  for (let k = 0; k <= phases; k++) {
    // Row k is for fractional offset k / phases: tap t sits at x = t - H + 1 - k / phases.
    const row = k * taps;
    let sum = 0;
    for (let t = 0; t < taps; t++) {
      const c = kernel[Math.abs(phases * (t - halfTaps + 1) - k)];
      table[row + t] = c;
      sum += c;
    }
    // Unity gain at DC for every phase, so steady signals carry no phase-dependent ripple.
    for (let t = 0; t < taps; t++) table[row + t] /= sum;
  }

  const exact = phases === L;
  const advance = new Int32Array(exact ? L : 0);
  const next = new Int32Array(exact ? L : 0);
  for (let k = 0; exact && k < L; k++) {
    advance[k] = Math.floor((k + M) / L);
    next[k] = (k + M) % L;
  }
  const { fixed, shift } = exact
    ? fixedPoint(table.subarray(0, phases * taps), taps)
    : { fixed: new Int16Array(0), shift: 0 };
  const bank = {
    halfTaps,
    phases,
    taps,
    L,
    M,
    exact,
    table: exact ? new Float32Array(0) : table,
    fixed,
    shift,
    advance,
    next,
  };
  banks.set(key, bank);
  return bank;
}

/** Largest sum a 32-bit accumulator holds, with the rounding term added. */
const I32_MAX = 2 ** 31 - 1;

/**
 * Rows of float coefficients (each summing to 1) as integers at 2^shift: 15 fraction bits unless a row's
 * worst case needs fewer, namely full-scale input (-32768) under every coefficient with the opposite sign,
 * which must stay within a 32-bit sum. Each row is rounded so that it sums to exactly 2^shift (unity DC
 * gain, exactly) with every tap within one unit of its float value: taps are rounded down, then the ones
 * with the largest remainders are rounded up until the sum is reached ("largest remainder" rounding).
 */
export function fixedPoint(rows: Float32Array, taps: number): { fixed: Int16Array; shift: number } {
  for (let shift = 15; ; shift--) {
    const scale = 2 ** shift;
    const fixed = new Float64Array(rows.length);
    let fits = true;
    for (let row = 0; row < rows.length && fits; row += taps) {
      const order: number[] = [];
      let sum = 0;
      for (let t = row; t < row + taps; t++) {
        fixed[t] = Math.floor(rows[t] * scale);
        sum += fixed[t];
        order.push(t);
      }
      const remainder = (t: number) => rows[t] * scale - fixed[t];
      order.sort((a, b) => remainder(b) - remainder(a));
      // Rounding down loses under one unit per tap, so fewer than `taps` need rounding up.
      for (let up = 0; up < scale - sum; up++) fixed[order[up]]++;
      let magnitude = 0;
      for (let t = row; t < row + taps; t++) {
        magnitude += Math.abs(fixed[t]);
        fits &&= fixed[t] >= -32768 && fixed[t] <= 32767;
      }
      fits &&= 32768 * magnitude + scale / 2 <= I32_MAX;
    }
    if (fits) return { fixed: Int16Array.from(fixed), shift };
  }
}

export interface ResamplerOptions {
  /**
   * Return views into one buffer the resampler owns and overwrites on the next `process`/`flush`,
   * instead of a new array per call: for callers that consume each result before the next call (the
   * encoders copy what they keep, see AudioEncoder.encode). Saves an allocation per chunk.
   */
  readonly reuseOutput?: boolean;
  /** Force the JS loop even where the SIMD kernel is available (tests compare the two). */
  readonly simd?: boolean;
}

export class Resampler {
  private readonly bank: FilterBank | undefined;
  private readonly reuseOutput: boolean;
  private readonly useSimd: boolean;
  /**
   * Input history and look-ahead; buf[0] is absolute input index `bufStart`. The s16 samples as they came
   * for exact banks (fixed point), as floats for interpolating ones.
   */
  private buf: Int16Array | Float32Array = new Int16Array(0);
  private bufLen = 0;
  private bufStart = 0;
  /** Next output position: input index `pos` plus fraction `phase / L`. */
  private pos = 0;
  private phase = 0;
  private inputSamples = 0;
  private outputSamples = 0;
  private output = new Int16Array(0);

  constructor(
    readonly inRate: number,
    readonly outRate: number,
    options: ResamplerOptions = {},
  ) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
      throw new RangeError(`Resampler rates must be positive integers (got ${inRate} -> ${outRate})`);
    }
    this.reuseOutput = options.reuseOutput ?? false;
    this.useSimd = options.simd ?? true;
    if (inRate !== outRate) {
      this.bank = filterBank(inRate, outRate);
      // Zeros before the first sample, so the first outputs see silence as their past.
      this.bufStart = -(this.bank.halfTaps - 1);
      this.append(new Int16Array(this.bank.halfTaps - 1));
    }
  }

  /** Resamples the next chunk; returns what can be computed now (it lags by the filter half-width). */
  process(input: Int16Array): Int16Array {
    if (!this.bank) return input;
    this.inputSamples += input.length;
    this.append(input);
    return this.drain(Number.POSITIVE_INFINITY);
  }

  /** Emits the remaining tail; the total output is exactly ceil(input * outRate / inRate) samples. */
  flush(): Int16Array {
    if (!this.bank) return new Int16Array(0);
    this.append(new Int16Array(this.bank.halfTaps + 1));
    return this.drain(resampledLength(this.inputSamples, this.inRate, this.outRate) - this.outputSamples);
  }

  private drain(limit: number): Int16Array {
    const bank = this.bank!;
    // Output j sits at input pos + floor((phase + j*M) / L) and needs input up to H samples past it, so the
    // outputs ready now are those with floor((phase + j*M) / L) <= last - H - pos.
    const reach = this.bufStart + this.bufLen - 1 - bank.halfTaps - this.pos;
    const ready = reach < 0 ? 0 : Math.ceil(((reach + 1) * bank.L - this.phase) / bank.M);
    const count = Math.min(limit, ready);
    const out = this.outputArray(count);
    if (count > 0) {
      const kernel = bank.exact && this.useSimd ? simdKernel() : null;
      if (kernel) {
        for (let done = 0; done < count;) {
          const n = Math.min(KERNEL_BLOCK, count - done);
          const first = this.pos - bank.halfTaps + 1 - this.bufStart;
          // Input the block reaches: up to H samples past its last output's position.
          const last = this.pos + Math.floor((this.phase + (n - 1) * bank.M) / bank.L) + bank.halfTaps;
          const history = this.buf as Int16Array; // exact banks keep s16 history
          this.pos += kernel.run(bank, history, first, last - this.bufStart + 1, this.phase, n, out, done);
          this.phase = kernel.phase;
          done += n;
        }
      } else if (bank.exact) {
        this.drainExact(out, count);
      } else {
        this.drainInterpolated(out, count);
      }
    }
    this.outputSamples += count;
    this.compact();
    return out;
  }

  /**
   * One row per phase and a precomputed step to the next: a dot product per output, no branches. The same
   * integer sums as the SIMD kernel (exact in doubles: each under 2^31), so the same samples.
   */
  private drainExact(out: Int16Array, count: number): void {
    const { halfTaps, taps, fixed, shift, advance, next } = this.bank!;
    const buf = this.buf;
    const half = 2 ** (shift - 1);
    const unit = 2 ** -shift; // a power of two: the product is exact, as the kernel's shift
    const blocks = taps & ~3;
    let base = this.pos - halfTaps + 1 - this.bufStart;
    let phase = this.phase;
    let advanced = 0;
    for (let n = 0; n < count; n++) {
      const row = phase * taps;
      // Four accumulators: the additions do not wait on each other, which is what bounds a single sum.
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let t = 0;
      for (; t < blocks; t += 4) {
        a0 += buf[base + t] * fixed[row + t];
        a1 += buf[base + t + 1] * fixed[row + t + 1];
        a2 += buf[base + t + 2] * fixed[row + t + 2];
        a3 += buf[base + t + 3] * fixed[row + t + 3];
      }
      for (; t < taps; t++) a0 += buf[base + t] * fixed[row + t];
      const v = Math.floor((a0 + a1 + (a2 + a3) + half) * unit);
      out[n] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      base += advance[phase];
      advanced += advance[phase];
      phase = next[phase];
    }
    this.pos += advanced;
    this.phase = phase;
  }

  /** Odd ratios (L > MAX_PHASES): interpolates linearly between the two nearest of the P rows. */
  private drainInterpolated(out: Int16Array, count: number): void {
    const { halfTaps, taps, phases, L, M, table } = this.bank!;
    const buf = this.buf;
    let pos = this.pos;
    let phase = this.phase;
    for (let n = 0; n < count; n++) {
      const base = pos - halfTaps + 1 - this.bufStart;
      const scaled = (phase * phases) / L;
      const k = Math.floor(scaled);
      const w = scaled - k;
      const row = k * taps;
      const row2 = row + taps;
      let a = 0;
      let b = 0;
      for (let t = 0; t < taps; t++) {
        const x = buf[base + t];
        a += x * table[row + t];
        b += x * table[row2 + t];
      }
      out[n] = clamp16(a + (b - a) * w);
      phase += M;
      if (phase >= L) {
        const whole = Math.floor(phase / L);
        pos += whole;
        phase -= whole * L;
      }
    }
    this.pos = pos;
    this.phase = phase;
  }

  private outputArray(count: number): Int16Array {
    if (!this.reuseOutput) return new Int16Array(count);
    if (this.output.length < count) this.output = new Int16Array(Math.max(count, 2 * this.output.length));
    return this.output.subarray(0, count);
  }

  private append(input: Int16Array): void {
    const needed = this.bufLen + input.length;
    if (needed > this.buf.length) {
      const length = Math.max(needed, this.buf.length * 2, 1024);
      const grown = this.bank!.exact ? new Int16Array(length) : new Float32Array(length);
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    this.buf.set(input, this.bufLen); // a copy for exact banks; s16 to float element by element otherwise
    this.bufLen = needed;
  }

  /** Drops input no future output can reach (everything before pos - H + 1). */
  private compact(): void {
    const keepFrom = this.pos - this.bank!.halfTaps + 1 - this.bufStart;
    if (keepFrom <= 0) return;
    this.buf.copyWithin(0, keepFrom, this.bufLen);
    this.bufLen -= keepFrom;
    this.bufStart += keepFrom;
  }
}

function clamp16(x: number): number {
  return x >= 32767 ? 32767 : x <= -32768 ? -32768 : Math.round(x);
}
