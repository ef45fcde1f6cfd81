import type { AudioFormat } from '../api/types';
import { FORMAT_INFO } from './formats';
import { concatBytes } from './pcm';
import { WAVE_FORMAT_ALAW, WAVE_FORMAT_MULAW, WAVE_FORMAT_PCM, finalizeStreamedWav, wavHeader } from './wav';

export interface AudioFile {
  bytes: Uint8Array<ArrayBuffer>;
  mime: string;
  extension: string;
}

const RAW_WAV: Partial<Record<AudioFormat, { formatTag: number; bitsPerSample: number }>> = {
  pcm16: { formatTag: WAVE_FORMAT_PCM, bitsPerSample: 16 },
  mulaw: { formatTag: WAVE_FORMAT_MULAW, bitsPerSample: 8 },
  alaw: { formatTag: WAVE_FORMAT_ALAW, bitsPerSample: 8 },
};

/**
 * The streamed utterance as a file players open: raw pcm16/µ-law/A-law wrapped in a WAV header, a streamed
 * WAV given its real sizes, MP3 and Ogg Opus as they came.
 */
export function utteranceFile(
  format: AudioFormat,
  sampleRate: number,
  parts: readonly Uint8Array[],
): AudioFile {
  const { mime, extension } = FORMAT_INFO[format].file;
  const data = concatBytes(parts);
  const raw = RAW_WAV[format];
  if (raw) {
    const header = wavHeader({ ...raw, channels: 1, sampleRate }, data.length);
    return { bytes: concatBytes([header, data]), mime, extension };
  }
  if (format === 'wav') return { bytes: finalizeStreamedWav(data), mime, extension };
  return { bytes: data, mime, extension };
}
