import { describePlayer } from '../audio/players';
import type { StreamState, UtteranceSnapshot } from '../session/utterance';
import { bytes, ms, seconds } from './format';
import { LevelMeter } from './LevelMeter';

const STREAM_WORDS: Record<StreamState, string> = {
  creating: 'creating the session',
  connecting: 'connecting',
  receiving: 'receiving audio',
  ended: 'complete (eos)',
  cancelled: 'cancelled',
  failed: 'failed',
  lost: 'connection lost',
};

const PLAYBACK_WORDS: Record<string, string> = {
  starting: 'starting',
  buffering: 'buffering',
  playing: 'playing',
  drained: 'finished',
  stopped: 'stopped',
};

interface NowPlayingProps {
  snapshot: UtteranceSnapshot | null;
  analyser: AnalyserNode | null;
}

/** The live view of the current utterance: states, timings, counters, level and events. */
export function NowPlaying({ snapshot: u, analyser }: NowPlayingProps) {
  const p = u?.playback;
  const rate = p?.sampleRate || u?.sampleRate || 0;
  const tone = !u
    ? ''
    : u.stream === 'failed' || u.stream === 'lost'
      ? 'bad'
      : u.stream === 'ended'
        ? 'good'
        : '';
  return (
    <section className="panel now" aria-labelledby="now-title">
      <h2 id="now-title">Now playing</h2>
      <div className="states" aria-live="polite">
        <span className={`badge ${tone}`}>
          Stream: <strong id="stream-state">{u ? STREAM_WORDS[u.stream] : 'idle'}</strong>
        </span>
        <span className={`badge ${p?.state === 'playing' ? 'live' : ''}`}>
          Playback:{' '}
          <strong id="playback-state">
            {u ? (u.playerKind ? PLAYBACK_WORDS[p!.state] : 'not playable here') : 'idle'}
          </strong>
        </span>
      </div>
      {u?.problem && (
        <p id="message" className="problem" role="alert">
          {u.problem}
          {u.errorCode && <span className="code"> ({u.errorCode})</span>}
        </p>
      )}

      <LevelMeter analyser={analyser} running={!!u && u.active && p?.state !== 'stopped'} />

      <dl className="stats">
        <div>
          <dt>First audio after Speak</dt>
          <dd id="ttfa-speak">{ms(u?.firstAudioAt != null ? u.firstAudioAt - u.speakAt : null)}</dd>
        </div>
        <div>
          <dt>… after socket open</dt>
          <dd id="ttfa-open">
            {ms(u?.firstAudioAt != null && u.openAt != null ? u.firstAudioAt - u.openAt : null)}
          </dd>
        </div>
        <div>
          <dt>First sound heard</dt>
          <dd id="first-sound">{ms(p?.firstSoundAt != null && u ? p.firstSoundAt - u.speakAt : null)}</dd>
        </div>
        <div>
          <dt>Received</dt>
          <dd>
            <span id="bytes">{bytes(u?.bytes ?? 0)}</span> in <span id="chunks">{u?.chunks ?? 0}</span> chunks
          </dd>
        </div>
        <div>
          <dt>Seq gaps</dt>
          <dd id="gaps">
            {u?.seqGaps ?? 0}
            {u && u.missingFrames > 0 ? ` (${u.missingFrames} missing)` : ''}
          </dd>
        </div>
        <div>
          <dt>Buffer lead</dt>
          <dd id="lead">{ms(p && u?.active ? p.bufferedMs : null)}</dd>
        </div>
        <div>
          <dt>Underruns</dt>
          <dd id="underruns">
            {p?.underruns ?? 0}
            {p && p.underrunSamples > 0 ? ` (${seconds(p.underrunSamples, rate)} late)` : ''}
          </dd>
        </div>
        <div>
          <dt>Played</dt>
          <dd id="played">{p ? seconds(p.renderedSamples, rate) : '–'}</dd>
        </div>
      </dl>
      <p className="hint" id="player-kind">
        {u
          ? `${u.request.target_format} at ${u.sampleRate} Hz — ${describePlayer(u.playerKind, u.request.target_format)}.`
          : 'Press Speak to hear the text.'}
        {u?.sessionId && (
          <>
            {' '}
            Session <code>{u.sessionId.slice(0, 8)}</code>
            {u.closeCode !== null ? `, closed ${u.closeCode}` : ''}.
          </>
        )}
      </p>

      {u && u.events.length > 0 && (
        <details className="events" open>
          <summary>Events</summary>
          <ol>
            {u.events.map((e, i) => (
              <li key={i} className={e.tone}>
                <span className="t">{(e.at / 1000).toFixed(3)} s</span> {e.text}
              </li>
            ))}
          </ol>
        </details>
      )}
    </section>
  );
}
