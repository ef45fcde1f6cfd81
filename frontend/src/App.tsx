import { useCallback, useEffect, useMemo, useReducer, useState } from 'react';
import { GatewayApi } from './api/http';
import type { SessionRequest } from './api/types';
import type { AudioFile } from './audio/download';
import { FORMAT_INFO } from './audio/formats';
import type { PlayerKind } from './audio/player';
import { GatewayPanel } from './components/GatewayPanel';
import { Header } from './components/Header';
import { NowPlaying } from './components/NowPlaying';
import { SpeakForm, type Dispatch } from './components/SpeakForm';
import { StressPanel } from './components/StressPanel';
import { bytes } from './components/format';
import { publish } from './debug';
import { useCatalog } from './hooks/useCatalog';
import { useGatewayMetrics } from './hooks/useGatewayMetrics';
import { usePlaybackSupport } from './hooks/usePlaybackSupport';
import { useSessionFields } from './hooks/useSessionFields';
import { useSpeaker } from './hooks/useSpeaker';
import { INITIAL_SETTINGS, settingsReducer, type SpeakSettings } from './session/settings';
import type { UtteranceSnapshot } from './session/utterance';

const PLAYER_KINDS: readonly PlayerKind[] = ['worklet', 'webcodecs', 'mse', 'file'];

function preferredPlayerFromUrl(): PlayerKind | null {
  const value = new URLSearchParams(location.search).get('player');
  return PLAYER_KINDS.find((k) => k === value) ?? null;
}

function requestOf(
  s: SpeakSettings,
  voiceLanguage: string | undefined,
  fields: ReadonlySet<string>,
): SessionRequest | null {
  if (!s.text.trim() || !s.provider) return null;
  return {
    text: s.text,
    provider: s.provider,
    ...(s.voice ? { voice: s.voice } : {}),
    ...(voiceLanguage ? { language: voiceLanguage } : {}),
    target_format: s.format,
    sample_rate_hz: s.sampleRate,
    ...(s.speed !== 1 ? { speed: s.speed } : {}),
    ...(s.pace !== 'asap' && fields.has('pace') ? { pace: s.pace } : {}),
  };
}

