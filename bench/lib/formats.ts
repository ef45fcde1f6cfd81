/** The formats the benchmark measures, with the equivalent ffmpeg output arguments for the baselines. */
import type { AudioFormat } from '../../src/transcode/audio-format';

export interface BenchFormat {
  readonly label: string;
  readonly format: AudioFormat;
  readonly rate: number;
  /** ffmpeg output arguments producing the same format, rate and bitrate (codec settings as ours). */
  readonly ffmpeg: readonly string[];
  readonly ext: string;
}

export const BENCH_FORMATS: readonly BenchFormat[] = [
  { label: 'pcm16 16k', format: 'pcm16', rate: 16000, ffmpeg: ['-ar', '16000', '-f', 's16le'], ext: 'pcm' },
  { label: 'mulaw 8k', format: 'mulaw', rate: 8000, ffmpeg: ['-ar', '8000', '-f', 'mulaw'], ext: 'ulaw' },
  { label: 'wav 16k', format: 'wav', rate: 16000, ffmpeg: ['-ar', '16000', '-f', 'wav'], ext: 'wav' },
  {
    label: 'mp3 24k 48 kbps',
    format: 'mp3',
    rate: 24000,
    ffmpeg: ['-c:a', 'libmp3lame', '-b:a', '48k', '-write_xing', '0', '-f', 'mp3'],
    ext: 'mp3',
  },
  {
    label: 'opus 24k 32 kbps',
    format: 'opus',
    rate: 24000,
    // Same complexity as ours (5); the default-complexity (10) whole-file run is reported separately.
    ffmpeg: [
      '-c:a',
      'libopus',
      '-b:a',
      '32k',
      '-compression_level',
      '5',
      '-page_duration',
      '20000',
      '-f',
      'ogg',
    ],
    ext: 'opus',
  },
  { label: 'flac 24k', format: 'flac', rate: 24000, ffmpeg: ['-c:a', 'flac', '-f', 'flac'], ext: 'flac' },
  {
    label: 'aac 24k 48 kbps',
    format: 'aac',
    rate: 24000,
    ffmpeg: ['-c:a', 'aac', '-b:a', '48k', '-f', 'adts'],
    ext: 'aac',
  },
];

/** ffmpeg's libopus at its default complexity (10), for the "practical limit" comparison. */
export const OPUS_FFMPEG_DEFAULT = ['-c:a', 'libopus', '-b:a', '32k', '-page_duration', '20000', '-f', 'ogg'];

const MP3_BITRATES = {
  mpeg1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  mpeg2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
const MP3_RATES: Record<number, number[]> = {
  3: [44100, 48000, 32000],
  2: [22050, 24000, 16000],
  0: [11025, 12000, 8000],
};

/**
 * Bytes needed before the output carries its first playable unit of audio (a complete MP3/ADTS frame,
 * an Ogg page with a granule past the headers, anything past the WAV/FLAC header), or undefined if the
 * bytes so far do not yet hold one.
 */
export function firstAudioBytes(format: AudioFormat, bytes: Uint8Array): number | undefined {
  switch (format) {
    case 'pcm16':
    case 'mulaw':
    case 'alaw':
      return bytes.length > 0 ? 1 : undefined;
    case 'wav':
      return bytes.length > 44 ? 45 : undefined;
    case 'mp3': {
      if (bytes.length < 4 || bytes[0] !== 0xff || (bytes[1] & 0xe0) !== 0xe0) return undefined;
      const version = (bytes[1] >> 3) & 3;
      const kbps = (version === 3 ? MP3_BITRATES.mpeg1 : MP3_BITRATES.mpeg2)[bytes[2] >> 4];
      const rate = MP3_RATES[version]?.[(bytes[2] >> 2) & 3] ?? 0;
      const length = Math.floor(((version === 3 ? 144 : 72) * kbps * 1000) / rate) + ((bytes[2] >> 1) & 1);
      return bytes.length >= length ? length : undefined;
    }
    case 'aac': {
      if (bytes.length < 7) return undefined;
      const length = ((bytes[3] & 3) << 11) | (bytes[4] << 3) | (bytes[5] >> 5);
      return bytes.length >= length ? length : undefined;
    }
    case 'flac': {
      let offset = 4;
      while (offset + 4 <= bytes.length) {
        const last = (bytes[offset] & 0x80) !== 0;
        offset += 4 + ((bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]);
        if (last) return bytes.length > offset ? offset + 1 : undefined;
      }
      return undefined;
    }
    case 'opus': {
      let offset = 0;
      while (offset + 27 <= bytes.length) {
        const segments = bytes[offset + 26];
        if (offset + 27 + segments > bytes.length) return undefined;
        let body = 0;
        for (let i = 0; i < segments; i++) body += bytes[offset + 27 + i];
        const end = offset + 27 + segments + body;
        if (end > bytes.length) return undefined;
        const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
        if (view.getUint32(6, true) > 0 || view.getUint32(10, true) > 0) return end;
        offset = end;
      }
      return undefined;
    }
  }
}
