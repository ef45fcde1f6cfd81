// ITU-T G.711 decoders (byte → linear 16-bit PCM), as tables: one lookup per sample.

export function mulawToLinear(u: number): number {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return sign ? -magnitude : magnitude;
}

export function alawToLinear(a: number): number {
  a ^= 0x55;
  const sign = a & 0x80;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return sign ? magnitude : -magnitude;
}

function table(decode: (byte: number) => number): Float32Array {
  return Float32Array.from({ length: 256 }, (_, i) => decode(i) / 32768);
}

export const MULAW_TO_FLOAT = table(mulawToLinear);
export const ALAW_TO_FLOAT = table(alawToLinear);

export function decodeG711(bytes: Uint8Array, lookup: Float32Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = lookup[bytes[i]];
  return out;
}
