/**
 * Resampler speed: the SIMD kernel and the JS loop it falls back to, on the ratios the gateway meets
 * (24 kHz engines to 16 and 8 kHz telephony/ASR rates, 22.05 kHz engines to 16 and 24 kHz) and one odd
 * rate (interpolated between phases). 2 s of speech-like input in 20 ms chunks, as a provider yields it,
 * through a stream's resampler (output buffer reused, as TranscodeStream does); median of 21 rounds with
 * the variants interleaved, so machine noise hits all of them alike.
 */
import { Resampler } from '../../src/transcode/resampler';
import { median } from './measure';

export interface ResamplerRow {
  readonly from: number;
  readonly to: number;
  /** Nanoseconds per output sample. */
  readonly simdNs: number;
  readonly jsNs: number;
}

const PAIRS: readonly [number, number][] = [
  [24000, 16000],
  [24000, 8000],
  [22050, 16000],
  [22050, 24000],
  [16000, 8001],
];
const ROUNDS = 21;

function nsPerOutput(from: number, to: number, input: Int16Array, simd: boolean): number {
  const resampler = new Resampler(from, to, { simd, reuseOutput: true });
  const chunk = Math.round(from * 0.02);
  const t0 = process.hrtime.bigint();
  let outputs = 0;
  for (let i = 0; i < input.length; i += chunk)
    outputs += resampler.process(input.subarray(i, i + chunk)).length;
  outputs += resampler.flush().length;
  return Number(process.hrtime.bigint() - t0) / outputs;
}

export function resamplerSpeed(): ResamplerRow[] {
  return PAIRS.map(([from, to]) => {
    const input = Int16Array.from({ length: from * 2 }, (_, i) =>
      Math.round(8000 * Math.sin(i * 0.05) * Math.sin(i * 0.0011) + 3000 * Math.sin(i * 0.71)),
    );
    const simd: number[] = [];
    const js: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      simd.push(nsPerOutput(from, to, input, true));
      js.push(nsPerOutput(from, to, input, false));
    }
    return { from, to, simdNs: median(simd), jsNs: median(js) };
  });
}
