/**
 * AudioWorklet processor: plays mono float chunks posted by the main thread through a JitterBuffer, and
 * reports what it rendered. Bundled by Vite as its own script (imported with `?worker&url`).
 */
import { JitterBuffer, type PlayoutState } from './jitter-buffer';
import { PROCESSOR_NAME, type ToWorklet, type WorkletStats } from './worklet-protocol';

// AudioWorkletGlobalScope is not in lib.dom.
declare const sampleRate: number;
declare const currentFrame: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;

const REPORT_SECONDS = 0.05;

class PcmPlayerProcessor extends AudioWorkletProcessor {
  private readonly jb = new JitterBuffer(Math.round(sampleRate * 0.12));
  private lastReport = 0;
  private lastState: PlayoutState = 'buffering';

  constructor() {
    super();
    this.port.onmessage = (ev: MessageEvent<ToWorklet>) => {
      const msg = ev.data;
      switch (msg.type) {
        case 'push':
          this.jb.write(msg.samples);
          break;
        case 'end':
          this.jb.end();
          break;
        case 'stop':
          this.jb.stop();
          this.report();
          break;
        case 'prebuffer':
          this.jb.prebuffer = msg.samples;
          break;
      }
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const channels = outputs[0];
    this.jb.read(channels[0]);
    for (let c = 1; c < channels.length; c++) channels[c].set(channels[0]);
    if (this.jb.state !== this.lastState || currentFrame - this.lastReport >= sampleRate * REPORT_SECONDS)
      this.report();
    return this.jb.state !== 'stopped';
  }

  private report(): void {
    this.lastReport = currentFrame;
    this.lastState = this.jb.state;
    const stats: WorkletStats = {
      type: 'stats',
      state: this.jb.state,
      bufferedSamples: this.jb.buffered,
      sampleRate,
      level: this.jb.takeLevel(),
      ...this.jb.counters,
    };
    this.port.postMessage(stats);
  }
}

registerProcessor(PROCESSOR_NAME, PcmPlayerProcessor);
