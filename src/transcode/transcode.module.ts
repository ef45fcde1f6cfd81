import { Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { codecConfig, type CodecConfig } from './codec.config';
import { FfmpegEncoderFactory } from './encoders/ffmpeg.encoders';
import { PcmEncoderFactory } from './encoders/pcm.encoders';
import { Mp3EncoderFactory, OpusEncoderFactory } from './encoders/pooled.encoders';
import { AUDIO_ENCODER_FACTORIES } from './transcode.tokens';
import { TranscodeService } from './transcode.service';
import type { AudioEncoderFactory } from './transcoder.types';
import { CODEC_POOL_OPTIONS, CodecWorkerPool, type CodecPoolOptions } from './workers/codec-worker.pool';

/**
 * Encoder families; each registers the formats it produces. Add a codec by listing its factory here.
 * Later entries win when two factories claim a format.
 */
const ENCODER_FACTORIES = [
  PcmEncoderFactory,
  Mp3EncoderFactory,
  OpusEncoderFactory,
  FfmpegEncoderFactory,
] as const;

@Module({
  imports: [ConfigModule.forFeature(codecConfig)],
  providers: [
    {
      provide: CODEC_POOL_OPTIONS,
      inject: [codecConfig.KEY],
      useFactory: (config: CodecConfig): CodecPoolOptions => ({
        threads: config.threads,
        // Started at boot = kept: a thread stopped after an idle minute would make the next MP3/Opus
        // session wait for its boot again, which is what starting at boot is for.
        warmUp: config.atBoot,
        idleTimeoutMs: config.atBoot ? 0 : undefined,
      }),
    },
    // Worker threads for MP3/Opus; terminated at application shutdown.
    CodecWorkerPool,
    ...ENCODER_FACTORIES,
    {
      provide: AUDIO_ENCODER_FACTORIES,
      inject: [...ENCODER_FACTORIES],
      useFactory: (...factories: AudioEncoderFactory[]) => factories,
    },
    TranscodeService,
  ],
  exports: [TranscodeService],
})
export class TranscodeModule {}
