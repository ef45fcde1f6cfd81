import type { PlaybackStats } from './playback-stats';

/** How a format is played: see `choosePlayer`. */
export type PlayerKind = 'worklet' | 'webcodecs' | 'mse' | 'file';

/** Plays one utterance from its encoded bytes, pushed in stream order as they arrive. */
export interface StreamPlayer {
  readonly kind: PlayerKind;
  /** Tapped by the level meter; null until the player has an audio graph. */
  readonly analyser: AnalyserNode | null;
  push(bytes: Uint8Array): void;
  /** The stream ended: play out what is buffered. */
  end(): void;
  /** Silence now and release the audio device. */
  stop(): void;
  stats(): PlaybackStats;
  /** Called with fresh stats (about every 50 ms while playing). */
  onStats: ((stats: PlaybackStats) => void) | null;
  onError: ((message: string) => void) | null;
}

export interface PlayerOptions {
  /** The stream's sample rate (as the session was created). */
  sampleRate: number;
  /** Jitter buffer: audio held before playback starts, and again after an underrun. */
  prebufferMs: number;
}
