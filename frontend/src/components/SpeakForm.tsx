import { useId, useMemo, useState, type FormEvent, type KeyboardEvent } from 'react';
import { FORMATS, isAudioFormat, type VoiceCatalog } from '../api/types';
import { FORMAT_INFO, formatRate } from '../audio/formats';
import type { PlayerKind } from '../audio/player';
import { choosePlayer, describePlayer, guessPlaybackSupport, type PlaybackSupport } from '../audio/players';
import {
  TEXT_SAMPLES,
  baseLanguage,
  formatsOf,
  isUp,
  languageName,
  languagesOf,
  orderedProviders,
  voicesFor,
  type SettingsAction,
  type SpeakSettings,
} from '../session/settings';
import { Field } from './Field';

/** Settings actions that need the catalog get it (and the browser language) from the form. */
export type Dispatch = (action: SettingsAction) => void;

interface SpeakFormProps {
  settings: SpeakSettings;
  dispatch: Dispatch;
  catalog: VoiceCatalog | null;
  catalogError: string | null;
  onReload(): void;
  support: PlaybackSupport | null;
  preferredPlayer: PlayerKind | null;
  preferredLanguage: string;
  /** Optional request fields this gateway documents (`pace`, …). */
  sessionFields: ReadonlySet<string>;
  active: boolean;
  onSpeak(): void;
  onStop(): void;
  /** The Download button: enabled with `onClick`, else `note` says why not. */
  download: { label: string; onClick: (() => void) | null; note: string };
}

