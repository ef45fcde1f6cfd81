import { Injectable } from '@nestjs/common';
import type { AudioFormat } from '../audio-format';
import { encodeALaw, encodeMuLaw } from '../g711';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from '../transcoder.types';
import { concatBytes } from '../bytes';
import { wavHeader } from './wav-header';

const EMPTY = new Uint8Array(0);

/** Little-endian bytes of s16 samples (a view when the platform is little-endian, as every Node target is). */
export function pcm16Bytes(pcm: Int16Array): Uint8Array {
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
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

/**
 * WAV. Streamed: the header (sizes 0xFFFFFFFF) goes out with the first audio. Whole-file: PCM is held until
 * `flush`, which writes the header with the real RIFF and data sizes.
 */
class WavEncoder implements AudioEncoder {
  readonly format = 'wav' as const;
  private headerSent = false;
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;

  constructor(
    readonly sampleRate: number,
    private readonly wholeFile: boolean,
  ) {}

  encode(pcm: Int16Array): Promise<Uint8Array> {
    const bytes = pcm16Bytes(pcm);
    if (this.wholeFile) {
      this.held.push(bytes.slice());
      this.heldBytes += bytes.length;
      return Promise.resolve(EMPTY);
    }
    if (this.headerSent) return Promise.resolve(bytes);
    this.headerSent = true;
    return Promise.resolve(concatBytes([wavHeader(this.sampleRate), bytes]));
  }

  flush(): Promise<Uint8Array> {
    if (this.wholeFile)
      return Promise.resolve(concatBytes([wavHeader(this.sampleRate, this.heldBytes), ...this.held]));
    // A stream with no audio at all is still a valid (empty) WAV.
    if (!this.headerSent) return Promise.resolve(wavHeader(this.sampleRate));
    return Promise.resolve(EMPTY);
  }

  dispose(): void {
    this.held.length = 0;
  }
}

@Injectable()
export class PcmEncoderFactory implements AudioEncoderFactory {
  readonly formats = ['pcm16', 'mulaw', 'alaw', 'wav'] as const;

  create({ format, sampleRate, wholeFile }: EncoderOptions): AudioEncoder {
    switch (format) {
      case 'pcm16':
        // Copy: the caller may reuse the PCM buffer after we return.
        return new SampleEncoder(format, sampleRate, (pcm) => pcm16Bytes(pcm).slice());
      case 'mulaw':
        return new SampleEncoder(format, sampleRate, encodeMuLaw);
      case 'alaw':
        return new SampleEncoder(format, sampleRate, encodeALaw);
      case 'wav':
        return new WavEncoder(sampleRate, wholeFile ?? false);
      case 'mp3':
      case 'opus':
      case 'flac':
      case 'aac':
        throw new Error(`PcmEncoderFactory cannot encode ${format}`);
    }
  }
}
