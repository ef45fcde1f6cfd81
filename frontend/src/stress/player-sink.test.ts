import { describe, expect, it } from 'vitest';
import { IDLE_PLAYBACK, type PlaybackStats } from '../audio/playback-stats';
import type { StreamPlayer } from '../audio/player';
import { playerSink, RELEASE_AFTER_DRAIN_MS, type PlayerSinkTimers } from './player-sink';

/** A player that records what it was told; `report` plays the worklet's part (it sends stats). */
function recordingPlayer() {
  const calls: string[] = [];
  let current: PlaybackStats = { ...IDLE_PLAYBACK, state: 'buffering' };
  const player: StreamPlayer = {
    kind: 'worklet',
    analyser: null,
    onStats: null,
    onError: null,
    push: (b) => calls.push(`push ${b.length}`),
    end: () => calls.push('end'),
    stop: () => calls.push('stop'),
    stats: () => current,
  };
  const report = (state: PlaybackStats['state']) => {
    current = { ...current, state };
    player.onStats?.(current);
  };
  return { player, calls, report };
}

/** Timers run by hand. */
function manualTimers() {
  const due: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const timers: PlayerSinkTimers = {
    setTimeout: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      due.push(t);
      return t;
    },
    clearTimeout: (t) => ((t as (typeof due)[number]).cleared = true),
  };
  const runAll = () => due.splice(0).forEach((t) => t.cleared || t.fn());
  return { timers, due, runAll };
}

describe('playerSink', () => {
  it('should release the player once it has drained after the end of the stream', () => {
    const { player, calls, report } = recordingPlayer();
    const { timers, due, runAll } = manualTimers();
    const sink = playerSink(player, timers);
    sink.push(new Uint8Array(10));
    report('playing');
    sink.end();
    report('playing');
    expect(calls).toEqual(['push 10', 'end']);
    expect(due).toHaveLength(0); // still playing out: not released
    report('drained');
    expect(due.map((t) => t.ms)).toEqual([RELEASE_AFTER_DRAIN_MS]);
    runAll();
    expect(calls).toEqual(['push 10', 'end', 'stop']);
    sink.stop(); // the runner's stop later on: nothing more
    report('drained');
    expect(calls).toEqual(['push 10', 'end', 'stop']);
  });

  it('should not release a player that drains before the end of the stream (an underrun)', () => {
    const { player, calls, report } = recordingPlayer();
    const { timers, due } = manualTimers();
    playerSink(player, timers);
    report('drained');
    expect(due).toHaveLength(0);
    expect(calls).toEqual([]);
  });

  it('should stop at once on stop, even while it plays out, and cancel the pending release', () => {
    const { player, calls, report } = recordingPlayer();
    const { timers, due } = manualTimers();
    const sink = playerSink(player, timers);
    sink.end();
    report('drained');
    sink.stop();
    expect(calls).toEqual(['end', 'stop']);
    expect(due[0].cleared).toBe(true);
    sink.push(new Uint8Array(3));
    sink.end();
    expect(calls).toEqual(['end', 'stop']);
  });

  it('should release a player that reports an error, since it may never drain', () => {
    const { player, calls } = recordingPlayer();
    const sink = playerSink(player, manualTimers().timers);
    sink.push(new Uint8Array(4));
    player.onError?.('The mp3 decoder failed');
    expect(calls).toEqual(['push 4', 'stop']);
  });
});