export function SpeakForm(props: SpeakFormProps) {
  const { settings: s, dispatch, catalog, support, preferredLanguage } = props;
  const [query, setQuery] = useState('');
  const uid = useId();
  const empty: VoiceCatalog = { voices: [], providers: [] };
  const cat = catalog ?? empty;

  const providers = useMemo(() => orderedProviders(cat), [cat]);
  const languages = useMemo(() => languagesOf(cat, s.provider), [cat, s.provider]);
  const voices = useMemo(
    () => voicesFor(cat, s.provider, s.language, query),
    [cat, s.provider, s.language, query],
  );
  const groups = useMemo(() => {
    const byLanguage = new Map<string, typeof voices>();
    for (const v of voices) {
      const name = languageName(v.language);
      byLanguage.set(name, [...(byLanguage.get(name) ?? []), v]);
    }
    return [...byLanguage.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [voices]);
  const voice = cat.voices.find((v) => v.id === s.voice && v.provider === s.provider);
  const voiceFormats = formatsOf(voice);
  const down = providers.filter((p) => !isUp(p));
  const player = choosePlayer(s.format, support ?? guessPlaybackSupport(), props.preferredPlayer);
  const selectedInList = voices.some((v) => v.id === s.voice);
  const provider = providers.find((p) => p.id === s.provider);
  // A sample in a language the provider lacks is read by the current voice: say so.
  const sample = TEXT_SAMPLES.find((t) => t.text === s.text);
  const sampleNote =
    sample && voice && baseLanguage(voice.language) !== sample.language
      ? `${provider?.name ?? s.provider} has no ${languageName(sample.language)} voice; ${voice.name} reads it.`
      : null;

  const needsText = s.text.trim().length === 0;
  const canSpeak = !needsText && !!catalog && !!s.provider && (!!s.voice || cat.voices.length === 0);
  const speakHint = !catalog
    ? props.catalogError
      ? 'The voice list did not load.'
      : 'Loading the voices…'
    : needsText
      ? 'Enter some text first.'
      : 'Ctrl+Enter in the text also speaks; Esc stops.';

  function submit(e: FormEvent) {
    e.preventDefault();
    if (canSpeak) props.onSpeak();
  }

  function onTextKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (canSpeak) props.onSpeak();
    }
  }

  return (
    <form className="speak-form" onSubmit={submit} aria-labelledby={`${uid}-title`}>
      <h2 id={`${uid}-title`}>Speak</h2>
      {props.catalogError && (
        <div className="problem" role="alert">
          {props.catalogError}{' '}
          <button type="button" className="link-button" onClick={props.onReload}>
            Try again
          </button>
        </div>
      )}

      <div className="text-head">
        <label htmlFor="text">Text</label>
        <label className="inline-select">
          <span className="visually-hidden">Load a sample</span>
          <select
            id="sample"
            value=""
            onChange={(e) => {
              const sample = TEXT_SAMPLES[Number(e.target.value)];
              if (sample) dispatch({ type: 'sample', sample, catalog: cat, preferredLanguage });
            }}
          >
            <option value="">Samples…</option>
            {TEXT_SAMPLES.map((t, i) => (
              <option key={t.label} value={i}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <textarea
        id="text"
        rows={4}
        value={s.text}
        onChange={(e) => dispatch({ type: 'text', text: e.target.value })}
        onKeyDown={onTextKey}
        aria-describedby="text-hint"
        spellCheck={false}
      />
      <p className="hint" id="text-hint">
        {[...s.text].length} characters{sampleNote && <span className="note"> · {sampleNote}</span>}
      </p>

      <div className="grid">
        <Field
          id="provider"
          label="Provider"
          hint={
            down.length > 0
              ? down.map((p) => `${p.name ?? p.id} is unavailable: ${p.reason ?? 'down'}.`).join(' ')
              : undefined
          }
        >
          <select
            id="provider"
            value={s.provider}
            aria-describedby={down.length ? 'provider-hint' : undefined}
            onChange={(e) =>
              dispatch({ type: 'provider', provider: e.target.value, catalog: cat, preferredLanguage })
            }
          >
            {providers.length === 0 && <option value="">{catalog ? 'No providers' : 'Loading…'}</option>}
            {providers.map((p) => (
              <option key={p.id} value={p.id} disabled={!isUp(p)}>
                {p.name ?? p.id}
                {isUp(p)
                  ? p.voice_count !== undefined
                    ? ` (${p.voice_count} voice${p.voice_count === 1 ? '' : 's'})`
                    : ''
                  : ` — unavailable`}
              </option>
            ))}
          </select>
        </Field>

        <Field id="language" label="Language" hint={`${languages.length} languages`}>
          <select
            id="language"
            value={s.language}
            aria-describedby="language-hint"
            onChange={(e) =>
              dispatch({ type: 'language', language: e.target.value, catalog: cat, preferredLanguage })
            }
          >
            <option value="">All languages</option>
            {languages.map((l) => (
              <option key={l} value={l}>
                {languageName(l)} ({l})
              </option>
            ))}
          </select>
        </Field>

        <Field
          id="voice"
          label="Voice"
          className="span-2"
          hint={
            voices.length === 0
              ? query
                ? `No voice matches “${query}”.`
                : 'This provider has no voice for that language.'
              : `${voices.length} voice${voices.length === 1 ? '' : 's'}${query ? ` matching “${query}”` : ''}`
          }
        >
          <div className="voice-row">
            <input
              id="voice-search"
              type="search"
              placeholder="Filter by name"
              aria-label="Filter by name"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
            <select
              id="voice"
              value={selectedInList ? s.voice : ''}
              aria-describedby="voice-hint"
              onChange={(e) => dispatch({ type: 'voice', voice: e.target.value, catalog: cat })}
            >
              {!selectedInList && (
                <option value="">{voice ? `${voice.name} (hidden by the filter)` : 'Choose a voice'}</option>
              )}
              {groups.map(([name, list]) => (
                <optgroup key={name} label={name}>
                  {list.map((v) => (
                    <option key={v.id} value={v.id}>
                      {v.name}
                      {v.gender ? ` · ${v.gender}` : ''} · {v.id}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          </div>
        </Field>

        <Field id="format" label="Format" hint={`Plays ${describePlayer(player, s.format)}.`}>
          <select
            id="format"
            value={s.format}
            aria-describedby="format-hint"
            onChange={(e) =>
              isAudioFormat(e.target.value) && dispatch({ type: 'format', format: e.target.value })
            }
          >
            {FORMATS.map((f) => (
              <option key={f} value={f} disabled={!voiceFormats.includes(f)}>
                {FORMAT_INFO[f].label}
                {voiceFormats.includes(f) ? '' : ' — not offered by this voice'}
              </option>
            ))}
          </select>
        </Field>

        <Field id="rate" label="Sample rate" hint={FORMAT_INFO[s.format].rateNote}>
          <select
            id="rate"
            value={s.sampleRate}
            aria-describedby="rate-hint"
            onChange={(e) => dispatch({ type: 'sampleRate', sampleRate: Number(e.target.value) })}
          >
            {FORMAT_INFO[s.format].rates.map((r) => (
              <option key={r} value={r}>
                {formatRate(r)}
                {r === FORMAT_INFO[s.format].defaultRate ? ' (default)' : ''}
              </option>
            ))}
          </select>
        </Field>

        <Field
          id="speed"
          label="Speed"
          className="span-2"
          hint="0.25× to 4×; engines that cannot change pace stretch the pauses."
        >
          <div className="speed-row">
            <input
              id="speed"
              type="range"
              min={0.25}
              max={4}
              step={0.05}
              value={s.speed}
              aria-describedby="speed-hint"
              aria-valuetext={`${s.speed.toFixed(2)} times`}
              onChange={(e) => dispatch({ type: 'speed', speed: Number(e.target.value) })}
            />
            <output htmlFor="speed">{s.speed.toFixed(2)}×</output>
            {s.speed !== 1 && (
              <button
                type="button"
                className="link-button"
                onClick={() => dispatch({ type: 'speed', speed: 1 })}
              >
                Reset
              </button>
            )}
          </div>
        </Field>

        {props.sessionFields.has('pace') && (
          <Field
            id="pace"
            label="Pace"
            hint="Real time: the gateway sends audio no faster than it plays, as a phone line would."
          >
            <select
              id="pace"
              value={s.pace}
              aria-describedby="pace-hint"
              onChange={(e) =>
                dispatch({ type: 'pace', pace: e.target.value === 'realtime' ? 'realtime' : 'asap' })
              }
            >
              <option value="asap">As fast as the engine goes</option>
              <option value="realtime">Real time</option>
            </select>
          </Field>
        )}
      </div>

      <div className="actions">
        <button
          id="speak"
          type="submit"
          className="primary"
          disabled={!canSpeak}
          aria-describedby="speak-hint"
        >
          Speak
        </button>
        <button id="stop" type="button" onClick={props.onStop} disabled={!props.active}>
          Stop
        </button>
        <button
          id="download"
          type="button"
          onClick={props.download.onClick ?? undefined}
          disabled={!props.download.onClick}
          aria-describedby="download-hint"
        >
          {props.download.label}
        </button>
      </div>
      <p className="hint" id="speak-hint">
        {speakHint}
      </p>
      <p className="hint" id="download-hint">
        {props.download.note}
      </p>
    </form>
  );
}
