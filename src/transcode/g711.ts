/**
 * ITU-T G.711 mu-law and A-law encoders with 64 Ki-entry lookup tables (built once, 128 KiB in all).
 * About 20 lines each; the `alawmulaw` package does the same job unmaintained since 2019.
 */

function muLawOf(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(sign ? -sample : sample, CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = ~(sign | (exponent << 4) | mantissa) & 0xff;
  return magnitude;
}

function aLawOf(sample: number): number {
  const sign = sample >= 0 ? 0x80 : 0;
  const magnitude = Math.min(sample >= 0 ? sample : -sample - 1, 32767);
  let code: number;
  if (magnitude < 256) {
    code = magnitude >> 4;
  } else {
    let exponent = 7;
    for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 1; mask >>= 1) exponent--;
    code = (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0f);
  }
  return (code | sign) ^ 0x55;
}

let muTable: Uint8Array | undefined;
let aTable: Uint8Array | undefined;

function table(build: (sample: number) => number): Uint8Array {
  const t = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = build(i - 32768);
  return t;
}

export function encodeMuLaw(pcm: Int16Array): Uint8Array {
  const t = (muTable ??= table(muLawOf));
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = t[pcm[i] + 32768];
  return out;
}

export function encodeALaw(pcm: Int16Array): Uint8Array {
  const t = (aTable ??= table(aLawOf));
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = t[pcm[i] + 32768];
  return out;
}
