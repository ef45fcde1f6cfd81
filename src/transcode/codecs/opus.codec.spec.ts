import { chunked, concat, testSignal } from '../testing/audio-check';
import { OGG_FLAG_BOS, OGG_FLAG_EOS, OGG_MAX_LACING_VALUES, parseOggPages } from './ogg';
import { OpusOggCodec } from './opus.codec';

// Runs the codec on the test's own thread: nothing else in this process encodes Opus concurrently
// (see CodecWorkerPool for why that matters with @evan/opus).
describe(OpusOggCodec.name, () => {
  function encodeAll(rate: number, pcm: Int16Array, chunkMs: number, serial = 1234) {
    const codec = new OpusOggCodec({ sampleRate: rate, serial });
    const parts = chunked(pcm, rate, chunkMs).map((c) => codec.encode(c));
    parts.push(codec.flush());
    return { codec, parts, pages: parseOggPages(concat(parts)) };
  }

  it.each([8000, 12000, 16000, 24000, 48000])(
    'should lay out a valid Ogg/Opus stream at %i Hz (BOS head, tags, 48 kHz granules, EOS trim)',
    (rate) => {
      const pcm = testSignal(rate, 1.03); // not a whole number of 20 ms frames
      const { codec, pages } = encodeAll(rate, pcm, 40);

      expect(pages.every((p) => p.crcOk)).toBe(true);
      expect(pages.map((p) => p.sequence)).toEqual(pages.map((_, i) => i));
      expect(new Set(pages.map((p) => p.serial))).toEqual(new Set([1234]));
      expect(pages.map((p) => p.flags)).toEqual([
        OGG_FLAG_BOS,
        ...pages.slice(1, -1).map(() => 0),
        OGG_FLAG_EOS,
      ]);
      // OpusHead alone on the BOS page, OpusTags alone on the next, both with granule 0.
      expect(pages.slice(0, 2).map((p) => [p.packets.length, p.granule])).toEqual([
        [1, 0],
        [1, 0],
      ]);
      expect(new TextDecoder().decode(pages[1].packets[0].subarray(0, 8))).toBe('OpusTags');
      const head = new DataView(pages[0].packets[0].buffer, pages[0].packets[0].byteOffset);
      expect(head.getUint16(10, true)).toBe(312); // libopus lookahead, always 6.5 ms = 312 at 48 kHz
      expect(codec.preSkip).toBe(312);

      // Audio pages: granule = 960 per 20 ms packet so far, in 48 kHz units, whatever the input rate ...
      const audio = pages.slice(2);
      let packets = 0;
      for (const page of audio.slice(0, -1)) {
        packets += page.packets.length;
        expect(page.granule).toBe(packets * 960);
        expect(page.openEnded).toBe(false);
      }
      // ... except the last, which says where the real audio ends: pre-skip + input samples at 48 kHz.
      const last = audio[audio.length - 1];
      packets += last.packets.length;
      expect(last.granule).toBe(312 + (pcm.length * 48000) / rate);
      expect(packets * 960).toBeGreaterThanOrEqual(last.granule); // enough frames to cover the lookahead
      expect(packets * 960 - last.granule).toBeLessThan(960);
    },
  );

  it('should group the 20 ms packets of one input chunk into one page', () => {
    const { pages } = encodeAll(24000, testSignal(24000, 1), 100);
    expect(pages.slice(2, -1).map((p) => p.packets.length)).toEqual(pages.slice(2, -1).map(() => 5));
  });

  it('should hold partial frames across chunks and emit no page for a chunk that completes none', () => {
    const codec = new OpusOggCodec({ sampleRate: 16000 });
    const headers = parseOggPages(codec.encode(new Int16Array(100))); // 6.25 ms: headers only
    expect(headers.map((p) => p.flags & OGG_FLAG_BOS)).toEqual([OGG_FLAG_BOS, 0]);
    expect(codec.encode(new Int16Array(100))).toHaveLength(0);
    expect(parseOggPages(codec.encode(new Int16Array(120)))[0].packets).toHaveLength(1); // 320 = one frame
  });

  it('should split a huge chunk into pages of at most 255 lacing values', () => {
    const { pages } = encodeAll(48000, testSignal(48000, 8), 8000); // one 8 s chunk = 400 packets
    expect(pages.every((p) => p.lacingValues <= OGG_MAX_LACING_VALUES && p.crcOk)).toBe(true);
    expect(pages.slice(2).reduce((n, p) => n + p.packets.length, 0)).toBeGreaterThanOrEqual(400);
  });

  it('should still write a decodable stream when no audio was ever written', () => {
    const codec = new OpusOggCodec({ sampleRate: 24000 });
    const pages = parseOggPages(codec.flush());
    expect(pages.map((p) => p.flags)).toEqual([OGG_FLAG_BOS, 0, OGG_FLAG_EOS]);
    expect(pages[2].granule).toBe(312);
    expect(() => codec.encode(new Int16Array(10))).toThrow(/flushed/);
  });

  it('should refuse rates libopus cannot take', () => {
    expect(() => new OpusOggCodec({ sampleRate: 22050 })).toThrow(RangeError);
  });
});
