import { Injectable } from '@nestjs/common';
import type { AudioFormat } from '../audio-format';
import { encodeALaw, encodeMuLaw } from '../g711';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from '../transcoder.types';
import { concatBytes } from '../bytes';
import { SampleBudget } from './sample-budget';
import { WAV_HEADER_BYTES, wavHeader } from './wav-header';

const EMPTY = new Uint8Array(0);

/** Little-endian bytes of s16 samples (a view when the platform is little-endian, as every Node target is). */
export function pcm16Bytes(pcm: Int16Array): Uint8Array {
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** Runs a synchronous encoder step as the promise the interface returns (a throw becomes a rejection). */
function settle(step: () => Uint8Array): Promise<Uint8Array> {
  try {
    return Promise.resolve(step());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Stateless sample-wise formats: raw pcm16, G.711 mu-law and A-law. Synchronous, so no worker is needed. */
class SampleEncoder implements AudioEncoder {
  constructor(
    readonly format: AudioFormat,
    readonly sampleRate: number,
    private readonly encodeSamples: (pcm: Int16Array) => Uint8Array,
  ) {}

  encode(pcm: Int16Array): Promise<Uint8Array> {
    return Promise.resolve(this.encodeSamples(pcm));
  }

  flush(): Promise<Uint8Array> {
    return Promise.resolve(EMPTY);
  }

  dispose(): void {}
}

/** Bytes of PCM16 data a RIFF header can state: its RIFF size field (36 + data) is 32 bits. */
const WAV_MAX_SAMPLES = Math.floor((0xffffffff - 36) / 2);

/**
 * WAV, three ways:
 * - streamed: the header (sizes 0xFFFFFFFF, "until EOF") goes out with the first audio;
 * - whole file with `totalSamples`: the header with the exact RIFF and data sizes goes out with the first
 *   audio, and the samples stream behind it;
 * - whole file without a known length: PCM is held until `flush`, which writes the exact header first.
 */
class WavEncoder implements AudioEncoder {
  readonly format = 'wav' as const;
  private headerSent = false;
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  private readonly budget: SampleBudget | undefined;

  constructor(
    readonly sampleRate: number,
    private readonly wholeFile: boolean,
    totalSamples: number | undefined,
  ) {
    if (wholeFile && totalSamples !== undefined)
      this.budget = new SampleBudget(totalSamples, WAV_MAX_SAMPLES);
  }

  encode(pcm: Int16Array): Promise<Uint8Array> {
    return settle(() => {
      // Copy: the caller may reuse its PCM buffer once this returns.
      const bytes = pcm16Bytes(pcm);
      if (this.budget) {
        this.budget.take(pcm.length);
        return this.withHeader(bytes, this.budget.total * 2);
      }
      if (this.wholeFile) {
        this.held.push(bytes.slice());
        this.heldBytes += bytes.length;
        return EMPTY;
      }
      return this.withHeader(bytes, undefined);
    });
  }

  flush(): Promise<Uint8Array> {
    return settle(() => {
      if (this.budget) {
        this.budget.finish();
        return this.headerSent ? EMPTY : this.withHeader(EMPTY, 0);
      }
      if (this.wholeFile) return concatBytes([wavHeader(this.sampleRate, this.heldBytes), ...this.held]);
      // A stream with no audio at all is still a valid (empty) WAV.
      return this.headerSent ? EMPTY : this.withHeader(EMPTY, undefined);
    });
  }

  dispose(): void {
    this.held.length = 0;
  }

  /** The bytes, with the header in front if it has not gone out yet (always a new array). */
  private withHeader(bytes: Uint8Array, dataBytes: number | undefined): Uint8Array {
    if (this.headerSent) return bytes.slice();
    this.headerSent = true;
    const out = new Uint8Array(WAV_HEADER_BYTES + bytes.length);
    out.set(wavHeader(this.sampleRate, dataBytes));
    out.set(bytes, WAV_HEADER_BYTES);
    return out;
  }
}

@Injectable()
export class PcmEncoderFactory implements AudioEncoderFactory {
  readonly formats = ['pcm16', 'mulaw', 'alaw', 'wav'] as const;

  create({ format, sampleRate, wholeFile, totalSamples }: EncoderOptions): AudioEncoder {
    switch (format) {
      case 'pcm16':
        // Copy: the caller may reuse the PCM buffer after we return.
        return new SampleEncoder(format, sampleRate, (pcm) => pcm16Bytes(pcm).slice());
      case 'mulaw':
        return new SampleEncoder(format, sampleRate, encodeMuLaw);
      case 'alaw':
        return new SampleEncoder(format, sampleRate, encodeALaw);
      case 'wav':
        return new WavEncoder(sampleRate, wholeFile ?? false, totalSamples);
      case 'mp3':
      case 'opus':
      case 'flac':
      case 'aac':
        throw new Error(`PcmEncoderFactory cannot encode ${format}`);
    }
  }
}
