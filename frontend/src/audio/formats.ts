import type { AudioFormat } from '../api/types';

/** The MPEG rates; also the rates the demo offers for formats that take any rate from 8000 to 48000. */
const COMMON_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000] as const;
const OPUS_RATES = [8000, 12000, 16000, 24000, 48000] as const;

export interface FormatInfo {
  label: string;
  /** Rates the gateway accepts for this format (as offered by the demo). */
  rates: readonly number[];
  defaultRate: number;
  /** How the rates are restricted, for the hint under the rate field. */
  rateNote: string;
  /** What the download is saved as. */
  file: { extension: string; mime: string; note?: string };
}

export const FORMAT_INFO: Readonly<Record<AudioFormat, FormatInfo>> = {
  pcm16: {
    label: 'PCM 16-bit (raw)',
    rates: COMMON_RATES,
    defaultRate: 24000,
    rateNote: 'Any rate from 8 to 48 kHz.',
    file: { extension: 'wav', mime: 'audio/wav', note: 'saved as WAV' },
  },
  mulaw: {
    label: 'G.711 µ-law',
    rates: COMMON_RATES,
    defaultRate: 8000,
    rateNote: 'Telephony runs at 8 kHz; other rates are allowed.',
    file: { extension: 'wav', mime: 'audio/wav', note: 'saved as µ-law WAV' },
  },
  alaw: {
    label: 'G.711 A-law',
    rates: COMMON_RATES,
    defaultRate: 8000,
    rateNote: 'Telephony runs at 8 kHz; other rates are allowed.',
    file: { extension: 'wav', mime: 'audio/wav', note: 'saved as A-law WAV' },
  },
  wav: {
    label: 'WAV (streamed)',
    rates: COMMON_RATES,
    defaultRate: 24000,
    rateNote: 'Any rate from 8 to 48 kHz.',
    file: { extension: 'wav', mime: 'audio/wav' },
  },
  mp3: {
    label: 'MP3',
    rates: COMMON_RATES,
    defaultRate: 24000,
    rateNote: 'MP3 has fixed rates: 8, 11.025, 12, 16, 22.05, 24, 32, 44.1 and 48 kHz.',
    file: { extension: 'mp3', mime: 'audio/mpeg' },
  },
  opus: {
    label: 'Opus (Ogg)',
    rates: OPUS_RATES,
    defaultRate: 24000,
    rateNote: 'Opus takes only 8, 12, 16, 24 and 48 kHz.',
    file: { extension: 'opus', mime: 'audio/ogg' },
  },
};

/** The rate to use after switching to `format`: its default (8 kHz for G.711). */
export function rateAfterFormatChange(format: AudioFormat): number {
  return FORMAT_INFO[format].defaultRate;
}

export function isRateAllowed(format: AudioFormat, rate: number): boolean {
  return FORMAT_INFO[format].rates.includes(rate);
}

export function formatRate(rate: number): string {
  const khz = rate / 1000;
  return `${Number.isInteger(khz) ? khz : khz.toFixed(3).replace(/0+$/, '')} kHz`;
}
