/** Codecs that run on the codec worker threads (CPU-heavy; see CodecWorkerPool). */
export type PooledCodec = 'mp3' | 'opus';

/**
 * A codec as it runs inside a worker: synchronous and single-threaded, one instance per stream. Returned
 * bytes are owned by the caller (never a view into codec memory), so they can be transferred.
 */
export interface SyncCodec {
  encode(pcm: Int16Array): Uint8Array;
  /** Emits the tail (MP3 flush frames, Ogg EOS page). The codec is unusable afterwards. */
  flush(): Uint8Array;
  /** Frees the native/wasm state without flushing. */
  free(): void;
}

/**
 * MP3 CBR bitrate per sample rate, in kbps. Mono speech; chosen so every rate sounds clean without paying
 * for bandwidth LAME low-passes away anyway:
 * - 8 kHz (MPEG-2.5, 4 kHz audio band): 24 kbps. 11.025/12 kHz: 32 kbps.
 * - 16–24 kHz (MPEG-2, 576-sample frames): 48 kbps, the research baseline (codecs.md: correlation 0.995).
 * - 32–48 kHz (MPEG-1): 64 kbps; lower would make LAME low-pass around 11 kHz and smear sibilants.
 */
export function mp3BitrateKbps(sampleRate: number): 24 | 32 | 48 | 64 {
  if (sampleRate <= 8000) return 24;
  if (sampleRate <= 12000) return 32;
  if (sampleRate <= 24000) return 48;
  return 64;
}

/** Opus packet duration. 20 ms is the libopus sweet spot for speech (fewer bytes per second than 10 ms). */
export const OPUS_FRAME_MS = 20;

/**
 * libopus complexity, with `signal = voice` (set in OpusOggCodec). Measured on 24 kHz speech at 32 kbps
 * (`npm run bench`, docs/BENCHMARKS.md, "Opus complexity"; LSD = log-spectral distance after decoding):
 * - complexity 10: LSD 6.7 dB at ~150 s of audio per CPU-second; complexity 5: LSD 6.95 dB at ~190;
 *   below 4 the distortion climbs faster than the CPU falls (LSD 7.4 at 2-3, 8.2 at 0).
 * - The often-quoted "complexity 5 is 4x cheaper than 10" comes from libopus switching speech to CELT-only
 *   below complexity 7 when the signal type is left on auto: faster still (~700 s/CPU-s) but LSD 8.4 dB,
 *   worse than any complexity in hybrid mode. Hence signal voice (hybrid SILK+CELT kept) at complexity 5:
 *   within a quarter dB of 10 for ~80% of its CPU. Opus runs on every codec thread (each with its own copy
 *   of the native addon, see CodecWorkerPool), so that CPU times the threads is the Opus capacity.
 */
export const OPUS_COMPLEXITY = 5;

/** Opus VBR target: ~32 kbps for wideband and up; less where the band (and so the content) is narrower. */
export function opusBitrate(sampleRate: number): number {
  if (sampleRate <= 8000) return 16000;
  if (sampleRate <= 12000) return 24000;
  return 32000;
}
