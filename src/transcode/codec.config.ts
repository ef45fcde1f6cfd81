import { registerAs } from '@nestjs/config';
import { flag, int } from '../config/env-values';

/**
 * The codec threads (MP3, Opus): how many, and whether they start with the process. Validated by
 * `validateEnv` (CODEC_THREADS, CODEC_THREADS_AT_BOOT).
 */
export const codecConfig = registerAs('codec', () => ({
  /** Worker threads for MP3/Opus; undefined = one per core. */
  threads: process.env.CODEC_THREADS ? int(process.env.CODEC_THREADS, 0) : undefined,
  /**
   * Start every codec thread (and compile LAME) at boot and keep them running, instead of starting them
   * with the first MP3/Opus streams and stopping them after a minute without any: a burst of MP3 sessions
   * right after a deploy then does not wait for threads to boot, for ~16–20 MiB more RSS per thread at rest.
   */
  atBoot: flag(process.env.CODEC_THREADS_AT_BOOT),
}));
export type CodecConfig = ReturnType<typeof codecConfig>;
