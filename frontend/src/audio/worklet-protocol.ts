import type { PlayoutCounters, PlayoutState } from './jitter-buffer';

/** Messages between the main thread and the player worklet (kept apart: importing the worklet file runs it). */
export type ToWorklet =
  | { type: 'push'; samples: Float32Array }
  | { type: 'end' }
  | { type: 'stop' }
  | { type: 'prebuffer'; samples: number };

export interface WorkletStats extends PlayoutCounters {
  type: 'stats';
  state: PlayoutState;
  bufferedSamples: number;
  sampleRate: number;
  /** RMS since the previous report. */
  level: number;
}

export const PROCESSOR_NAME = 'tts-pcm-player';
