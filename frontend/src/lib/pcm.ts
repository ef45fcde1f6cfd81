/** Decode standard base64 into raw bytes. */
export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Interpret bytes as signed 16-bit little-endian samples (a trailing odd byte is ignored). */
export function bytesToInt16(bytes: Uint8Array): Int16Array {
  const n = bytes.length >> 1;
  const out = new Int16Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Scale Int16 samples into [-1, 1). */
export function int16ToFloat32(samples: Int16Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i] / 32768;
  return out;
}

/**
 * Streaming s16le decoder: keeps an odd trailing byte and prepends it to the next
 * chunk, so samples split across frames are not lost or misaligned.
 */
export class Pcm16Decoder {
  private carry: number | null = null;

  push(bytes: Uint8Array): Int16Array {
    let buf = bytes;
    if (this.carry !== null) {
      buf = new Uint8Array(bytes.length + 1);
      buf[0] = this.carry;
      buf.set(bytes, 1);
      this.carry = null;
    }
    if (buf.length % 2 === 1) this.carry = buf[buf.length - 1];
    return bytesToInt16(buf);
  }
}
