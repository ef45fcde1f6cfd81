import { describe, expect, it } from 'vitest';
import { createSampleDecoder } from './sample-decoders';
import { WAVE_FORMAT_PCM, wavHeader } from './wav';

const s16 = (...values: number[]) => new Uint8Array(Int16Array.from(values).buffer);

describe('sample decoders', () => {
  it('should decode pcm16 with samples split across chunks', () => {
    const d = createSampleDecoder('pcm16', 16000);
    const bytes = s16(16384, -16384, 32767);
    const out = [
      ...d.push(bytes.subarray(0, 3)),
      ...d.push(bytes.subarray(3, 5)),
      ...d.push(bytes.subarray(5)),
    ];
    expect(out).toEqual([0.5, -0.5, 32767 / 32768]);
    expect(d.sampleRate).toBe(16000);
  });

  it('should decode G.711 byte by byte', () => {
    expect(
      Array.from(createSampleDecoder('mulaw', 8000).push(new Uint8Array([0xff, 0x7f])), Math.abs),
    ).toEqual([0, 0]);
    expect(createSampleDecoder('alaw', 8000).push(new Uint8Array([0xd5]))[0]).toBeCloseTo(8 / 32768);
  });

  it('should skip a streamed WAV header split anywhere and learn its rate', () => {
    const header = wavHeader(
      { formatTag: WAVE_FORMAT_PCM, channels: 1, sampleRate: 22050, bitsPerSample: 16 },
      0xffffffff,
    );
    const stream = new Uint8Array([...header, ...s16(8192, -8192, 4096)]);
    for (const cut of [1, 20, 43, 44, 45, 47]) {
      const d = createSampleDecoder('wav', 24000);
      const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(out).toEqual([0.25, -0.25, 0.125]);
      expect(d.sampleRate).toBe(22050);
    }
  });

  it('should downmix a stereo WAV', () => {
    const header = wavHeader(
      { formatTag: WAVE_FORMAT_PCM, channels: 2, sampleRate: 8000, bitsPerSample: 16 },
      8,
    );
    const d = createSampleDecoder('wav', 8000);
    expect(Array.from(d.push(new Uint8Array([...header, ...s16(16384, 0, 8192)])))).toEqual([0.25]);
    expect(Array.from(d.push(s16(8192)))).toEqual([0.25]);
  });
});
