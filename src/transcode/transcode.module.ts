import { Module } from '@nestjs/common';
import { FfmpegEncoderFactory } from './encoders/ffmpeg.encoders';
import { PcmEncoderFactory } from './encoders/pcm.encoders';
import { Mp3EncoderFactory, OpusEncoderFactory } from './encoders/pooled.encoders';
import { AUDIO_ENCODER_FACTORIES } from './transcode.tokens';
import { TranscodeService } from './transcode.service';
import type { AudioEncoderFactory } from './transcoder.types';
import { CodecWorkerPool } from './workers/codec-worker.pool';

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
  providers: [
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
