import { Injectable } from '@nestjs/common';
import { MP3_SAMPLE_RATES, OPUS_SAMPLE_RATES, type AudioFormat } from '../audio-format';
import type { PooledCodec } from '../codecs/codec.types';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from '../transcoder.types';
import { CodecWorkerPool, type CodecChannel } from '../workers/codec-worker.pool';

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

function openPooled(
  pool: CodecWorkerPool,
  codec: PooledCodec & AudioFormat,
  rates: readonly number[],
  { format, sampleRate }: EncoderOptions,
): AudioEncoder {
  if (format !== codec) throw new Error(`${codec} encoder factory cannot encode ${format}`);
  // TranscodeService.resolveSampleRate has already turned a bad rate into a 400; this guards direct use.
  if (!rates.includes(sampleRate)) throw new RangeError(`${codec} cannot encode at ${sampleRate} Hz`);
  return new PooledEncoder(format, sampleRate, pool.open(codec, sampleRate));
}

/** MP3 (LAME compiled to wasm, CBR; bitrates in codecs/codec.types.ts), encoded on the codec threads. */
@Injectable()
export class Mp3EncoderFactory implements AudioEncoderFactory {
  readonly formats = ['mp3'] as const;

  constructor(private readonly pool: CodecWorkerPool) {}

  create(options: EncoderOptions): AudioEncoder {
    return openPooled(this.pool, 'mp3', MP3_SAMPLE_RATES, options);
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
}
