import { describe, expect, it } from 'vitest';
import { utteranceFile } from './download';
import { parseWavHeader, wavHeader } from './wav';

describe(utteranceFile.name, () => {
  it('should wrap pcm16 as a PCM WAV with real sizes', () => {
    const f = utteranceFile('pcm16', 16000, [new Uint8Array(10), new Uint8Array(6)]);
    expect(f).toMatchObject({ mime: 'audio/wav', extension: 'wav' });
    expect(parseWavHeader(f.bytes)).toMatchObject({
      formatTag: 1,
      sampleRate: 16000,
      bitsPerSample: 16,
      dataBytes: 16,
    });
    expect(f.bytes.length).toBe(44 + 16);
  });

  it('should wrap G.711 as µ-law / A-law WAV', () => {
    expect(parseWavHeader(utteranceFile('mulaw', 8000, [new Uint8Array(80)]).bytes)).toMatchObject({
      formatTag: 7,
      bitsPerSample: 8,
    });
    expect(parseWavHeader(utteranceFile('alaw', 8000, [new Uint8Array(80)]).bytes)).toMatchObject({
      formatTag: 6,
    });
  });

  it('should fix the sizes of a streamed WAV and keep codecs as they came', () => {
    const h = wavHeader({ formatTag: 1, channels: 1, sampleRate: 24000, bitsPerSample: 16 }, 0xffffffff);
    const wav = utteranceFile('wav', 24000, [h.subarray(0, 30), h.subarray(30), new Uint8Array(8)]);
    expect(parseWavHeader(wav.bytes)?.dataBytes).toBe(8);
    const opus = utteranceFile('opus', 48000, [new Uint8Array([0x4f, 0x67])]);
    expect(opus).toMatchObject({ mime: 'audio/ogg', extension: 'opus', bytes: new Uint8Array([0x4f, 0x67]) });
  });
});
