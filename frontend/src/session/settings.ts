import type { AudioFormat, ProviderInfo, Voice, VoiceCatalog } from '../api/types';
import { FORMATS } from '../api/types';
import { isRateAllowed, rateAfterFormatChange } from '../audio/formats';

/** What the Speak form chooses. `language` is a base language ("en") or '' for all. */
export interface SpeakSettings {
  text: string;
  provider: string;
  language: string;
  voice: string;
  format: AudioFormat;
  sampleRate: number;
  speed: number;
  /** `realtime`: the gateway sends audio no faster than it plays (where it supports `pace`). */
  pace: 'asap' | 'realtime';
}

export interface TextSample {
  label: string;
  language: string;
  text: string;
}

/** Short texts (3 to 6 s) in several languages, and one long English one to try Stop on. */
export const TEXT_SAMPLES: readonly TextSample[] = [
  {
    label: 'English',
    language: 'en',
    text: 'Hello! This voice reaches your browser while it is still being synthesized.',
  },
  {
    label: 'Deutsch',
    language: 'de',
    text: 'Guten Tag! Diese Stimme kommt Stück für Stück, noch während sie entsteht.',
  },
  {
    label: 'Français',
    language: 'fr',
    text: 'Bonjour ! Cette voix arrive morceau par morceau, pendant sa synthèse.',
  },
  {
    label: 'Español',
    language: 'es',
    text: '¡Hola! Esta voz llega a tu navegador mientras todavía se está sintetizando.',
  },
  {
    label: 'Italiano',
    language: 'it',
    text: 'Ciao! Questa voce arriva nel browser mentre viene ancora sintetizzata.',
  },
  {
    label: 'Português',
    language: 'pt',
    text: 'Olá! Esta voz chega ao seu navegador enquanto ainda está a ser sintetizada.',
  },
  { label: 'हिन्दी', language: 'hi', text: 'नमस्ते! यह आवाज़ बनते-बनते ही आपके ब्राउज़र तक पहुँचती है।' },
  { label: '日本語', language: 'ja', text: 'こんにちは。この声は合成されながらブラウザに届きます。' },
  {
    label: 'English, long',
    language: 'en',
    text:
      'This is a longer passage, so that there is time to press Stop while it plays. The gateway sends audio as soon as ' +
      'the engine produces it, the page decodes each chunk as it arrives, and a small jitter buffer keeps playback ' +
      'smooth even when the network is not. Press Stop at any moment: the sound ends at once and the stream is cancelled.',
  },
];

const MOCK = 'mock_tone';

/** The primary subtag: "en-GB-x-rp" → "en". */
export function baseLanguage(tag: string): string {
  return tag.split('-')[0].toLowerCase();
}

export function languageName(tag: string, locale = 'en'): string {
  try {
    return new Intl.DisplayNames([locale], { type: 'language', fallback: 'code' }).of(tag) ?? tag;
  } catch {
    return tag; // not a valid BCP-47 tag
  }
}

/** Real voices that are up first, then the tone generator, then those that are down. */
export function orderedProviders(catalog: VoiceCatalog): ProviderInfo[] {
  const known = catalog.providers.length
    ? catalog.providers
    : [...new Set(catalog.voices.map((v) => v.provider))].map((id) => ({ id, status: 'up' }));
  const rank = (p: ProviderInfo) => (p.status === 'down' ? 2 : p.id === MOCK ? 1 : 0);
  return [...known].sort((a, b) => rank(a) - rank(b));
}

export function isUp(p: ProviderInfo | undefined): boolean {
  return !!p && p.status !== 'down';
}

/** Base languages the provider's voices speak, by display name. */
export function languagesOf(catalog: VoiceCatalog, provider: string): string[] {
  const set = new Set(
    catalog.voices.filter((v) => v.provider === provider).map((v) => baseLanguage(v.language)),
  );
  return [...set].sort((a, b) => languageName(a).localeCompare(languageName(b)));
}

/** The provider's voices for a base language ('' = all) matching `query` (name, id or language). */
export function voicesFor(catalog: VoiceCatalog, provider: string, language: string, query = ''): Voice[] {
  const q = query.trim().toLowerCase();
  return catalog.voices.filter(
    (v) =>
      v.provider === provider &&
      (!language || baseLanguage(v.language) === language) &&
      (!q || `${v.name} ${v.id} ${v.language} ${languageName(v.language)}`.toLowerCase().includes(q)),
  );
}

