/** Formats a WebSocket stream (and a session's `target_format`) can carry. */
export const STREAM_FORMATS = ['pcm16', 'mulaw', 'alaw', 'wav', 'mp3', 'opus'] as const;
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** Everything the transcoder can produce; `flac` and `aac` serve the OpenAI-compatible route. */
export const AUDIO_FORMATS = [...STREAM_FORMATS, 'flac', 'aac'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];

export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 48000;

/** libopus only takes these input rates. */
export const OPUS_SAMPLE_RATES = [8000, 12000, 16000, 24000, 48000] as const;
/** MPEG-1/2/2.5 layer III sample rates; LAME refuses anything else. */
export const MP3_SAMPLE_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000] as const;
/** Rates an ADTS header can signal (up to our 48 kHz ceiling). */
export const AAC_SAMPLE_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000] as const;

export interface AudioFormatSpec {
  readonly format: AudioFormat;
  readonly contentType: string;
  /** File extension for downloads. */
  readonly extension: string;
  /** Rates the format accepts; undefined = any integer in MIN..MAX_SAMPLE_RATE. */
  readonly sampleRates?: readonly number[];
  readonly defaultSampleRate: number;
}

export const AUDIO_FORMAT_SPECS: Readonly<Record<AudioFormat, AudioFormatSpec>> = {
  pcm16: { format: 'pcm16', contentType: 'audio/pcm', extension: 'pcm', defaultSampleRate: 24000 },
  mulaw: { format: 'mulaw', contentType: 'audio/basic', extension: 'ulaw', defaultSampleRate: 8000 },
  alaw: { format: 'alaw', contentType: 'audio/x-alaw-basic', extension: 'alaw', defaultSampleRate: 8000 },
  wav: { format: 'wav', contentType: 'audio/wav', extension: 'wav', defaultSampleRate: 24000 },
  mp3: {
    format: 'mp3',
    contentType: 'audio/mpeg',
    extension: 'mp3',
    sampleRates: MP3_SAMPLE_RATES,
    defaultSampleRate: 24000,
  },
  opus: {
    format: 'opus',
    contentType: 'audio/ogg; codecs=opus',
    extension: 'opus',
    sampleRates: OPUS_SAMPLE_RATES,
    defaultSampleRate: 24000,
  },
  flac: { format: 'flac', contentType: 'audio/flac', extension: 'flac', defaultSampleRate: 24000 },
  aac: {
    format: 'aac',
    contentType: 'audio/aac',
    extension: 'aac',
    sampleRates: AAC_SAMPLE_RATES,
    defaultSampleRate: 24000,
  },
};

export function isStreamFormat(value: unknown): value is StreamFormat {
  return typeof value === 'string' && (STREAM_FORMATS as readonly string[]).includes(value);
}