function saveFile(data: Uint8Array<ArrayBuffer>, mime: string, name: string): void {
  const url = URL.createObjectURL(new Blob([data], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The Download button: what it saves, or why there is nothing to save yet. */
function downloadButton(u: UtteranceSnapshot | null, file: () => AudioFile | null) {
  if (!u)
    return {
      label: 'Download',
      onClick: null,
      note: 'Download saves the whole utterance once it has streamed.',
    };
  const info = FORMAT_INFO[u.request.target_format].file;
  const label = `Download ${info.extension.toUpperCase()}${u.canDownload ? ` (${bytes(u.bytes)})` : ''}`;
  if (!u.canDownload) {
    const running = ['creating', 'connecting', 'receiving'].includes(u.stream);
    return {
      label,
      onClick: null,
      note: running
        ? 'Download is ready when the stream ends.'
        : 'Nothing to save: the stream did not complete.',
    };
  }
  return {
    label,
    note: `The whole utterance${info.note ? `, ${info.note}` : ''}.`,
    onClick: () => {
      const f = file();
      if (!f) return;
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');
      saveFile(f.bytes, f.mime, `tts-${u.request.voice ?? 'voice'}-${stamp}.${f.extension}`);
    },
  };
}

export function App() {
  const [apiKey, setApiKey] = useState('');
  const [prebufferMs, setPrebufferMs] = useState(120);
  const api = useMemo(() => new GatewayApi({ apiKey: apiKey || undefined }), [apiKey]);
  const preferredPlayer = useMemo(preferredPlayerFromUrl, []);
  const preferredLanguage = typeof navigator === 'undefined' ? 'en-US' : navigator.language || 'en-US';

  const { catalog, error: catalogError, reload } = useCatalog(api);
  const support = usePlaybackSupport();
  const metrics = useGatewayMetrics(api);
  const sessionFields = useSessionFields(api);
  const [settings, rawDispatch] = useReducer(settingsReducer, INITIAL_SETTINGS);
  const dispatch: Dispatch = rawDispatch;
  const speaker = useSpeaker(api, support, { prebufferMs, preferredPlayer });
  const u = speaker.snapshot;

  useEffect(() => {
    if (catalog) dispatch({ type: 'catalog', catalog, preferredLanguage });
  }, [catalog, dispatch, preferredLanguage]);

  const voice = catalog?.voices.find((v) => v.id === settings.voice && v.provider === settings.provider);
  const request = requestOf(settings, voice?.language, sessionFields);
  const { speak, stop } = speaker;
  const active = u?.active ?? false;

  const onSpeak = useCallback(() => request && speak(request), [request, speak]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && active) stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [active, stop]);

  useEffect(() => {
    publish('support', support);
  }, [support]);
  useEffect(() => {
    if (!u) return;
    publish('utterance', {
      id: u.id,
      format: u.request.target_format,
      sampleRate: u.sampleRate,
      streamState: u.stream,
      playbackState: u.playback.state,
      player: u.playerKind,
      errorCode: u.errorCode,
      closeCode: u.closeCode,
      sessionId: u.sessionId,
      bytes: u.bytes,
      chunks: u.chunks,
      seqGaps: u.seqGaps,
      speakAt: u.speakAt,
      openAt: u.openAt,
      firstAudioAt: u.firstAudioAt,
      firstSoundAt: u.playback.firstSoundAt,
      streamEndAt: u.streamEndAt,
      renderedSamples: u.playback.renderedSamples,
      nonSilentSamples: u.playback.nonSilentSamples,
      playbackRate: u.playback.sampleRate,
      atStreamEnd: u.atStreamEnd,
      underruns: u.playback.underruns,
      bufferedMs: u.playback.bufferedMs,
      active: u.active,
    });
  }, [u]);

  const download = downloadButton(u, () => speaker.utterance?.file() ?? null);

  return (
    <>
      <Header />
      <main>
        <div className="layout">
          <section className="panel">
            <SpeakForm
              settings={settings}
              dispatch={dispatch}
              catalog={catalog}
              catalogError={catalogError}
              onReload={reload}
              support={support}
              preferredPlayer={preferredPlayer}
              preferredLanguage={preferredLanguage}
              sessionFields={sessionFields}
              active={active}
              onSpeak={onSpeak}
              onStop={stop}
              download={download}
            />
            <details className="options">
              <summary>Options</summary>
              <form className="grid" onSubmit={(e) => e.preventDefault()}>
                <div className="field">
                  <label htmlFor="prebuffer">Jitter buffer</label>
                  <select
                    id="prebuffer"
                    value={prebufferMs}
                    onChange={(e) => setPrebufferMs(Number(e.target.value))}
                    aria-describedby="prebuffer-hint"
                  >
                    {[40, 80, 120, 250, 500].map((v) => (
                      <option key={v} value={v}>
                        {v} ms
                      </option>
                    ))}
                  </select>
                  <p className="hint" id="prebuffer-hint">
                    Audio held before playback starts, and again after an underrun.
                  </p>
                </div>
                <div className="field">
                  <label htmlFor="api-key">API key</label>
                  <input
                    id="api-key"
                    type="password"
                    autoComplete="off"
                    value={apiKey}
                    onChange={(e) => setApiKey(e.target.value.trim())}
                    aria-describedby="api-key-hint"
                  />
                  <p className="hint" id="api-key-hint">
                    Only if this gateway requires keys; sent as a Bearer token, kept in this tab only.
                  </p>
                </div>
              </form>
            </details>
          </section>
          <NowPlaying snapshot={u} analyser={speaker.utterance?.analyser ?? null} />
        </div>
        <div className="layout">
          <StressPanel
            api={api}
            request={request}
            support={support}
            prebufferMs={prebufferMs}
            onStart={stop}
          />
          <GatewayPanel metrics={metrics} />
        </div>
      </main>
      <footer>
        <p>
          The page uses only the public API: <code>GET /v1/voices</code>, <code>POST /v1/tts/sessions</code>,
          the stream WebSocket and <code>GET /metrics</code>.
        </p>
      </footer>
    </>
  );
}
