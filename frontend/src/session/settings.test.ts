import { describe, expect, it } from 'vitest';
import type { Voice, VoiceCatalog } from '../api/types';
import {
  INITIAL_SETTINGS,
  TEXT_SAMPLES,
  languagesOf,
  orderedProviders,
  settingsReducer,
  voicesFor,
  type SettingsAction,
  type SpeakSettings,
} from './settings';

const voice = (id: string, provider: string, language: string, formats?: string[]): Voice => ({
  id,
  name: id,
  provider,
  language,
  supported_formats: formats,
});

const catalog: VoiceCatalog = {
  providers: [
    { id: 'mock_tone', status: 'up' },
    { id: 'espeak', status: 'up' },
    { id: 'coqui', status: 'down', reason: 'connection refused' },
  ],
  voices: [
    voice('en-US-mock-1', 'mock_tone', 'en-US'),
    voice('de-DE-mock-1', 'mock_tone', 'de-DE'),
    voice('de', 'espeak', 'de'),
    voice('en-gb', 'espeak', 'en-GB'),
    voice('en-us', 'espeak', 'en-US'),
    voice('fr-fr', 'espeak', 'fr-FR', ['pcm16', 'wav']),
  ],
};

function run(...actions: ((s: SpeakSettings) => SettingsAction)[]): SpeakSettings {
  return actions.reduce((s, a) => settingsReducer(s, a(s)), INITIAL_SETTINGS);
}
const load = () => ({ type: 'catalog', catalog, preferredLanguage: 'en-US' }) as const;

describe('speak settings', () => {
  it('should put the real voice provider first when it is up, the tone generator next and down ones last', () => {
    expect(orderedProviders(catalog).map((p) => p.id)).toEqual(['espeak', 'mock_tone', 'coqui']);
    const down = { ...catalog, providers: [{ id: 'mock_tone' }, { id: 'espeak', status: 'down' }] };
    expect(orderedProviders(down).map((p) => p.id)).toEqual(['mock_tone', 'espeak']);
  });

  it('should start on the real provider, in the browser language, with its matching voice', () => {
    expect(run(load)).toMatchObject({ provider: 'espeak', language: 'en', voice: 'en-us' });
    expect(
      settingsReducer(INITIAL_SETTINGS, { type: 'catalog', catalog, preferredLanguage: 'de-AT' }),
    ).toMatchObject({
      language: 'de',
      voice: 'de',
    });
  });

  it('should filter voices by provider, language and a search', () => {
    expect(languagesOf(catalog, 'espeak')).toEqual(['en', 'fr', 'de']); // English, French, German
    expect(voicesFor(catalog, 'espeak', 'en').map((v) => v.id)).toEqual(['en-gb', 'en-us']);
    expect(voicesFor(catalog, 'espeak', '', 'brit').map((v) => v.id)).toEqual(['en-gb']); // "British English"
    expect(voicesFor(catalog, 'mock_tone', 'de').map((v) => v.id)).toEqual(['de-DE-mock-1']);
  });

  it('should keep the language across providers when the new one has it', () => {
    const s = run(
      load,
      () => ({ type: 'language', language: 'de', catalog, preferredLanguage: 'en-US' }),
      () => ({
        type: 'provider',
        provider: 'mock_tone',
        catalog,
        preferredLanguage: 'en-US',
      }),
    );
    expect(s).toMatchObject({ provider: 'mock_tone', language: 'de', voice: 'de-DE-mock-1' });
  });

  it('should follow a sample into its language, or keep the voice when the provider lacks it', () => {
    const de = TEXT_SAMPLES.find((t) => t.language === 'de')!;
    const ja = TEXT_SAMPLES.find((t) => t.language === 'ja')!;
    expect(
      run(load, () => ({ type: 'sample', sample: de, catalog, preferredLanguage: 'en-US' })),
    ).toMatchObject({
      language: 'de',
      voice: 'de',
      text: de.text,
    });
    expect(
      run(load, () => ({ type: 'sample', sample: ja, catalog, preferredLanguage: 'en-US' })),
    ).toMatchObject({
      language: 'en',
      voice: 'en-us',
      text: ja.text,
    });
  });

  it('should switch to 8 kHz for G.711 and back, and keep an allowed rate otherwise', () => {
    const mulaw = run(load, () => ({ type: 'format', format: 'mulaw' }));
    expect(mulaw.sampleRate).toBe(8000);
    expect(settingsReducer(mulaw, { type: 'format', format: 'alaw' }).sampleRate).toBe(8000);
    expect(settingsReducer(mulaw, { type: 'format', format: 'pcm16' }).sampleRate).toBe(24000);
    const mp3 = run(
      load,
      () => ({ type: 'format', format: 'mp3' }),
      () => ({ type: 'sampleRate', sampleRate: 44100 }),
    );
    expect(settingsReducer(mp3, { type: 'format', format: 'wav' }).sampleRate).toBe(44100);
    expect(settingsReducer(mp3, { type: 'format', format: 'opus' }).sampleRate).toBe(24000); // 44.1 kHz is not Opus
  });

  it('should move to a format the voice supports when it lacks the chosen one', () => {
    const s = run(
      load,
      () => ({ type: 'format', format: 'mp3' }),
      () => ({
        type: 'language',
        language: 'fr',
        catalog,
        preferredLanguage: 'en-US',
      }),
    );
    expect(s).toMatchObject({ voice: 'fr-fr', format: 'pcm16', sampleRate: 24000 });
  });
});
