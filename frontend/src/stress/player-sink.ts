import type { StreamPlayer } from '../audio/player';
import type { AudioSink } from './stress-runner';

/** Lets the last samples leave the device before its context is closed (as a Speak's utterance does). */
export const RELEASE_AFTER_DRAIN_MS = 500;

export interface PlayerSinkTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: PlayerSinkTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * The heard stress session's player as the runner's sink. The runner only says the stream ended; nothing else
 * would then close the player, and its AudioContext and worklet would run on after the run (the worklet keeps
 * rendering silence once drained). So: after `end`, play out what is buffered and release the device once the
 * player reports `drained`. A player that reports an error is released at once: it may never drain.
 */
export function playerSink(player: StreamPlayer, timers: PlayerSinkTimers = realTimers): AudioSink {
  let ended = false;
  let released = false;
  let pending: unknown = null;
  const release = () => {
    if (released) return;
    released = true;
    if (pending !== null) timers.clearTimeout(pending);
    pending = null;
    player.stop();
  };
  const releaseSoonIfDrained = (state: string) => {
    if (ended && !released && pending === null && state === 'drained')
      pending = timers.setTimeout(release, RELEASE_AFTER_DRAIN_MS);
  };
  player.onStats = (stats) => releaseSoonIfDrained(stats.state);
  player.onError = () => release();
  return {
    push: (bytes) => {
      if (!released) player.push(bytes);
    },
    end: () => {
      if (released || ended) return;
      ended = true;
      player.end();
      releaseSoonIfDrained(player.stats().state);
    },
    stop: release,
  };
}
