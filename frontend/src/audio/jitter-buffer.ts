/**
 * The playout buffer behind every live player (runs inside the AudioWorklet, one render quantum at a time).
 * It holds `prebuffer` samples before it starts — and again after running dry — so network jitter does not
 * turn into clicks; it counts what it rendered so tests and the UI can tell audio really played.
 */

export type PlayoutState = 'buffering' | 'playing' | 'drained' | 'stopped';

export interface PlayoutCounters {
  /** Samples of stream audio written to the output. */
  renderedSamples: number;
  /** Of those, samples above the silence threshold. */
  nonSilentSamples: number;
  /** Times the buffer ran dry before the end of the stream. */
  underruns: number;
  /** Silence written while starved after playback had started. */
  underrunSamples: number;
}

/** Below this magnitude (−60 dBFS) a sample counts as silence: A-law has no exact zero, its quietest is −82 dBFS. */
export const SILENCE_THRESHOLD = 1e-3;

export class JitterBuffer {
  state: PlayoutState = 'buffering';
  buffered = 0;
  ended = false;
  readonly counters: PlayoutCounters = {
    renderedSamples: 0,
    nonSilentSamples: 0,
    underruns: 0,
    underrunSamples: 0,
  };
  /** Sum of squares and count of the samples rendered since the last `takeLevel`. */
  private energy = 0;
  private energyCount = 0;
  private started = false;
  private readonly chunks: Float32Array[] = [];
  private head = 0; // read offset into chunks[0]

  constructor(public prebuffer: number) {}

  write(samples: Float32Array): void {
    if (this.state === 'stopped' || this.ended || samples.length === 0) return;
    this.chunks.push(samples);
    this.buffered += samples.length;
  }

  /** No more input: play out what is buffered, then `drained`. */
  end(): void {
    this.ended = true;
  }

  stop(): void {
    this.state = 'stopped';
    this.chunks.length = 0;
    this.head = 0;
    this.buffered = 0;
  }

  /** Fills `out` (one render quantum) with audio or silence. */
  read(out: Float32Array): void {
    let i = 0;
    if (this.state === 'buffering') {
      if (this.buffered >= this.prebuffer || (this.ended && this.buffered > 0)) {
        this.state = 'playing';
        this.started = true;
      } else if (this.ended) {
        this.state = 'drained';
      }
    }
    while (i < out.length && this.state === 'playing') {
      const chunk = this.chunks[0];
      if (!chunk) {
        if (this.ended) this.state = 'drained';
        else {
          this.state = 'buffering';
          this.counters.underruns++;
        }
        break;
      }
      const n = Math.min(out.length - i, chunk.length - this.head);
      for (let k = 0; k < n; k++) {
        const s = chunk[this.head + k];
        out[i + k] = s;
        this.energy += s * s;
        if (s > SILENCE_THRESHOLD || s < -SILENCE_THRESHOLD) this.counters.nonSilentSamples++;
      }
      this.counters.renderedSamples += n;
      this.energyCount += n;
      this.buffered -= n;
      this.head += n;
      i += n;
      if (this.head === chunk.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    if (i < out.length) {
      out.fill(0, i);
      if (this.started && this.state === 'buffering') this.counters.underrunSamples += out.length - i;
    }
  }

  /** RMS of what was rendered since the previous call (0 when nothing was). */
  takeLevel(): number {
    const rms = this.energyCount ? Math.sqrt(this.energy / this.energyCount) : 0;
    this.energy = 0;
    this.energyCount = 0;
    return rms;
  }
}
