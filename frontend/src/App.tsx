import { useEffect, useMemo, useRef, useState } from 'react';
import { LivePlayer } from './audio';
import { decodeAlaw, decodeMulaw } from './lib/g711';
import { BLOB_CONTENT_TYPES, FORMATS, LIVE_FORMATS, errorMessage, type Format } from './lib/formats';
import { Pcm16Decoder, base64ToBytes } from './lib/pcm';
import { SeqTracker } from './lib/seq';
import { resolveWsUrl } from './lib/url';

interface Voice {
  id: string;
  name: string;
  provider: string;
  language: string;
  sample_rate_hz: number;
  supported_formats: string[];
}

interface Stats {
  status: string;
  ttfaMs: number | null;
  chunks: number;
  bytes: number;
  gaps: number;
}

type ServerFrame =
  | { type: 'audio'; seq: number; data: string }
  | { type: 'eos'; [k: string]: unknown }
  | { type: 'error'; code: string; message: string };

const IDLE: Stats = { status: 'idle', ttfaMs: null, chunks: 0, bytes: 0, gaps: 0 };

export function App() {
  const [voices, setVoices] = useState<Voice[]>([]);
  const [text, setText] = useState('Hello from the TTS gateway.');
  const [provider, setProvider] = useState('');
  const [voice, setVoice] = useState('');
  const [format, setFormat] = useState<Format>('pcm16');
  const [rate, setRate] = useState(24000);
  const [stats, setStats] = useState<Stats>(IDLE);
  const [message, setMessage] = useState('');
  const [result, setResult] = useState<{ url: string; type: string | undefined } | null>(null);
  const [busy, setBusy] = useState(false);

  const wsRef = useRef<WebSocket | null>(null);
  const playerRef = useRef<LivePlayer | null>(null);
  const genRef = useRef(0); // bumped by Speak/Stop so a pending POST can tell it was superseded

  useEffect(() => {
    fetch('/v1/voices')
      .then(async (r) => {
        const body = await r.json().catch(() => null);
        if (!r.ok) throw new Error(errorMessage(body, `HTTP ${r.status}`));
        const list: Voice[] = body?.voices ?? [];
        setVoices(list);
        if (list.length) {
          setProvider(list[0].provider);
          setVoice(list[0].id);
        }
      })
      .catch((e: Error) => setMessage(`Could not load voices: ${e.message}`));
    return () => {
      wsRef.current?.close();
      playerRef.current?.stop();
    };
  }, []);

  // Release the previous Blob URL when replaced or on unmount.
  useEffect(() => () => void (result && URL.revokeObjectURL(result.url)), [result]);

  const providers = useMemo(() => [...new Set(voices.map((v) => v.provider))], [voices]);
  const providerVoices = voices.filter((v) => v.provider === provider);

  function onProvider(p: string) {
    setProvider(p);
    setVoice(voices.find((v) => v.provider === p)?.id ?? '');
  }

  async function speak() {
    const gen = ++genRef.current;
    wsRef.current?.close();
    playerRef.current?.stop();
    playerRef.current = null;
    setResult(null);
    setMessage('');
    setStats({ ...IDLE, status: 'creating session' });
    setBusy(true);

    // Create the AudioContext inside the click handler so autoplay policies allow it.
    const live = LIVE_FORMATS.has(format);
    const player = live ? new LivePlayer(rate) : null;
    playerRef.current = player;

    let session: { session_id: string; ws_url: string };
    try {
      const r = await fetch('/v1/tts/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text, provider, voice, target_format: format, sample_rate_hz: rate }),
      });
      const body = await r.json().catch(() => null);
      if (!r.ok) throw new Error(errorMessage(body, `HTTP ${r.status}`));
      session = body;
    } catch (e) {
      if (gen !== genRef.current) return;
      player?.stop();
      setMessage((e as Error).message);
      setStats((s) => ({ ...s, status: 'error' }));
      setBusy(false);
      return;
    }
    if (gen !== genRef.current) {
      player?.stop(); // Stopped (or restarted) while the session was being created.
      return;
    }

    const seq = new SeqTracker();
    const pcm = new Pcm16Decoder();
    const parts: Uint8Array<ArrayBuffer>[] = [];
    let openedAt = 0;
    let final = '';

    const ws = new WebSocket(resolveWsUrl(session.ws_url, location.href));
    wsRef.current = ws;
    ws.onopen = () => {
      openedAt = performance.now();
      setStats((s) => ({ ...s, status: 'streaming' }));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const frame = JSON.parse(ev.data) as ServerFrame;
      if (frame.type === 'audio') {
        const bytes = base64ToBytes(frame.data);
        const gap = seq.observe(frame.seq);
        parts.push(bytes);
        if (player) {
          player.play(format === 'mulaw' ? decodeMulaw(bytes) : format === 'alaw' ? decodeAlaw(bytes) : pcm.push(bytes));
        }
        setStats((s) => ({
          ...s,
          ttfaMs: s.ttfaMs ?? Math.round(performance.now() - openedAt),
          chunks: s.chunks + 1,
          bytes: s.bytes + bytes.length,
          gaps: s.gaps + (gap ? 1 : 0),
        }));
      } else if (frame.type === 'eos') {
        final = 'eos';
        setStats((s) => ({ ...s, status: 'eos' }));
        const type = BLOB_CONTENT_TYPES[format];
        setResult({ url: URL.createObjectURL(new Blob(parts, { type: type ?? 'application/octet-stream' })), type });
      } else if (frame.type === 'error') {
        final = frame.code;
        setStats((s) => ({ ...s, status: `error ${frame.code}` }));
        setMessage(frame.message);
      }
    };
    ws.onerror = () => setMessage((m) => m || 'WebSocket error');
    ws.onclose = (ev) => {
      if (wsRef.current === ws) wsRef.current = null;
      if (!final) setStats((s) => ({ ...s, status: `closed ${ev.code}` }));
      setBusy(false);
    };
  }

  function stop() {
    const ws = wsRef.current;
    if (ws?.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'cancel' })); // server answers with eos/error and closes
    } else if (ws) {
      ws.close();
    } else {
      genRef.current++; // session POST still pending: drop it
      setBusy(false);
      setStats((s) => ({ ...s, status: 'stopped' }));
    }
    playerRef.current?.stop();
    playerRef.current = null;
  }

  return (
    <main>
      <h1>TTS Gateway demo</h1>

      <label htmlFor="text">Text</label>
      <textarea id="text" data-testid="text" rows={4} value={text} onChange={(e) => setText(e.target.value)} />

      <div className="row">
        <label>
          Provider
          <select id="provider" data-testid="provider" value={provider} onChange={(e) => onProvider(e.target.value)}>
            {providers.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Voice
          <select id="voice" data-testid="voice" value={voice} onChange={(e) => setVoice(e.target.value)}>
            {providerVoices.map((v) => (
              <option key={v.id} value={v.id}>
                {v.name} ({v.language})
              </option>
            ))}
          </select>
        </label>
        <label>
          Format
          <select id="format" data-testid="format" value={format} onChange={(e) => setFormat(e.target.value as Format)}>
            {FORMATS.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sample rate
          <input
            id="rate"
            data-testid="rate"
            type="number"
            min={8000}
            max={48000}
            step={1000}
            value={rate}
            onChange={(e) => setRate(Number(e.target.value))}
          />
        </label>
      </div>

      <div className="row">
        <button id="speak" data-testid="speak" onClick={speak} disabled={!text.trim()}>
          Speak
        </button>
        <button id="stop" data-testid="stop" onClick={stop} disabled={!busy}>
          Stop
        </button>
      </div>

      {message && (
        <p id="message" data-testid="message" className="error" role="alert">
          {message}
        </p>
      )}

      <dl className="stats">
        <dt>Status</dt>
        <dd id="status" data-testid="status">{stats.status}</dd>
        <dt>Time to first audio</dt>
        <dd id="ttfa" data-testid="ttfa">{stats.ttfaMs === null ? '–' : `${stats.ttfaMs} ms`}</dd>
        <dt>Chunks</dt>
        <dd id="chunks" data-testid="chunks">{stats.chunks}</dd>
        <dt>Bytes</dt>
        <dd id="bytes" data-testid="bytes">{stats.bytes}</dd>
        <dt>Seq gaps</dt>
        <dd id="gaps" data-testid="gaps">{stats.gaps}</dd>
      </dl>

      {result && (
        <p className="row">
          {result.type && <audio id="player" data-testid="player" controls src={result.url} />}
          <a href={result.url} download={`tts.${format === 'opus' ? 'ogg' : format}`}>
            Download ({stats.bytes} bytes)
          </a>
        </p>
      )}
    </main>
  );
}
