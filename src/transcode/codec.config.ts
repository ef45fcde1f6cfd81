import { registerAs } from '@nestjs/config';
import { flag } from '../config/env-values';

/**
 * The codec threads (MP3, Opus): how many, and whether they start with the process. Validated by
 * `validateEnv` (CODEC_THREADS, CODEC_THREADS_AT_BOOT).
 */
export const codecConfig = registerAs('codec', () => ({
  /** Worker threads for MP3/Opus; undefined = one per core. */
  threads: process.env.CODEC_THREADS ? Number(process.env.CODEC_THREADS) : undefined,
  /**
   * Start every codec thread (and compile LAME) at boot and keep them running, instead of starting them
   * with the first MP3/Opus streams and stopping them after a minute without any: the first MP3/Opus
   * session after a start or a quiet minute then does not wait for a thread to boot (first audio ~31 ms
   * instead of ~58 ms here), for ~12–15 MiB more RSS per thread at rest. Bursts gain little (README).
   */
  atBoot: flag(process.env.CODEC_THREADS_AT_BOOT),
}));
export type CodecConfig = ReturnType<typeof codecConfig>;
