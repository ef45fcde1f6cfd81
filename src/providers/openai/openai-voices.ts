import type { Voice, VoiceGender } from '../provider.contract';
import { toBcp47 } from '../shared/language-tag';

/** `response_format: "pcm"` is 24 kHz s16le mono by OpenAI's definition. */
export const OPENAI_PCM_SAMPLE_RATE = 24000;

/** OpenAI's built-in voices for tts-1/tts-1-hd/gpt-4o-mini-tts, used when nothing else names voices. */
export const OPENAI_BUILTIN_VOICES = [
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'onyx',
  'nova',
  'sage',
  'shimmer',
  'verse',
] as const;

/**
 * Languages OpenAI's TTS documents (the Whisper set): the voices are tuned for English but speak these.
 * Used for any voice whose language the server does not tell, so a request in German is not refused by
 * our validation when the server would have spoken it.
 */
export const OPENAI_LANGUAGES = [
  'af',
  'ar',
  'hy',
  'az',
  'be',
  'bs',
  'bg',
  'ca',
  'zh',
  'hr',
  'cs',
  'da',
  'nl',
  'en',
  'et',
  'fi',
  'fr',
  'gl',
  'de',
  'el',
  'he',
  'hi',
  'hu',
  'is',
  'id',
  'it',
  'ja',
  'kn',
  'kk',
  'ko',
  'lv',
  'lt',
  'mk',
  'ms',
  'mr',
  'mi',
  'ne',
  'no',
  'fa',
  'pl',
  'pt',
  'ro',
  'ru',
  'sr',
  'sk',
  'sl',
  'es',
  'sw',
  'sv',
  'tl',
  'ta',
  'th',
  'tr',
  'uk',
  'ur',
  'vi',
  'cy',
] as const;

/** Kokoro's voice-name prefixes: first letter the language, second the gender (`af_bella`, `jm_kumo`). */
const KOKORO_LANGUAGES: Readonly<Record<string, string>> = {
  a: 'en-US',
  b: 'en-GB',
  e: 'es',
  f: 'fr',
  h: 'hi',
  i: 'it',
  j: 'ja',
  p: 'pt-BR',
  z: 'zh',
};
const KOKORO_NAME = /^([abefhijpz])([fm])_([a-z0-9]+)$/i;

/** A voice as a server or the config names it. */
export interface VoiceEntry {
  readonly id: string;
  readonly name?: string;
  readonly language?: string;
  readonly gender?: VoiceGender;
}

/**
 * Entries from `GET /audio/voices`, which compatible servers shape differently: Kokoro-FastAPI
 * `{"voices":["af_bella", ...]}`, others `{"voices":[{"id"|"voice_id"|"name", "language", "gender"}]}`,
 * `{"data":[...]}` or a bare array.
 */
export function parseVoicesResponse(json: unknown): VoiceEntry[] {
  const record =
    json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  const list = Array.isArray(json) ? json : Array.isArray(record.voices) ? record.voices : record.data;
  if (!Array.isArray(list)) return [];
  const entries: VoiceEntry[] = [];
  for (const item of list as unknown[]) {
    if (typeof item === 'string' && item.trim()) {
      entries.push({ id: item.trim() });
    } else if (item && typeof item === 'object') {
      const o = item as Record<string, unknown>;
      const id = [o.id, o.voice_id, o.name].find(
        (v): v is string => typeof v === 'string' && v.trim() !== '',
      );
      if (!id) continue;
      const language = [o.language, o.lang, o.locale, o.language_code].find(
        (v): v is string => typeof v === 'string',
      );
      const gender = typeof o.gender === 'string' ? genderOf(o.gender) : undefined;
      entries.push({
        id: id.trim(),
        ...(typeof o.name === 'string' && o.name !== id ? { name: o.name } : {}),
        ...(language ? { language } : {}),
        ...(gender ? { gender } : {}),
      });
    }
  }
  return entries;
}

export function openAiVoice(entry: VoiceEntry): Voice {
  const kokoro = KOKORO_NAME.exec(entry.id);
  const language =
    (entry.language && toBcp47(entry.language)) ||
    (kokoro ? KOKORO_LANGUAGES[kokoro[1].toLowerCase()] : undefined);
  const gender = entry.gender ?? (kokoro ? (kokoro[2].toLowerCase() === 'f' ? 'female' : 'male') : undefined);
  const languages = language ? [language] : ['en-US', ...OPENAI_LANGUAGES];
  const baseName = entry.name ?? (kokoro ? kokoro[3] : entry.id);
  return {
    id: entry.id,
    name: baseName.charAt(0).toUpperCase() + baseName.slice(1),
    provider: 'openai',
    language: languages[0],
    languages,
    ...(gender ? { gender } : {}),
    sampleRateHz: OPENAI_PCM_SAMPLE_RATE,
    ...(language ? {} : { extra: { languageKnown: false } }),
  };
}

function genderOf(text: string): VoiceGender | undefined {
  const g = text.trim().toLowerCase();
  if (g === 'f' || g === 'female' || g === 'woman') return 'female';
  if (g === 'm' || g === 'male' || g === 'man') return 'male';
  if (g === 'n' || g === 'neutral') return 'neutral';
  return undefined;
}
