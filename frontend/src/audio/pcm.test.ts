import { describe, expect, it } from 'vitest';
import { LinearResampler, base64ToBytes, concatBytes, mixToMono, s16leToFloat32 } from './pcm';

describe('pcm helpers', () => {
  it('should decode base64 to bytes', () => {
    expect(Array.from(base64ToBytes('AAH/gA=='))).toEqual([0x00, 0x01, 0xff, 0x80]);
    expect(base64ToBytes('').length).toBe(0);
  });

  it('should read s16le samples, respecting a subarray offset', () => {
    const bytes = new Uint8Array([0xaa, 0x00, 0x40, 0xff, 0xff, 0x00, 0x80]);
    expect(Array.from(s16leToFloat32(bytes.subarray(1)))).toEqual([0.5, -1 / 32768, -1]);
  });

  it('should mix channels to mono', () => {
    expect(Array.from(mixToMono([Float32Array.of(0.5, 0), Float32Array.of(0, -0.5)]))).toEqual([0.25, -0.25]);
  });

  it('should concatenate chunks', () => {
    expect(
      Array.from(concatBytes([new Uint8Array([1]), new Uint8Array([]), new Uint8Array([2, 3])])),
    ).toEqual([1, 2, 3]);
  });
});

describe(LinearResampler.name, () => {
  it('should pass audio through at equal rates', () => {
    const r = new LinearResampler(8000, 8000);
    expect(Array.from(r.process(Float32Array.of(0.5, -0.5)))).toEqual([0.5, -0.5]);
  });

  it('should produce input × ratio samples over many chunks, whatever the chunking', () => {
    const r = new LinearResampler(8000, 48000);
    let total = 0;
    for (let i = 0; i < 100; i++) total += r.process(new Float32Array(160 + (i % 3))).length;
    expect(Math.abs(total - 16100 * 6)).toBeLessThanOrEqual(6);
  });

  it('should interpolate a ramp without jumps at chunk seams', () => {
    const r = new LinearResampler(24000, 48000);
    const ramp = Float32Array.from({ length: 100 }, (_, i) => i / 100);
    const out = [...r.process(ramp.subarray(0, 37)), ...r.process(ramp.subarray(37))];
    for (let i = 3; i < out.length; i++) expect(out[i] - out[i - 1]).toBeCloseTo(0.005, 6);
  });
});
