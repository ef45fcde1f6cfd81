import { endianness } from 'node:os';
import { concatTyped } from '../../common/concat';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * Decodes little-endian s16 bytes into a fresh Int16Array. Always copies: network and pipe buffers may sit at
 * odd offsets inside a pooled allocation that is reused after we return.
 */
export function pcm16FromLittleEndian(bytes: Uint8Array): Int16Array {
  const samples = bytes.length >> 1;
  const out = new Int16Array(samples);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, samples * 2));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, samples * 2);
    for (let i = 0; i < samples; i++) out[i] = view.getInt16(i * 2, true);
  }
  return out;
}

/**
 * Turns a byte stream of s16le into whole samples. Network chunks split samples anywhere (an odd byte count
 * in one chunk, the other half in the next), so the odd byte is carried over.
 */
export class Pcm16Decoder {
  private carry: number | undefined;

  push(bytes: Uint8Array): Int16Array {
    if (bytes.length === 0) return new Int16Array(0);
    let input = bytes;
    if (this.carry !== undefined) {
      input = new Uint8Array(bytes.length + 1);
      input[0] = this.carry;
      input.set(bytes, 1);
      this.carry = undefined;
    }
    if (input.length % 2 === 1) this.carry = input[input.length - 1];
    return pcm16FromLittleEndian(input);
  }

  /** Bytes left that do not make a whole sample (0 or 1) at the end of the stream. */
  get pendingBytes(): number {
    return this.carry === undefined ? 0 : 1;
  }
}

/** Splits `pcm` into views of at most `maxSamples` (no copy), so one huge buffer does not become one huge frame. */
export function* slicePcm(pcm: Int16Array, maxSamples: number): Generator<Int16Array> {
  for (let at = 0; at < pcm.length; at += maxSamples)
    yield pcm.subarray(at, Math.min(pcm.length, at + maxSamples));
}

/** The parts back to back (the part itself when there is one). */
export function concatPcm(parts: readonly Int16Array[]): Int16Array {
  return concatTyped(parts, (length) => new Int16Array(length));
}
