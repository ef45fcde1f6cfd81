import { describe, expect, it } from 'vitest';
import { Pcm16Decoder, base64ToBytes, bytesToInt16, int16ToFloat32 } from './pcm';

describe('pcm', () => {
  it('decodes base64 to bytes', () => {
    expect(Array.from(base64ToBytes('AAH/gA=='))).toEqual([0x00, 0x01, 0xff, 0x80]);
    expect(base64ToBytes('').length).toBe(0);
  });

  it('reads s16le samples', () => {
    // 1, -1, 32767, -32768
    const bytes = new Uint8Array([0x01, 0x00, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x80]);
    expect(Array.from(bytesToInt16(bytes))).toEqual([1, -1, 32767, -32768]);
  });

  it('respects byteOffset of a subarray and drops an odd trailing byte', () => {
    const backing = new Uint8Array([0xaa, 0x02, 0x00, 0x03]);
    expect(Array.from(bytesToInt16(backing.subarray(1)))).toEqual([2]);
  });

  it('scales to float in [-1, 1)', () => {
    const f = int16ToFloat32(new Int16Array([0, 16384, -32768, 32767]));
    expect(f[0]).toBe(0);
    expect(f[1]).toBe(0.5);
    expect(f[2]).toBe(-1);
    expect(f[3]).toBeLessThan(1);
    expect(f[3]).toBeCloseTo(1, 4);
  });

  it('base64 -> int16 end to end', () => {
    // 0x1234, 0xfedc little-endian
    const b64 = btoa(String.fromCharCode(0x34, 0x12, 0xdc, 0xfe));
    expect(Array.from(bytesToInt16(base64ToBytes(b64)))).toEqual([0x1234, 0xfedc - 0x10000]);
  });

  it('streaming decoder carries a sample split across chunks', () => {
    const d = new Pcm16Decoder();
    expect(Array.from(d.push(new Uint8Array([0x01, 0x00, 0x02])))).toEqual([1]);
    expect(Array.from(d.push(new Uint8Array([0x00, 0x03, 0x00])))).toEqual([2, 3]);
    expect(Array.from(d.push(new Uint8Array([])))).toEqual([]);
  });
});
