import { PlaybackCursor } from './lib/scheduler';
import { int16ToFloat32 } from './lib/pcm';

/** Plays mono Int16 chunks gap-free on an AudioContext. Create it from a user gesture. */
export class LivePlayer {
  private readonly ctx = new AudioContext();
  private readonly cursor = new PlaybackCursor();
  private readonly sources = new Set<AudioBufferSourceNode>();
  private stopped = false;

  constructor(private readonly sampleRate: number) {
    void this.ctx.resume();
  }

  play(samples: Int16Array): void {
    if (samples.length === 0 || this.stopped) return;
    const buffer = this.ctx.createBuffer(1, samples.length, this.sampleRate);
    buffer.copyToChannel(int16ToFloat32(samples), 0);
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.ctx.destination);
    src.onended = () => this.sources.delete(src);
    this.sources.add(src);
    src.start(this.cursor.schedule(this.ctx.currentTime, buffer.duration));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.sources) {
      try {
        s.stop();
      } catch {
        /* not started yet */
      }
    }
    this.sources.clear();
    void this.ctx.close();
  }
}
