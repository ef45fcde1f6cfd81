import { SILENCE_THRESHOLD } from './jitter-buffer';
import { concatBytes } from './pcm';
import { IDLE_PLAYBACK, type PlaybackStats } from './playback-stats';
import type { PlayerOptions, StreamPlayer } from './player';

const POLL_MS = 50;

/**
 * MP3 through MediaSource (`audio/mpeg`, sequence mode) into an <audio> element routed through Web Audio:
 * the fallback where WebCodecs cannot decode MP3. The element is the jitter buffer: it is started once
 * `prebufferMs` are buffered ahead. Counters are estimated by sampling the analyser.
 */
export class MsePlayer implements StreamPlayer {
  readonly kind = 'mse' as const;
  readonly analyser: AnalyserNode;
  onStats: ((stats: PlaybackStats) => void) | null = null;
  onError: ((message: string) => void) | null = null;
  private readonly ctx: AudioContext;
  private readonly audio = new Audio();
  private readonly source = new MediaSource();
  private readonly url: string;
  private buffer: SourceBuffer | null = null;
  private queue: Uint8Array[] = [];
  private ended = false;
  private stopped = false;
  private playing = false;
  private lastTime = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly scratch = new Float32Array(2048);
  private current: PlaybackStats;

  constructor(private readonly options: PlayerOptions) {
    this.ctx = new AudioContext({ latencyHint: 'interactive' });
    void this.ctx.resume().catch(() => undefined);
    this.current = { ...IDLE_PLAYBACK, state: 'buffering', sampleRate: options.sampleRate };
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.ctx.createMediaElementSource(this.audio).connect(this.analyser);
    this.analyser.connect(this.ctx.destination);
    this.url = URL.createObjectURL(this.source);
    this.audio.src = this.url;
    this.source.addEventListener('sourceopen', () => {
      this.buffer = this.source.addSourceBuffer('audio/mpeg');
      this.buffer.mode = 'sequence';
      this.buffer.addEventListener('updateend', () => this.pump());
      this.pump();
    });
    this.audio.addEventListener('waiting', () => {
      if (this.playing && !this.ended)
        this.current = { ...this.current, underruns: this.current.underruns + 1 };
    });
    this.audio.addEventListener('ended', () => this.update('drained'));
    this.audio.addEventListener('error', () => this.onError?.('The browser could not play the MP3 stream.'));
    this.timer = setInterval(() => this.update(), POLL_MS);
  }

  push(bytes: Uint8Array): void {
    if (this.stopped) return;
    this.queue.push(bytes);
    this.pump();
  }

  end(): void {
    this.ended = true;
    this.pump();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.audio.pause();
    this.audio.removeAttribute('src');
    this.audio.load();
    URL.revokeObjectURL(this.url);
    this.current = { ...this.current, state: 'stopped', level: 0, bufferedMs: 0 };
    void this.ctx.close().catch(() => undefined);
  }

  stats(): PlaybackStats {
    return this.current;
  }

  private pump(): void {
    const sb = this.buffer;
    if (this.stopped || !sb || sb.updating) return;
    if (this.queue.length > 0) {
      const bytes = concatBytes(this.queue);
      this.queue = [];
      try {
        sb.appendBuffer(bytes);
      } catch (error) {
        this.onError?.(`MediaSource refused the audio: ${(error as Error).message}`);
      }
      return;
    }
    if (this.ended && this.source.readyState === 'open') this.source.endOfStream();
  }

  private bufferedAheadMs(): number {
    const b = this.audio.buffered;
    return b.length ? Math.max(0, (b.end(b.length - 1) - this.audio.currentTime) * 1000) : 0;
  }

  private update(state?: PlaybackStats['state']): void {
    if (this.stopped) return;
    const ahead = this.bufferedAheadMs();
    if (!this.playing && (ahead >= this.options.prebufferMs || (this.ended && ahead > 0))) {
      this.playing = true;
      this.audio.play().catch((error: unknown) => this.onError?.(`Playback was refused: ${String(error)}`));
    }
    this.analyser.getFloatTimeDomainData(this.scratch);
    let energy = 0;
    let loud = 0;
    for (const s of this.scratch) {
      energy += s * s;
      if (Math.abs(s) > SILENCE_THRESHOLD) loud++;
    }
    const now = this.audio.currentTime;
    const played = Math.max(0, now - this.lastTime) * this.options.sampleRate;
    this.lastTime = now;
    const audible = Math.round((played * loud) / this.scratch.length);
    const nonSilentSamples = this.current.nonSilentSamples + audible;
    this.current = {
      ...this.current,
      state:
        state ??
        (this.current.state === 'drained'
          ? 'drained'
          : this.playing && !this.audio.paused
            ? 'playing'
            : 'buffering'),
      bufferedMs: ahead,
      level: Math.sqrt(energy / this.scratch.length),
      renderedSamples: Math.round(now * this.options.sampleRate),
      nonSilentSamples,
      firstSoundAt: this.current.firstSoundAt ?? (nonSilentSamples > 0 ? performance.now() : null),
    };
    this.onStats?.(this.current);
  }
}