/** The voice to pick for a language: the one whose language is the browser's, else the first. */
export function defaultVoice(voices: readonly Voice[], preferredTag: string): Voice | undefined {
  const tag = preferredTag.toLowerCase();
  return voices.find((v) => v.language.toLowerCase() === tag) ?? voices[0];
}

export function formatsOf(voice: Voice | undefined): AudioFormat[] {
  if (!voice?.supported_formats) return [...FORMATS];
  return FORMATS.filter((f) => voice.supported_formats!.includes(f));
}

export type SettingsAction =
  | { type: 'catalog'; catalog: VoiceCatalog; preferredLanguage: string }
  | { type: 'text'; text: string }
  | { type: 'sample'; sample: TextSample; catalog: VoiceCatalog; preferredLanguage: string }
  | { type: 'provider'; provider: string; catalog: VoiceCatalog; preferredLanguage: string }
  | { type: 'language'; language: string; catalog: VoiceCatalog; preferredLanguage: string }
  | { type: 'voice'; voice: string; catalog: VoiceCatalog }
  | { type: 'format'; format: AudioFormat }
  | { type: 'sampleRate'; sampleRate: number }
  | { type: 'speed'; speed: number }
  | { type: 'pace'; pace: SpeakSettings['pace'] };

export const INITIAL_SETTINGS: SpeakSettings = {
  text: TEXT_SAMPLES[0].text,
  provider: '',
  language: '',
  voice: '',
  format: 'pcm16',
  sampleRate: 24000,
  speed: 1,
  pace: 'asap',
};

/** Re-picks the voice (and a format it supports) after the provider or the language changed. */
function withVoice(s: SpeakSettings, catalog: VoiceCatalog, preferredLanguage: string): SpeakSettings {
  const voice = defaultVoice(voicesFor(catalog, s.provider, s.language), preferredLanguage);
  return withFormatFor({ ...s, voice: voice?.id ?? '' }, voice);
}

function withFormatFor(s: SpeakSettings, voice: Voice | undefined): SpeakSettings {
  const formats = formatsOf(voice);
  if (formats.length === 0 || formats.includes(s.format)) return s;
  return { ...s, format: formats[0], sampleRate: rateAfterFormatChange(formats[0]) };
}

function languageFor(catalog: VoiceCatalog, provider: string, wanted: string): string {
  const langs = languagesOf(catalog, provider);
  return langs.includes(wanted) ? wanted : '';
}

export function settingsReducer(s: SpeakSettings, a: SettingsAction): SpeakSettings {
  switch (a.type) {
    case 'catalog': {
      const provider = orderedProviders(a.catalog).find(isUp)?.id ?? '';
      const language =
        languageFor(a.catalog, provider, baseLanguage(a.preferredLanguage)) ||
        languageFor(a.catalog, provider, 'en');
      return withVoice({ ...s, provider, language }, a.catalog, a.preferredLanguage);
    }
    case 'text':
      return { ...s, text: a.text };
    case 'sample': {
      const language = languageFor(a.catalog, s.provider, a.sample.language);
      const next = { ...s, text: a.sample.text };
      // A provider without the sample's language keeps its voice (the hint says so).
      return language ? withVoice({ ...next, language }, a.catalog, a.preferredLanguage) : next;
    }
    case 'provider': {
      const language =
        languageFor(a.catalog, a.provider, s.language) ||
        languageFor(a.catalog, a.provider, baseLanguage(a.preferredLanguage));
      return withVoice({ ...s, provider: a.provider, language }, a.catalog, a.preferredLanguage);
    }
    case 'language':
      return withVoice({ ...s, language: a.language }, a.catalog, a.preferredLanguage);
    case 'voice':
      return withFormatFor(
        { ...s, voice: a.voice },
        a.catalog.voices.find((v) => v.id === a.voice && v.provider === s.provider),
      );
    case 'format':
      return {
        ...s,
        format: a.format,
        sampleRate:
          isRateAllowed(a.format, s.sampleRate) && !isG711Switch(s.format, a.format)
            ? s.sampleRate
            : rateAfterFormatChange(a.format),
      };
    case 'sampleRate':
      return { ...s, sampleRate: a.sampleRate };
    case 'speed':
      return { ...s, speed: a.speed };
    case 'pace':
      return { ...s, pace: a.pace };
  }
}

/** Into or out of G.711: telephony's 8 kHz is the right default one way, 24 kHz the other. */
function isG711Switch(from: AudioFormat, to: AudioFormat): boolean {
  const g711 = (f: AudioFormat) => f === 'mulaw' || f === 'alaw';
  return g711(from) !== g711(to);
}
