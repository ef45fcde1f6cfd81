/**
 * Opus complexity vs quality and CPU, to choose OPUS_COMPLEXITY. Encodes speech at every complexity with
 * the gateway's other settings (24 kHz, 32 kbps VBR, 20 ms, application audio; signal voice as the gateway
 * sets it, and auto to show libopus's own mode choice), decodes it
 * back with libopus and compares with the input:
 * - log-spectral distance (LSD, dB; lower is better) over speech-active 20 ms frames, a standard proxy for
 *   perceived spectral distortion when PESQ/ViSQOL are not at hand;
 * - segmental SNR (dB), meaningful only where the codec tracks the waveform (CELT), so shown for reference.
 *
 * Runs on the main thread while no pool thread encodes Opus (the binding is not thread-safe).
 */
import { Decoder, Encoder } from '@evan/opus';
import { OPUS_FRAME_MS } from '../../src/transcode/codecs/codec.types';

export interface ComplexityRow {
  readonly complexity: number;
  readonly xrt: number;
  readonly lsd: number;
  readonly segSnr: number;
  readonly kbps: number;
}

const FFT_SIZE = 512;

function fftPower(frame: Float64Array): Float64Array {
  const n = frame.length;
  const re = Float64Array.from(frame);
  const im = new Float64Array(n);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) [re[i], re[j]] = [re[j], re[i]];
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k);
        const wi = Math.sin(angle * k);
        const xr = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi;
        const xi = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;
        re[i + k + len / 2] = re[i + k] - xr;
        im[i + k + len / 2] = im[i + k] - xi;
        re[i + k] += xr;
        im[i + k] += xi;
      }
    }
  }
  const power = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) power[k] = re[k] * re[k] + im[k] * im[k];
  return power;
}

function quality(reference: Int16Array, decoded: Int16Array, rate: number): { lsd: number; segSnr: number } {
  const hop = (rate * OPUS_FRAME_MS) / 1000;
  const window = Float64Array.from(
    { length: FFT_SIZE },
    (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE),
  );
  let energyMax = 0;
  for (let s = 0; s + FFT_SIZE < reference.length; s += hop) {
    let e = 0;
    for (let i = 0; i < FFT_SIZE; i++) e += reference[s + i] ** 2;
    energyMax = Math.max(energyMax, e);
  }
  let lsdSum = 0;
  let snrSum = 0;
  let frames = 0;
  for (let s = 0; s + FFT_SIZE < Math.min(reference.length, decoded.length); s += hop) {
    const x = new Float64Array(FFT_SIZE);
    const y = new Float64Array(FFT_SIZE);
    let ex = 0;
    let en = 0;
    for (let i = 0; i < FFT_SIZE; i++) {
      x[i] = reference[s + i] * window[i];
      y[i] = decoded[s + i] * window[i];
      ex += reference[s + i] ** 2;
      en += (reference[s + i] - decoded[s + i]) ** 2;
    }
    if (ex < energyMax * 1e-3) continue; // silence and near-silence: not speech
    const px = fftPower(x);
    const py = fftPower(y);
    let d = 0;
    for (let k = 1; k < px.length; k++) d += (10 * Math.log10((px[k] + 1) / (py[k] + 1))) ** 2;
    lsdSum += Math.sqrt(d / (px.length - 1));
    snrSum += Math.max(-10, Math.min(35, 10 * Math.log10(ex / Math.max(en, 1))));
    frames++;
  }
  return { lsd: lsdSum / frames, segSnr: snrSum / frames };
}

export function opusComplexitySweep(
  speech: Int16Array,
  rate: number,
  seconds: number,
  signal: 'voice' | 'auto',
): ComplexityRow[] {
  const frame = (rate * OPUS_FRAME_MS) / 1000;
  const input = speech.subarray(0, Math.floor((rate * seconds) / frame) * frame);
  const rows: ComplexityRow[] = [];
  for (let complexity = 0; complexity <= 10; complexity++) {
    const encoder = new Encoder({ channels: 1, sample_rate: rate as 24000, application: 'audio' });
    encoder.complexity = complexity as 5;
    encoder.bitrate = 32000;
    encoder.vbr = true;
    encoder.signal = signal;
    const lookahead = (encoder as unknown as { lookahead: number }).lookahead;
    const packets: Uint8Array[] = [];
    const t0 = performance.now();
    // Pad with a lookahead's worth of zeros so the decoded output covers the whole input.
    const padded = new Int16Array(input.length + Math.ceil(lookahead / frame) * frame);
    padded.set(input);
    for (let i = 0; i < padded.length; i += frame)
      packets.push(encoder.encode(padded.subarray(i, i + frame)));
    const encodeSeconds = (performance.now() - t0) / 1000;

    const decoder = new Decoder({ channels: 1, sample_rate: rate as 24000 });
    const decoded = new Int16Array(padded.length);
    let at = 0;
    for (const packet of packets) {
      const pcm = decoder.decode(packet);
      decoded.set(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength / 2), at);
      at += pcm.byteLength / 2;
    }
    const aligned = decoded.subarray(lookahead, lookahead + input.length);
    const bytes = packets.reduce((n, p) => n + p.length, 0);
    rows.push({
      complexity,
      xrt: input.length / rate / encodeSeconds,
      ...quality(input, aligned, rate),
      kbps: (bytes * 8) / (input.length / rate) / 1000,
    });
  }
  return rows;
}
