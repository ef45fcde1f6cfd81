import { LinearResampler } from './pcm';
import { IDLE_PLAYBACK, type PlaybackStats } from './playback-stats';
import { PROCESSOR_NAME, type ToWorklet, type WorkletStats } from './worklet-protocol';
import workletUrl from './pcm-worklet.ts?worker&url';

/**
 * An AudioContext with the player worklet and an analyser (for the level meter): takes float chunks as they
 * are decoded and plays them through the worklet's jitter buffer. Create it inside the click handler so
 * autoplay rules allow it; it buffers what arrives while the worklet module loads.
 */
export class PcmOutput {
  readonly ctx: AudioContext;
  readonly analyser: AnalyserNode;
  stats: PlaybackStats;
  onStats: ((stats: PlaybackStats) => void) | null = null;
  onError: ((message: string) => void) | null = null;
  private node: AudioWorkletNode | null = null;
  private queued: { msg: ToWorklet; transfer: Transferable[] }[] = [];
  private resampler: LinearResampler | null = null;
  private closed = false;

  constructor(sampleRate: number, prebufferMs: number) {
    let ctx: AudioContext;
    try {
      ctx = new AudioContext({ sampleRate, latencyHint: 'interactive' });
    } catch {
      ctx = new AudioContext(); // this browser refuses the rate: play at the device's and resample
    }
    this.ctx = ctx;
    void ctx.resume().catch(() => undefined);
    this.stats = { ...IDLE_PLAYBACK, sampleRate: ctx.sampleRate };
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.connect(ctx.destination);
    const prebuffer = Math.round((ctx.sampleRate * prebufferMs) / 1000);
    ctx.audioWorklet
      .addModule(workletUrl)
      .then(() => {
        if (this.closed) return;
        const node = new AudioWorkletNode(ctx, PROCESSOR_NAME, {
          numberOfInputs: 0,
          numberOfOutputs: 1,
          outputChannelCount: [1],
        });
        node.port.onmessage = (ev: MessageEvent<WorkletStats>) => this.onWorkletStats(ev.data);
        node.port.postMessage({ type: 'prebuffer', samples: prebuffer } satisfies ToWorklet);
        node.connect(this.analyser);
        this.node = node;
        for (const { msg, transfer } of this.queued) node.port.postMessage(msg, transfer);
        this.queued = [];
      })
      .catch((error: unknown) => this.onError?.(`The audio worklet did not load: ${String(error)}`));
  }

  /** Mono samples at `rate`; resampled when the context runs at another rate. */
  push(samples: Float32Array, rate: number): void {
    if (this.closed || samples.length === 0) return;
    let out = samples;
    if (rate !== this.ctx.sampleRate) {
      if (this.resampler?.fromRate !== rate) this.resampler = new LinearResampler(rate, this.ctx.sampleRate);
      out = this.resampler.process(samples);
    }
    // Copy when the samples are a view into a larger buffer, so only they are transferred.
    const own = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice();
    this.post({ type: 'push', samples: own }, [own.buffer as ArrayBuffer]);
  }

  end(): void {
    this.post({ type: 'end' }, []);
  }

  /** Silence at once and release the audio device. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.node?.port.postMessage({ type: 'stop' } satisfies ToWorklet);
    this.node?.disconnect();
    this.stats = { ...this.stats, state: 'stopped', level: 0, bufferedMs: 0 };
    void this.ctx.close().catch(() => undefined);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private post(msg: ToWorklet, transfer: Transferable[]): void {
    if (this.closed) return;
    if (this.node) this.node.port.postMessage(msg, transfer);
    else this.queued.push({ msg, transfer });
  }

  private onWorkletStats(s: WorkletStats): void {
    if (this.closed) return;
    const firstSoundAt = this.stats.firstSoundAt ?? (s.nonSilentSamples > 0 ? performance.now() : null);
    this.stats = {
      state: s.state,
      bufferedMs: (s.bufferedSamples / s.sampleRate) * 1000,
      sampleRate: s.sampleRate,
      level: s.level,
      firstSoundAt,
      renderedSamples: s.renderedSamples,
      nonSilentSamples: s.nonSilentSamples,
      underruns: s.underruns,
      underrunSamples: s.underrunSamples,
    };
    this.onStats?.(this.stats);
  }
}
