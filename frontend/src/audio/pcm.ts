/** Decode standard base64 into bytes. */
export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Concatenate byte chunks into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The mean of several channels' planes (all of one length). */
export function mixToMono(planes: readonly Float32Array[]): Float32Array<ArrayBuffer> {
  const out = new Float32Array(planes[0]?.length ?? 0);
  for (const plane of planes) for (let i = 0; i < out.length; i++) out[i] += plane[i] / planes.length;
  return out;
}

/** s16le bytes → floats in [-1, 1); a trailing odd byte is ignored. */
export function s16leToFloat32(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const n = bytes.length >> 1;
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
  return out;
}

/**
 * Linear-interpolating resampler with state across chunks (for audio whose rate differs from the
 * AudioContext's; speech-grade, not hi-fi). Output length tracks input length × ratio exactly over time.
 */
export class LinearResampler {
  private readonly step: number;
  private pos = 0; // position of the next output sample, in input samples, relative to `prev`
  private prev = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.step = fromRate / toRate;
  }

  process(input: Float32Array): Float32Array<ArrayBuffer> {
    if (this.fromRate === this.toRate) return Float32Array.from(input);
    // Sample k of the virtual signal: k = 0 is `prev` (the last sample of the previous chunk), then input.
    const at = (k: number) => (k === 0 ? this.prev : input[k - 1]);
    const out: number[] = [];
    while (Math.floor(this.pos) + 1 <= input.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      out.push(at(i) + (at(i + 1) - at(i)) * frac);
      this.pos += this.step;
    }
    if (input.length > 0) {
      this.prev = input[input.length - 1];
      this.pos -= input.length;
    }
    return Float32Array.from(out);
  }
}
