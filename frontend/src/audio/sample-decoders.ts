import { ALAW_TO_FLOAT, MULAW_TO_FLOAT, decodeG711 } from './g711';
import { concatBytes, s16leToFloat32 } from './pcm';
import { WAVE_FORMAT_ALAW, WAVE_FORMAT_MULAW, WAVE_FORMAT_PCM, parseWavHeader } from './wav';

/** Turns the bytes of a raw-sample stream into mono floats, chunk by chunk, with no look-ahead. */
export interface SampleDecoder {
  push(bytes: Uint8Array): Float32Array;
  /** The stream's rate: known up front, or once a WAV header has arrived. */
  readonly sampleRate: number | null;
}

export type SampleFormat = 'pcm16' | 'mulaw' | 'alaw' | 'wav';

/** s16le; keeps a byte of a sample split across two chunks. */
class S16Decoder implements SampleDecoder {
  private carry: number | null = null;

  constructor(readonly sampleRate: number) {}

  push(bytes: Uint8Array): Float32Array {
    let buf = bytes;
    if (this.carry !== null) {
      buf = new Uint8Array(bytes.length + 1);
      buf[0] = this.carry;
      buf.set(bytes, 1);
      this.carry = null;
    }
    if (buf.length % 2 === 1) this.carry = buf[buf.length - 1];
    return s16leToFloat32(buf);
  }
}

class G711Decoder implements SampleDecoder {
  constructor(
    readonly sampleRate: number,
    private readonly table: Float32Array,
  ) {}

  push(bytes: Uint8Array): Float32Array {
    return decodeG711(bytes, this.table);
  }
}

/** Frames of `channels` interleaved samples → their mean. */
class Downmix implements SampleDecoder {
  private pending = new Float32Array(0);

  constructor(
    private readonly inner: SampleDecoder,
    private readonly channels: number,
  ) {}

  get sampleRate() {
    return this.inner.sampleRate;
  }

  push(bytes: Uint8Array): Float32Array {
    const decoded = this.inner.push(bytes);
    const all = new Float32Array(this.pending.length + decoded.length);
    all.set(this.pending);
    all.set(decoded, this.pending.length);
    const frames = Math.floor(all.length / this.channels);
    const out = new Float32Array(frames);
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < this.channels; c++) sum += all[f * this.channels + c];
      out[f] = sum / this.channels;
    }
    this.pending = all.slice(frames * this.channels);
    return out;
  }
}

/**
 * Streamed WAV: holds bytes until the header (up to the `data` chunk) is complete — the gateway's has sizes
 * 0xFFFFFFFF — then decodes the samples it declares (PCM 16, µ-law or A-law).
 */
class WavStreamDecoder implements SampleDecoder {
  private head: Uint8Array[] | null = [];
  private inner: SampleDecoder | null = null;

  get sampleRate() {
    return this.inner?.sampleRate ?? null;
  }

  push(bytes: Uint8Array): Float32Array {
    if (this.inner) return this.inner.push(bytes);
    this.head!.push(bytes);
    const all = concatBytes(this.head!);
    const header = parseWavHeader(all);
    if (!header) return new Float32Array(0);
    this.head = null;
    let inner: SampleDecoder;
    if (header.formatTag === WAVE_FORMAT_PCM && header.bitsPerSample === 16)
      inner = new S16Decoder(header.sampleRate);
    else if (header.formatTag === WAVE_FORMAT_MULAW)
      inner = new G711Decoder(header.sampleRate, MULAW_TO_FLOAT);
    else if (header.formatTag === WAVE_FORMAT_ALAW) inner = new G711Decoder(header.sampleRate, ALAW_TO_FLOAT);
    else
      throw new Error(
        `WAV format ${header.formatTag}/${header.bitsPerSample}-bit is not supported by the demo`,
      );
    this.inner = header.channels > 1 ? new Downmix(inner, header.channels) : inner;
    return this.inner.push(all.subarray(header.dataOffset));
  }
}

export function createSampleDecoder(format: SampleFormat, sampleRate: number): SampleDecoder {
  switch (format) {
    case 'pcm16':
      return new S16Decoder(sampleRate);
    case 'mulaw':
      return new G711Decoder(sampleRate, MULAW_TO_FLOAT);
    case 'alaw':
      return new G711Decoder(sampleRate, ALAW_TO_FLOAT);
    case 'wav':
      return new WavStreamDecoder();
  }
}
