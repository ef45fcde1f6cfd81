import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/http';
import { SeqTracker, type StreamHandlers, type StreamOutcome } from '../api/stream';
import type { SessionCreated } from '../api/types';
import { IDLE_PLAYBACK, type PlaybackStats } from '../audio/playback-stats';
import type { StreamPlayer } from '../audio/player';
import { parseWavHeader } from '../audio/wav';
import { Utterance, type UtteranceDeps } from './utterance';

const tick = () => new Promise((r) => setTimeout(r, 0));

class FakePlayer implements StreamPlayer {
  readonly kind = 'worklet' as const;
  readonly analyser = null;
  pushed = 0;
  ended = false;
  stopped = false;
  current: PlaybackStats = { ...IDLE_PLAYBACK };
  onStats: ((s: PlaybackStats) => void) | null = null;
  onError: ((m: string) => void) | null = null;
  push(bytes: Uint8Array) {
    this.pushed += bytes.length;
  }
  end() {
    this.ended = true;
  }
  stop() {
    this.stopped = true;
  }
  stats() {
    return this.current;
  }
  report(patch: Partial<PlaybackStats>) {
    this.current = { ...this.current, ...patch };
    this.onStats?.(this.current);
  }
}

function setup(create?: () => Promise<SessionCreated>) {
  let clock = 1000;
  let handlers: StreamHandlers | null = null;
  const cancels: number[] = [];
  const seqs = new SeqTracker();
  const deps: UtteranceDeps = {
    now: () => clock,
    api: {
      createSession:
        create ?? (() => Promise.resolve({ session_id: 'abcdef123', ws_url: '/x', sample_rate_hz: 8000 })),
    },
    openStream: (_s, h) => {
      handlers = h;
      return { cancel: () => cancels.push(clock), dispose: () => undefined };
    },
  };
  const player = new FakePlayer();
  const u = new Utterance({ text: 'Hi', target_format: 'mulaw', sample_rate_hz: 8000 }, player, deps);
  const server = {
    open() {
      clock += 10;
      handlers!.open?.();
    },
    audio(n: number, seq = seqs.last + 1) {
      clock += 20;
      seqs.observe(seq);
      handlers!.audio?.(new Uint8Array(n), seq, seqs);
    },
    end(outcome: StreamOutcome = { kind: 'completed', closeCode: 1000 }) {
      handlers!.end?.(outcome);
    },
    advance(ms: number) {
      clock += ms;
    },
  };
  return { u, player, server, cancels };
}

describe(Utterance.name, () => {
  it('should stream into the player, time the first audio and offer the file after eos', async () => {
    const { u, player, server } = setup();
    await u.start();
    expect(u.getSnapshot().stream).toBe('connecting');
    server.open();
    server.audio(160);
    player.report({ state: 'playing', renderedSamples: 80, nonSilentSamples: 80 });
    server.audio(160, 3);
    server.end();
    const s = u.getSnapshot();
    expect(s).toMatchObject({
      stream: 'ended',
      bytes: 320,
      chunks: 2,
      seqGaps: 1,
      missingFrames: 1,
      sampleRate: 8000,
    });
    expect(s.openAt! - s.speakAt).toBe(10);
    expect(s.firstAudioAt! - s.openAt!).toBe(20);
    expect(s.atStreamEnd).toEqual({ renderedSamples: 80, nonSilentSamples: 80 });
    expect(s.active).toBe(true); // still playing out
    expect(player).toMatchObject({ pushed: 320, ended: true, stopped: false });
    const file = u.file()!;
    expect(parseWavHeader(file.bytes)).toMatchObject({ formatTag: 7, sampleRate: 8000, dataBytes: 320 });
    player.report({ state: 'drained' });
    expect(u.getSnapshot().active).toBe(false);
  });

  it('should stop playback at once and cancel a running stream', async () => {
    const { u, player, server, cancels } = setup();
    await u.start();
    server.open();
    server.audio(160);
    u.stop();
    expect(player.stopped).toBe(true);
    expect(cancels).toHaveLength(1);
    expect(u.getSnapshot()).toMatchObject({ stream: 'cancelled', active: false, canDownload: false });
    expect(u.getSnapshot().playback.state).toBe('stopped');
    server.end(); // an eos that crossed the cancel changes nothing
    expect(u.getSnapshot()).toMatchObject({ stream: 'cancelled', closeCode: 1000 });
    expect(player.ended).toBe(false);
  });

  it('should stop before the session exists without opening a stream', async () => {
    let resolve!: (s: SessionCreated) => void;
    const { u, player, cancels } = setup(() => new Promise((r) => (resolve = r)));
    const started = u.start();
    u.stop();
    resolve({ session_id: 'late', ws_url: '/x' });
    await started;
    await tick();
    expect(u.getSnapshot().stream).toBe('cancelled');
    expect(u.getSnapshot().sessionId).toBeNull();
    expect(cancels).toHaveLength(0);
    expect(player.stopped).toBe(true);
  });

  it('should explain a rate limit in plain words', async () => {
    const { u, player } = setup(() =>
      Promise.reject(new ApiError(429, 'Too many requests', 'rate_limited', undefined, 12)),
    );
    await u.start();
    expect(u.getSnapshot()).toMatchObject({
      stream: 'failed',
      errorCode: 'rate_limited',
      problem: 'Rate limited: too many new sessions from this browser. Try again in 12 s.',
      active: false,
    });
    expect(player.stopped).toBe(true);
  });

  it('should say which error ended the stream', async () => {
    const { u, server } = setup();
    await u.start();
    server.open();
    server.advance(5);
    server.end({
      kind: 'error',
      code: 'provider_timeout',
      message: 'No audio within 20000 ms.',
      closeCode: 4504,
    });
    expect(u.getSnapshot()).toMatchObject({
      stream: 'failed',
      closeCode: 4504,
      problem: 'The speech engine did not answer in time. No audio within 20000 ms.',
    });
  });
});
