import { Injectable } from '@nestjs/common';
import { MP3_SAMPLE_RATES, OPUS_SAMPLE_RATES, type AudioFormat } from '../audio-format';
import { concatBytes } from '../bytes';
import { withInfoFrame } from '../codecs/mp3-info-tag';
import type { PooledCodec } from '../codecs/codec.types';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from '../transcoder.types';
import { CodecWorkerPool, type CodecChannel } from '../workers/codec-worker.pool';
import { SampleBudget } from './sample-budget';

const EMPTY = new Uint8Array(0);

/** An AudioEncoder whose codec lives on a pool thread; every call is one message there and back. */
class PooledEncoder implements AudioEncoder {
  constructor(
    readonly format: AudioFormat,
    readonly sampleRate: number,
    private readonly channel: CodecChannel,
  ) {}

  encode(pcm: Int16Array): Promise<Uint8Array> {
    return this.channel.encode(pcm);
  }

  flush(): Promise<Uint8Array> {
    return this.channel.flush();
  }

  dispose(): void {
    this.channel.close();
  }
}

/** Samples an MP3 Info frame can describe (its frame and byte counts are 32-bit). */
const MP3_MAX_SAMPLES = 0xffffffff;

/**
 * A whole MP3 file with a Xing/Info frame and LAME tag in front (exact length, gapless trim). The tag
 * describes every frame, so the frames are held until `flush`; MP3 is small (48 kbps = 6 KB/s) and the
 * caller bounds the utterance, so holding a whole file costs little.
 */
class TaggedMp3Encoder implements AudioEncoder {
  readonly format = 'mp3' as const;
  private held: Uint8Array[] = [];

  constructor(
    private readonly inner: AudioEncoder,
    private readonly budget: SampleBudget,
  ) {}

  get sampleRate(): number {
    return this.inner.sampleRate;
  }

  async encode(pcm: Int16Array): Promise<Uint8Array> {
    this.budget.take(pcm.length);
    const bytes = await this.inner.encode(pcm);
    if (bytes.length > 0) this.held.push(bytes);
    return EMPTY;
  }

  async flush(): Promise<Uint8Array> {
    this.budget.finish();
    this.held.push(await this.inner.flush());
    const frames = concatBytes(this.held);
    this.held = [];
    return withInfoFrame(frames, this.budget.total);
  }

  dispose(): void {
    this.held = [];
    this.inner.dispose();
  }
}

function openPooled(
  pool: CodecWorkerPool,
  codec: PooledCodec & AudioFormat,
  rates: readonly number[],
  { format, sampleRate, wholeFile, totalSamples }: EncoderOptions,
): AudioEncoder {
  if (format !== codec) throw new Error(`${codec} encoder factory cannot encode ${format}`);
  // TranscodeService.resolveSampleRate has already turned a bad rate into a 400; this guards direct use.
  if (!rates.includes(sampleRate)) throw new RangeError(`${codec} cannot encode at ${sampleRate} Hz`);
  // Checked before a codec is opened, so a bad count cannot leak a worker-side stream.
  const budget =
    codec === 'mp3' && wholeFile && totalSamples !== undefined
      ? new SampleBudget(totalSamples, MP3_MAX_SAMPLES)
      : undefined;
  const encoder = new PooledEncoder(format, sampleRate, pool.open(codec, sampleRate));
  // Ogg/Opus needs nothing more for a whole file: its EOS granule already states the exact length.
  return budget ? new TaggedMp3Encoder(encoder, budget) : encoder;
}

/** MP3 (LAME compiled to wasm, CBR; bitrates in codecs/codec.types.ts), encoded on the codec threads. */
@Injectable()
export class Mp3EncoderFactory implements AudioEncoderFactory {
  readonly formats = ['mp3'] as const;

  constructor(private readonly pool: CodecWorkerPool) {}

  create(options: EncoderOptions): AudioEncoder {
    return openPooled(this.pool, 'mp3', MP3_SAMPLE_RATES, options);
  }

  prepare(): void {
    this.pool.prepare();
  }
}

/** Ogg/Opus (libopus via @evan/opus plus our Ogg writer), encoded on the codec threads. */
@Injectable()
export class OpusEncoderFactory implements AudioEncoderFactory {
  readonly formats = ['opus'] as const;

  constructor(private readonly pool: CodecWorkerPool) {}

  create(options: EncoderOptions): AudioEncoder {
    return openPooled(this.pool, 'opus', OPUS_SAMPLE_RATES, options);
  }

  prepare(): void {
    this.pool.prepare();
  }
}
