import { useEffect, useRef, useState } from 'react';
import type { GatewayApi } from '../api/http';
import { TtsStream } from '../api/stream';
import type { SessionRequest } from '../api/types';
import { resolveWsUrl } from '../api/url';
import { choosePlayer, createPlayer, guessPlaybackSupport, type PlaybackSupport } from '../audio/players';
import { publish } from '../debug';
import { playerSink } from '../stress/player-sink';
import { StressRunner, type StressReport } from '../stress/stress-runner';
import { bytes, ms } from './format';

interface StressPanelProps {
  api: GatewayApi;
  request: SessionRequest | null;
  support: PlaybackSupport | null;
  prebufferMs: number;
  /** Called when a run starts, so the single-utterance player stops. */
  onStart(): void;
}

const UPDATE_MS = 100;

interface CountFieldProps {
  id: string;
  label: string;
  max: number;
  value: string;
  onChange(value: string): void;
  disabled: boolean;
}

function CountField({ id, label, max, value, onChange, disabled }: CountFieldProps) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        inputMode="numeric"
        min={1}
        max={max}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        disabled={disabled}
      />
    </div>
  );
}

/** N sessions at concurrency C with the chosen settings; counts successes, failures by cause, TTFA. */
export function StressPanel({ api, request, support, prebufferMs, onStart }: StressPanelProps) {
  // Kept as typed (a cleared field is '' rather than NaN), read as numbers below.
  const [sessionsText, setSessionsText] = useState('20');
  const [concurrencyText, setConcurrencyText] = useState('10');
  const sessions = Number(sessionsText);
  const concurrency = Number(concurrencyText);
  const [playOne, setPlayOne] = useState(false);
  const [report, setReport] = useState<StressReport | null>(null);
  const runner = useRef<StressRunner | null>(null);
  const running = report?.state === 'running';

  useEffect(() => () => runner.current?.stop(), []);

  const valid =
    Number.isInteger(sessions) &&
    Number.isInteger(concurrency) &&
    sessions >= 1 &&
    sessions <= 1000 &&
    concurrency >= 1 &&
    concurrency <= 200;

  function run() {
    if (!request || !valid) return;
    onStart();
    runner.current?.stop();
    const kind = playOne ? choosePlayer(request.target_format, support ?? guessPlaybackSupport()) : null;
    // Made now, inside the click, so the one session that is heard may play; it closes itself once drained.
    const player = kind
      ? playerSink(
          createPlayer(kind, request.target_format, {
            sampleRate: request.sample_rate_hz ?? 24000,
            prebufferMs,
          }),
        )
      : null;
    const r = new StressRunner(
      { sessions, concurrency, request },
      {
        now: () => performance.now(),
        createSession: (req, signal) => api.createSession(req, signal),
        openStream: (session, handlers) =>
          new TtsStream(resolveWsUrl(session.ws_url, location.href), handlers),
        sinkFor: (i) => (i === 0 ? player : null),
      },
    );
    runner.current = r;
    // Sessions start and end in bursts: show the report at most every UPDATE_MS, and keep elapsed time and
    // bytes moving between bursts.
    let timer: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      timer = null;
      const rep = r.report();
      publish('stress', rep);
      setReport(rep);
      if (rep.state === 'running') timer = setTimeout(refresh, UPDATE_MS);
    };
    r.onUpdate = (rep) => {
      if (rep.state === 'running') {
        timer ??= setTimeout(refresh, UPDATE_MS);
        return;
      }
      if (timer) clearTimeout(timer);
      timer = null;
      publish('stress', rep);
      setReport(rep);
    };
    void r.run();
  }

  const done = report ? report.succeeded + report.failed : 0;
  const rate = report && report.elapsedMs > 0 ? (done / report.elapsedMs) * 1000 : 0;

  return (
    <section className="panel" aria-labelledby="stress-title">
      <h2 id="stress-title">Stress test</h2>
      <p className="hint">
        Opens many sessions with the text, voice, format and rate chosen above, through the same public API.
        Their audio is received and discarded{playOne ? ', except the first one, which plays' : ''}.
      </p>
      <form
        className="stress-form"
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
      >
        <CountField
          id="stress-sessions"
          label="Sessions"
          max={1000}
          value={sessionsText}
          onChange={setSessionsText}
          disabled={running}
        />
        <CountField
          id="stress-concurrency"
          label="Concurrency"
          max={200}
          value={concurrencyText}
          onChange={setConcurrencyText}
          disabled={running}
        />
        <div className="field checkbox">
          <input
            id="stress-play"
            type="checkbox"
            checked={playOne}
            onChange={(e) => setPlayOne(e.target.checked)}
            disabled={running}
          />
          <label htmlFor="stress-play">Play one session aloud</label>
        </div>
        <div className="actions">
          <button id="stress-run" type="submit" className="primary" disabled={running || !request || !valid}>
            Run stress test
          </button>
          <button id="stress-stop" type="button" onClick={() => runner.current?.stop()} disabled={!running}>
            Cancel
          </button>
        </div>
      </form>
      {!valid && (
        <p className="problem" role="alert">
          Sessions must be 1 to 1000 and concurrency 1 to 200.
        </p>
      )}
      {!request && <p className="hint">Enter some text and choose a voice above first.</p>}

      {report && (
        <div className="stress-results" aria-live="polite">
          <progress max={report.total} value={done} aria-label="Stress progress" />
          <dl className="stats">
            <div>
              <dt>Succeeded</dt>
              <dd id="stress-succeeded" className="good">
                {report.succeeded}
              </dd>
            </div>
            <div>
              <dt>Failed</dt>
              <dd id="stress-failed" className={report.failed ? 'bad' : ''}>
                {report.failed}
              </dd>
            </div>
            <div>
              <dt>Running</dt>
              <dd id="stress-running">{report.running}</dd>
            </div>
            <div>
              <dt>State</dt>
              <dd id="stress-state">{report.state}</dd>
            </div>
            <div>
              <dt>TTFA p50 / p90 / p99</dt>
              <dd id="stress-ttfa">
                {report.ttfa
                  ? `${ms(report.ttfa.p50)} / ${ms(report.ttfa.p90)} / ${ms(report.ttfa.p99)}`
                  : '–'}
              </dd>
            </div>
            <div>
              <dt>Slowest first audio</dt>
              <dd>{ms(report.ttfa?.max)}</dd>
            </div>
            <div>
              <dt>Throughput</dt>
              <dd>
                {rate.toFixed(1)} sessions/s in {(report.elapsedMs / 1000).toFixed(1)} s
              </dd>
            </div>
            <div>
              <dt>Audio received</dt>
              <dd>{bytes(report.bytes)}</dd>
            </div>
          </dl>
          {report.causes.length > 0 && (
            <table className="causes" id="stress-causes">
              <caption>Failures by cause</caption>
              <thead>
                <tr>
                  <th scope="col">Cause</th>
                  <th scope="col">Sessions</th>
                </tr>
              </thead>
              <tbody>
                {report.causes.map((c) => (
                  <tr key={c.cause}>
                    <td>{c.cause}</td>
                    <td>{c.count}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
