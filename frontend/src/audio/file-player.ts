import { mixToMono } from './pcm';
import { PcmOutput } from './pcm-output';
import type { PlaybackStats } from './playback-stats';
import type { PlayerOptions, StreamPlayer } from './player';

/**
 * Last resort for a compressed format this browser cannot decode as it streams: keep the bytes, decode the
 * whole file with `decodeAudioData` when the stream ends, and play it through the same output.
 */
export class WholeFilePlayer implements StreamPlayer {
  readonly kind = 'file' as const;
  onStats: ((stats: PlaybackStats) => void) | null = null;
  onError: ((message: string) => void) | null = null;
  private readonly output: PcmOutput;
  private parts: Uint8Array[] = [];

  constructor(options: PlayerOptions) {
    this.output = new PcmOutput(options.sampleRate, options.prebufferMs);
    this.output.onStats = (s) => this.onStats?.(s);
  }

  get analyser() {
    return this.output.analyser;
  }

  push(bytes: Uint8Array): void {
    this.parts.push(bytes);
  }

  end(): void {
    const blob = new Blob(this.parts as BlobPart[]);
    this.parts = [];
    blob
      .arrayBuffer()
      .then((buf) => this.output.ctx.decodeAudioData(buf))
      .then((audio) => {
        const planes = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c));
        this.output.push(mixToMono(planes), audio.sampleRate);
        this.output.end();
      })
      .catch((error: unknown) => {
        if (!this.output.isClosed) this.onError?.(`The browser could not decode the audio: ${String(error)}`);
      });
  }

  stop(): void {
    this.parts = [];
    this.output.stop();
  }

  stats(): PlaybackStats {
    return this.output.stats;
  }
}
