import { describe, expect, it } from 'vitest';
import { WAVE_FORMAT_MULAW, WAVE_FORMAT_PCM, finalizeStreamedWav, parseWavHeader, wavHeader } from './wav';

const pcm16k = { formatTag: WAVE_FORMAT_PCM, channels: 1, sampleRate: 16000, bitsPerSample: 16 };

describe('WAV', () => {
  it('should write a 44-byte PCM header with real sizes', () => {
    const h = wavHeader(pcm16k, 1000);
    const v = new DataView(h.buffer);
    expect(h.length).toBe(44);
    expect(v.getUint32(4, true)).toBe(36 + 1000);
    expect(v.getUint32(28, true)).toBe(32000);
    expect(v.getUint32(40, true)).toBe(1000);
    expect(parseWavHeader(h)).toEqual({ ...pcm16k, dataOffset: 44, dataBytes: 1000 });
  });

  it('should write G.711 with a fact chunk', () => {
    const h = wavHeader(
      { formatTag: WAVE_FORMAT_MULAW, channels: 1, sampleRate: 8000, bitsPerSample: 8 },
      801,
    );
    const v = new DataView(h.buffer);
    expect(String.fromCharCode(...h.subarray(38, 42))).toBe('fact');
    expect(v.getUint32(46, true)).toBe(801);
    expect(v.getUint32(4, true)).toBe(h.length - 8 + 802); // odd data: a pad byte is counted
    expect(parseWavHeader(h)).toMatchObject({ formatTag: 7, sampleRate: 8000, dataOffset: 58 });
  });

  it('should wait for more bytes, then parse a streamed header split anywhere', () => {
    const h = wavHeader(pcm16k, 0xffffffff);
    for (let n = 0; n < 44; n++) expect(parseWavHeader(h.subarray(0, n))).toBeNull();
    expect(parseWavHeader(h)?.dataBytes).toBe(0xffffffff);
  });

  it('should skip unknown chunks and refuse a non-WAV', () => {
    const h = wavHeader(pcm16k, 10);
    const list = new Uint8Array([0x4c, 0x49, 0x53, 0x54, 3, 0, 0, 0, 1, 2, 3, 0]); // LIST, odd size + pad
    const withList = new Uint8Array([...h.subarray(0, 36), ...list, ...h.subarray(36)]);
    expect(parseWavHeader(withList)).toMatchObject({ dataOffset: 56 });
    expect(() => parseWavHeader(new TextEncoder().encode('ID3 not a wave file'))).toThrow(/RIFF/);
  });

  it('should give a streamed WAV real sizes', () => {
    const streamed = new Uint8Array([...wavHeader(pcm16k, 0xffffffff), 1, 2, 3, 4]);
    const file = finalizeStreamedWav(streamed);
    expect(parseWavHeader(file)).toMatchObject({ dataBytes: 4, dataOffset: 44 });
    expect(Array.from(file.subarray(44))).toEqual([1, 2, 3, 4]);
  });
});
