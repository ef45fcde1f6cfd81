import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Mp3FrameSplitter, parseMp3Header } from './mp3';
import { OggOpusDemuxer, opusPacketSamples } from './ogg-opus';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

/** Feeds `bytes` in chunks of varying sizes (1 byte up to 700), as a socket might deliver them. */
function* chunked(bytes: Uint8Array, seed = 7): Generator<Uint8Array> {
  let at = 0;
  let x = seed;
  while (at < bytes.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 700);
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

describe(OggOpusDemuxer.name, () => {
  // tone.opus: 0.5 s of 440 Hz written by ffmpeg/libopus; ffprobe counts 26 audio packets.
  const file = fixture('tone.opus');

  it('should read the head and every audio packet, however the bytes are split', () => {
    for (const seed of [1, 2, 3]) {
      const demux = new OggOpusDemuxer();
      const packets = [...chunked(file, seed)].flatMap((c) => demux.push(c));
      expect(demux.head).toMatchObject({ channels: 1, preSkip: 312, inputSampleRate: 24000 });
      expect(packets).toHaveLength(26);
      expect(packets.every((p) => p.samples48k === 960)).toBe(true);
      expect(packets[25].start48k).toBe(25 * 960);
    }
  });

  it('should give a packet as soon as its page is complete', () => {
    const demux = new OggOpusDemuxer();
    expect(demux.push(file.subarray(0, 200))).toEqual([]);
    expect(demux.head).not.toBeNull();
  });

  it('should resync after garbage', () => {
    const demux = new OggOpusDemuxer();
    const packets = demux.push(new Uint8Array([1, 2, 3, 0x4f, 0x67, ...file]));
    expect(packets).toHaveLength(26);
  });

  it('should tell packet durations from the TOC byte', () => {
    expect(opusPacketSamples(new Uint8Array([(19 << 3) | 0]))).toBe(960); // CELT 20 ms, one frame
    expect(opusPacketSamples(new Uint8Array([(1 << 3) | 1]))).toBe(1920); // SILK 20 ms, two frames
    expect(opusPacketSamples(new Uint8Array([(16 << 3) | 3, 4]))).toBe(480); // CELT 2.5 ms × 4
  });
});

describe(Mp3FrameSplitter.name, () => {
  it('should parse MPEG-2 and MPEG-1 Layer III headers', () => {
    expect(parseMp3Header(0xff, 0xf3, 0x64, 0xc4)).toMatchObject({
      version: 2,
      sampleRate: 24000,
      bitrateKbps: 48,
      channels: 1,
      samplesPerFrame: 576,
      frameBytes: 144,
    });
    expect(parseMp3Header(0xff, 0xfb, 0x90, 0x64)).toMatchObject({
      version: 1,
      sampleRate: 44100,
      frameBytes: 417,
    });
    expect(parseMp3Header(0xff, 0xfd, 0x90, 0x64)).toBeNull(); // Layer II
    expect(parseMp3Header(0xfe, 0xfb, 0x90, 0x64)).toBeNull();
  });

  it('should split a file with ID3 and Xing into its audio frames, however the bytes are split', () => {
    // tone24k.mp3: ID3v2 + Xing + 23 audio frames (ffprobe's packet count).
    const file = fixture('tone24k.mp3');
    for (const seed of [1, 5]) {
      const split = new Mp3FrameSplitter();
      const frames = [...chunked(file, seed)].flatMap((c) => split.push(c)).concat(split.end());
      expect(frames).toHaveLength(23);
      expect(frames.every((f) => f.header.sampleRate === 24000 && f.data[0] === 0xff)).toBe(true);
    }
  });

  it('should hold the last frame until the stream ends', () => {
    const file = fixture('tone44k.mp3');
    const split = new Mp3FrameSplitter();
    const early = split.push(file);
    expect(early).toHaveLength(20);
    expect(split.end()).toHaveLength(1);
  });
});
