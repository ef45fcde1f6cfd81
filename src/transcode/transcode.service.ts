import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { AudioChunk } from '../providers/provider.contract';
import {
  AUDIO_FORMAT_SPECS,
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  type AudioFormat,
  type AudioFormatSpec,
} from './audio-format';
import { concatBytes } from './bytes';
import { Resampler, resampledLength } from './resampler';
import { AUDIO_ENCODER_FACTORIES } from './transcode.tokens';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from './transcoder.types';

const EMPTY = new Uint8Array(0);

/**
 * One stream's transcoding pipeline: provider PCM at any rate → stateful resampler → stateful encoder.
 * A provider may change rate mid-stream (rare); the old resampler is flushed into the encoder first.
 */
export class TranscodeStream {
  private resampler: Resampler | undefined;
  private outputSamples = 0;

  constructor(private readonly encoder: AudioEncoder) {}

  get format(): AudioFormat {
    return this.encoder.format;
  }

  get sampleRate(): number {
    return this.encoder.sampleRate;
  }

  /** Milliseconds of audio handed to the encoder so far, at the output rate. */
  get audioMs(): number {
    return (this.outputSamples * 1000) / this.encoder.sampleRate;
  }

  write(chunk: AudioChunk): Promise<Uint8Array> {
    if (this.resampler && this.resampler.inRate !== chunk.sampleRate) return this.switchRate(chunk);
    try {
      // Per chunk: one resampler call into its reused buffer, one encoder call that copies out of it.
      this.resampler ??= this.newResampler(chunk.sampleRate);
      return this.encodePcm(this.resampler.process(chunk.pcm));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Flushes resampler and encoder: the bytes that end the stream (may be empty). */
  async end(): Promise<Uint8Array> {
    const tail = this.resampler ? await this.encodePcm(this.resampler.flush()) : EMPTY;
    return concatBytes([tail, await this.encoder.flush()]);
  }

  dispose(): void {
    this.encoder.dispose();
  }

  /** The provider changed rate mid-stream (rare): the old resampler's tail goes to the encoder first. */
  private async switchRate(chunk: AudioChunk): Promise<Uint8Array> {
    const tail = await this.encodePcm(this.resampler!.flush());
    this.resampler = this.newResampler(chunk.sampleRate);
    return concatBytes([tail, await this.encodePcm(this.resampler.process(chunk.pcm))]);
  }

  private newResampler(inRate: number): Resampler {
    // Every encoder copies its input before `encode` returns (AudioEncoder.encode), so one output buffer
    // per stream serves every chunk.
    return new Resampler(inRate, this.encoder.sampleRate, { reuseOutput: true });
  }

  private encodePcm(pcm: Int16Array): Promise<Uint8Array> {
    if (pcm.length === 0) return Promise.resolve(EMPTY);
    this.outputSamples += pcm.length;
    return this.encoder.encode(pcm);
  }
}

@Injectable()
export class TranscodeService {
  private readonly factories = new Map<AudioFormat, AudioEncoderFactory>();

  constructor(@Inject(AUDIO_ENCODER_FACTORIES) factories: AudioEncoderFactory[]) {
    for (const factory of factories)
      for (const format of factory.formats) this.factories.set(format, factory);
  }

  /** Formats this server can produce right now (a factory may depend on a binary such as ffmpeg). */
  supportedFormats(): AudioFormat[] {
    return [...this.factories.keys()].filter((format) => this.isAvailable(format));
  }

  spec(format: AudioFormat): AudioFormatSpec {
    return AUDIO_FORMAT_SPECS[format];
  }

  /**
   * Checks a format/rate pair and returns the rate to use (the format's default when none was asked).
   * Throws a 400 naming the field and the allowed values.
   */
  resolveSampleRate(format: AudioFormat, requested: number | undefined, field = 'sample_rate_hz'): number {
    const spec = AUDIO_FORMAT_SPECS[format];
    const rate = requested ?? spec.defaultSampleRate;
    if (!Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
      throw new GatewayException(
        ErrorCode.UnsupportedSampleRate,
        `${field} must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (got ${String(requested)})`,
        { field },
      );
    }
    if (spec.sampleRates && !spec.sampleRates.includes(rate)) {
      throw new GatewayException(
        ErrorCode.UnsupportedSampleRate,
        `${field} ${rate} is not available for ${format}; allowed: ${spec.sampleRates.join(', ')}`,
        { field, allowed: spec.sampleRates },
      );
    }
    return rate;
  }

  /** A 400 naming the formats this build can produce, when `format` is not one of them. */
  assertSupported(format: AudioFormat, field = 'target_format'): void {
    if (!this.isAvailable(format)) {
      throw new GatewayException(
        ErrorCode.UnsupportedFormat,
        `${field} "${format}" is not available; available formats: ${this.supportedFormats().join(', ')}`,
        { field, allowed: this.supportedFormats() },
      );
    }
  }

  createEncoder(options: EncoderOptions): AudioEncoder {
    this.assertSupported(options.format);
    return this.factories.get(options.format)!.create(options);
  }

  /** A stream in `format` will open soon (see `AudioEncoderFactory.prepare`): lets its factory get ready. */
  prepare(format: AudioFormat): void {
    try {
      this.factories.get(format)?.prepare?.(format);
    } catch {
      // Only the head start is lost: the stream's own open starts what it needs and reports any failure.
    }
  }

  openStream(options: EncoderOptions): TranscodeStream {
    return new TranscodeStream(this.createEncoder(options));
  }

  /**
   * Samples a stream emits at `outRate` for `inputSamples` provider samples at `inRate`: exactly
   * ceil(n x out / in), what the resampler produces. A caller holding the whole utterance passes it as
   * `EncoderOptions.totalSamples` (summed per segment if the provider's rate changes mid-stream).
   */
  outputSamples(inputSamples: number, inRate: number, outRate: number): number {
    return resampledLength(inputSamples, inRate, outRate);
  }

  private isAvailable(format: AudioFormat): boolean {
    const factory = this.factories.get(format);
    return factory !== undefined && (factory.isAvailable?.(format) ?? true);
  }
}
