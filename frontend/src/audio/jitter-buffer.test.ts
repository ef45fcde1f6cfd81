import { describe, expect, it } from 'vitest';
import { JitterBuffer } from './jitter-buffer';

const QUANTUM = 128;
const tone = (n: number, v = 0.5) => new Float32Array(n).fill(v);

function render(jb: JitterBuffer, quanta = 1): Float32Array {
  const out = new Float32Array(QUANTUM * quanta);
  for (let q = 0; q < quanta; q++) {
    const part = new Float32Array(QUANTUM);
    jb.read(part);
    out.set(part, q * QUANTUM);
  }
  return out;
}

describe(JitterBuffer.name, () => {
  it('should stay silent until the prebuffer is full, then play in order', () => {
    const jb = new JitterBuffer(300);
    jb.write(tone(200, 0.1));
    expect(render(jb).every((s) => s === 0)).toBe(true);
    expect(jb.state).toBe('buffering');
    jb.write(tone(200, 0.2));
    const out = render(jb, 2);
    expect(jb.state).toBe('playing');
    expect(out[0]).toBeCloseTo(0.1);
    expect(out[199]).toBeCloseTo(0.1);
    expect(out[200]).toBeCloseTo(0.2);
    expect(jb.buffered).toBe(400 - 256);
    expect(jb.counters).toMatchObject({ renderedSamples: 256, nonSilentSamples: 256, underruns: 0 });
  });

  it('should count an underrun, rebuffer, and count the starved silence', () => {
    const jb = new JitterBuffer(128);
    jb.write(tone(192));
    render(jb, 2); // 192 played, then dry mid-quantum
    expect(jb.state).toBe('buffering');
    expect(jb.counters.underruns).toBe(1);
    expect(jb.counters.underrunSamples).toBe(64);
    render(jb);
    expect(jb.counters.underrunSamples).toBe(64 + 128);
    jb.write(tone(128));
    render(jb);
    expect(jb.state).toBe('playing');
    expect(jb.counters.renderedSamples).toBe(192 + 128);
  });

  it('should play a short stream at its end without waiting for the prebuffer, then drain', () => {
    const jb = new JitterBuffer(10000);
    jb.write(tone(100));
    jb.end();
    const out = render(jb);
    expect(out[99]).toBeCloseTo(0.5);
    expect(out[100]).toBe(0);
    expect(jb.state).toBe('drained');
    expect(jb.counters.underruns).toBe(0);
  });

  it('should drop everything on stop', () => {
    const jb = new JitterBuffer(0);
    jb.write(tone(1000));
    render(jb);
    jb.stop();
    jb.write(tone(1000));
    expect(render(jb).every((s) => s === 0)).toBe(true);
    expect(jb.state).toBe('stopped');
    expect(jb.buffered).toBe(0);
  });

  it('should not count silence as audible, and report the level', () => {
    const jb = new JitterBuffer(0);
    jb.write(new Float32Array(128));
    jb.write(tone(128, 0.25));
    render(jb, 2);
    expect(jb.counters.renderedSamples).toBe(256);
    expect(jb.counters.nonSilentSamples).toBe(128);
    expect(jb.takeLevel()).toBeCloseTo(Math.sqrt(0.25 ** 2 / 2));
    expect(jb.takeLevel()).toBe(0);
  });
});
