import { PcmOutput } from './pcm-output';
import type { PlaybackStats } from './playback-stats';
import type { PlayerOptions, StreamPlayer } from './player';
import { createSampleDecoder, type SampleDecoder, type SampleFormat } from './sample-decoders';

/** pcm16, µ-law, A-law and WAV: decoded in JavaScript as bytes arrive, played through the worklet. */
export class PcmStreamPlayer implements StreamPlayer {
  readonly kind = 'worklet' as const;
  private readonly decoder: SampleDecoder;
  private readonly output: PcmOutput;

  constructor(format: SampleFormat, options: PlayerOptions) {
    this.decoder = createSampleDecoder(format, options.sampleRate);
    this.output = new PcmOutput(options.sampleRate, options.prebufferMs);
    this.output.onStats = (s) => this.onStats?.(s);
    this.output.onError = (m) => this.onError?.(m);
  }

  onStats: ((stats: PlaybackStats) => void) | null = null;
  onError: ((message: string) => void) | null = null;

  get analyser() {
    return this.output.analyser;
  }

  push(bytes: Uint8Array): void {
    try {
      const samples = this.decoder.push(bytes);
      this.output.push(samples, this.decoder.sampleRate ?? this.output.ctx.sampleRate);
    } catch (error) {
      this.onError?.(String((error as Error).message ?? error));
    }
  }

  end(): void {
    this.output.end();
  }

  stop(): void {
    this.output.stop();
  }

  stats(): PlaybackStats {
    return this.output.stats;
  }
}
