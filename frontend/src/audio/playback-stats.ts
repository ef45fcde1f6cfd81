import type { PlayoutCounters, PlayoutState } from './jitter-buffer';

/** What a player reports about its output, whatever its kind. */
export interface PlaybackStats extends PlayoutCounters {
  state: PlayoutState | 'starting';
  bufferedMs: number;
  sampleRate: number;
  /** RMS of the most recent output, 0..1. */
  level: number;
  /** performance.now() of the first report that non-silent audio had been rendered. */
  firstSoundAt: number | null;
}

export const IDLE_PLAYBACK: PlaybackStats = {
  state: 'starting',
  bufferedMs: 0,
  sampleRate: 0,
  level: 0,
  firstSoundAt: null,
  renderedSamples: 0,
  nonSilentSamples: 0,
  underruns: 0,
  underrunSamples: 0,
};
