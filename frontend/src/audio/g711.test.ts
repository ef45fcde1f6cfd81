import { describe, expect, it } from 'vitest';
import { ALAW_TO_FLOAT, MULAW_TO_FLOAT, alawToLinear, decodeG711, mulawToLinear } from './g711';

describe('G.711', () => {
  it('should decode mu-law reference values', () => {
    expect(mulawToLinear(0xff)).toBe(0);
    expect(mulawToLinear(0x00)).toBe(-32124);
    expect(mulawToLinear(0x80)).toBe(32124);
    expect(mulawToLinear(0xfe)).toBe(8);
    expect(mulawToLinear(0x7e)).toBe(-8);
  });

  it('should decode A-law reference values', () => {
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
  });

  it('should be symmetric and monotonic over each sign half', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const mu = decodeG711(all, MULAW_TO_FLOAT);
    const a = decodeG711(all, ALAW_TO_FLOAT);
    for (let i = 0; i < 128; i++) {
      expect(mu[i] + mu[i + 128]).toBe(0);
      expect(a[i] + a[i + 128]).toBe(0);
    }
    for (let i = 1; i < 128; i++) expect(mu[i]).toBeGreaterThan(mu[i - 1]);
    expect(Math.max(...mu.map(Math.abs))).toBeLessThan(1);
  });
});
