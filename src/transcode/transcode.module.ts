import { Module } from '@nestjs/common';
import { PcmEncoderFactory } from './encoders/pcm.encoders';
import { AUDIO_ENCODER_FACTORIES } from './transcode.tokens';
import { TranscodeService } from './transcode.service';
import type { AudioEncoderFactory } from './transcoder.types';

/** Encoder families; each registers the formats it produces. Add a codec by listing its factory here. */
const ENCODER_FACTORIES = [PcmEncoderFactory] as const;

@Module({
  providers: [
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
