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
 */

import { LRUCache } from 'lru-cache';

const ZERO_CROSSINGS = 16;
const KAISER_BETA = 8;
const MAX_PHASES = 1024;
/**
 * Bound on the coefficient tables kept for reuse. A table costs (phases + 1) x taps x 4 bytes: ~300 KiB for
 * 24 -> 16 kHz, at most ~790 KiB (48 -> 8.001 kHz). Any integer rate from 8 to 48 kHz is accepted from
 * clients, so without a bound every distinct rate pair would pin its table forever. 8 MiB holds the tables
 * of a few dozen rate pairs at once, far more than a deployment uses; a live Resampler keeps its own
 * reference, so an evicted table stays valid for the streams already using it.
 */
export const FILTER_CACHE_MAX_BYTES = 8 * 1024 * 1024;

interface FilterBank {
  readonly halfTaps: number; // H: taps reach H-1 samples back and H samples ahead
  readonly phases: number; // P
  readonly L: number;
  readonly M: number;
  /** (P + 1) rows of 2H coefficients; row k is for fractional offset k/P. */
  readonly table: Float32Array;
}

const banks = new LRUCache<string, FilterBank>({
  maxSize: FILTER_CACHE_MAX_BYTES,
  sizeCalculation: (bank) => bank.table.byteLength,
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

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
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

  const bank = { halfTaps, phases, L, M, table };
  banks.set(key, bank);
  return bank;
}

export class Resampler {
  private readonly bank: FilterBank | undefined;
  /** Input history and look-ahead; buf[0] is absolute input index `bufStart`. */
  private buf = new Float32Array(0);
  private bufLen = 0;
  private bufStart = 0;
  /** Next output position: input index `pos` plus fraction `phase / L`. */
  private pos = 0;
  private phase = 0;
  private inputSamples = 0;
  private outputSamples = 0;

  constructor(
    readonly inRate: number,
    readonly outRate: number,
  ) {
    if (!Number.isInteger(inRate) || !Number.isInteger(outRate) || inRate <= 0 || outRate <= 0) {
      throw new RangeError(`Resampler rates must be positive integers (got ${inRate} -> ${outRate})`);
    }
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
    const { halfTaps, phases, L, M, table } = this.bank!;
    const taps = 2 * halfTaps;
    const available = this.bufStart + this.bufLen; // one past the last absolute input index held
    const estimate = Math.max(0, Math.ceil(((available - halfTaps - this.pos) * L) / M) + 1);
    const out = new Int16Array(Math.min(limit, estimate));
    let n = 0;
    const buf = this.buf;

    while (n < out.length && this.pos + halfTaps < available) {
      const base = this.pos - halfTaps + 1 - this.bufStart;
      const exact = phases === L;
      const scaled = exact ? this.phase : (this.phase * phases) / L;
      const k = exact ? this.phase : Math.floor(scaled);
      const w = scaled - k;
      let acc = 0;
      const row = k * taps;
      for (let t = 0; t < taps; t++) acc += buf[base + t] * table[row + t];
      if (w > 0) {
        let next = 0;
        const row2 = row + taps;
        for (let t = 0; t < taps; t++) next += buf[base + t] * table[row2 + t];
        acc += (next - acc) * w;
      }
      out[n++] = acc >= 32767 ? 32767 : acc <= -32768 ? -32768 : Math.round(acc);

      this.phase += M;
      if (this.phase >= L) {
        const whole = Math.floor(this.phase / L);
        this.pos += whole;
        this.phase -= whole * L;
      }
    }
    this.outputSamples += n;
    this.compact();
    return n === out.length ? out : out.subarray(0, n);
  }

  private append(input: Int16Array): void {
    const needed = this.bufLen + input.length;
    if (needed > this.buf.length) {
      const grown = new Float32Array(Math.max(needed, this.buf.length * 2, 1024));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    for (let i = 0; i < input.length; i++) this.buf[this.bufLen + i] = input[i];
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
