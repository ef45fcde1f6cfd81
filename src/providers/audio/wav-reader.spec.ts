import { Pcm16Decoder } from './pcm';
import { WavFormatError, WavStreamReader } from './wav-reader';

interface Layout {
  sampleRate?: number;
  channels?: number;
  riffSize?: number;
  dataSize?: number;
  /** Chunks written between `WAVE` and `fmt `, and between `fmt ` and `data`. */
  beforeFmt?: Uint8Array[];
  beforeData?: Uint8Array[];
  afterData?: Uint8Array[];
  float?: boolean;
}

function chunk(id: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length + (body.length % 2));
  out.set(Buffer.from(id, 'ascii'));
  new DataView(out.buffer).setUint32(4, body.length, true);
  out.set(body, 8);
  return out;
}

function wav(samples: Int16Array, layout: Layout = {}): Uint8Array {
  const channels = layout.channels ?? 1;
  const rate = layout.sampleRate ?? 22050;
  const bits = layout.float ? 32 : 16;
  const fmt = new Uint8Array(16);
  const f = new DataView(fmt.buffer);
  f.setUint16(0, layout.float ? 3 : 1, true);
  f.setUint16(2, channels, true);
  f.setUint32(4, rate, true);
  f.setUint32(8, (rate * channels * bits) / 8, true);
  f.setUint16(12, (channels * bits) / 8, true);
  f.setUint16(14, bits, true);
  let data: Uint8Array;
  if (layout.float) {
    const floats = new Float32Array(samples.length * channels);
    for (let i = 0; i < samples.length; i++)
      for (let c = 0; c < channels; c++) floats[i * channels + c] = samples[i] / 32767;
    data = new Uint8Array(floats.buffer);
  } else {
    const ints = new Int16Array(samples.length * channels);
    for (let i = 0; i < samples.length; i++)
      for (let c = 0; c < channels; c++) ints[i * channels + c] = samples[i];
    data = new Uint8Array(ints.buffer);
  }
  const dataChunk = chunk('data', data);
  if (layout.dataSize !== undefined) new DataView(dataChunk.buffer).setUint32(4, layout.dataSize, true);
  const parts = [
    ...(layout.beforeFmt ?? []),
    chunk('fmt ', fmt),
    ...(layout.beforeData ?? []),
    dataChunk.subarray(0, 8 + data.length),
    ...(layout.afterData ?? []),
  ];
  const body = Buffer.concat([Buffer.from('WAVE'), ...parts]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(layout.riffSize ?? body.length, 4);
  return new Uint8Array(Buffer.concat([head, body]));
}

function ramp(n: number): Int16Array {
  return Int16Array.from({ length: n }, (_, i) => ((i * 37) % 2000) - 1000);
}

function readAll(
  bytes: Uint8Array,
  pieceSizes: number[] = [bytes.length],
): { pcm: Int16Array; rate?: number } {
  const reader = new WavStreamReader();
  const out: number[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = pieceSizes[i % pieceSizes.length];
    out.push(...reader.push(bytes.slice(at, at + size)));
    at += size;
  }
  reader.end();
  return { pcm: Int16Array.from(out), rate: reader.format?.sampleRate };
}

describe(WavStreamReader.name, () => {
  it('should refuse an untrusted header with an implausible rate, channel count or chunk size', () => {
    for (const sampleRate of [20_000_003, 4000, 400_000]) {
      expect(() => new WavStreamReader().push(wav(ramp(10), { sampleRate }))).toThrow(
        /outside 8000\.\.192000/,
      );
    }
    expect(() => new WavStreamReader().push(wav(ramp(10), { channels: 64 }))).toThrow(/64 channels/);
    const huge = new Uint8Array(8);
    huge.set(Buffer.from('LIST'));
    new DataView(huge.buffer).setUint32(4, 0x7fffffff, true);
    expect(() => new WavStreamReader().push(wav(ramp(10), { beforeFmt: [huge] }))).toThrow(/too large/);
  });

  const samples = ramp(1001);

  it('should read a canonical 44-byte-header WAV and its rate', () => {
    expect(readAll(wav(samples, { sampleRate: 24000 }))).toEqual({ pcm: samples, rate: 24000 });
  });

  it.each([
    ['0xFFFFFFFF sizes (streamed WAV)', { riffSize: 0xffffffff, dataSize: 0xffffffff }],
    ['zero sizes (xtts-streaming-server)', { riffSize: 0, dataSize: 0 }],
    ["espeak-ng's bogus 0x7FFFF000 sizes", { riffSize: 0x7ffff024, dataSize: 0x7ffff000 }],
  ])('should read to the end when the header has %s', (_label, layout) => {
    expect(readAll(wav(samples, layout)).pcm).toEqual(samples);
  });

  it('should skip LIST, fact and odd-sized chunks before fmt and data, whatever their order', () => {
    const list = chunk('LIST', new Uint8Array(Buffer.from('INFOISFT\u0005\u0000\u0000\u0000Lavf\u0000')));
    const odd = chunk('JUNK', new Uint8Array(3)); // padded to 4
    const fact = chunk('fact', new Uint8Array(4));
    const bytes = wav(samples, { beforeFmt: [odd], beforeData: [list, fact] });
    expect(readAll(bytes).pcm).toEqual(samples);
  });

  it('should survive any split of the bytes, down to one byte per push', () => {
    const bytes = wav(samples, { beforeData: [chunk('LIST', new Uint8Array(9))] });
    for (const sizes of [[1], [3], [7, 1, 2], [45], [44, 1]]) {
      expect(readAll(bytes, sizes).pcm).toEqual(samples);
    }
  });

  it('should stop at a known data size and ignore a trailing chunk (no click from trailer bytes)', () => {
    const trailer = chunk('LIST', new Uint8Array(Buffer.from('trailer bytes that are not audio!')));
    expect(readAll(wav(samples, { afterData: [trailer] })).pcm).toEqual(samples);
  });

  it('should average stereo to mono and convert 32-bit float', () => {
    expect(readAll(wav(samples, { channels: 2 })).pcm).toEqual(samples);
    const fromFloat = readAll(wav(samples, { float: true })).pcm;
    expect(Math.max(...fromFloat.map((s, i) => Math.abs(s - samples[i])))).toBeLessThanOrEqual(1);
  });

  it('should reject a body that is not a WAV, a data chunk before fmt, and a truncated header', () => {
    expect(() =>
      new WavStreamReader().push(new Uint8Array(Buffer.from('<html><body>500</body></html>'))),
    ).toThrow(WavFormatError);
    const dataFirst = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), chunk('data', new Uint8Array(4))]);
    expect(() => new WavStreamReader().push(dataFirst)).toThrow('data chunk before its fmt chunk');
    const truncated = new WavStreamReader();
    truncated.push(wav(samples).subarray(0, 30));
    expect(() => truncated.end()).toThrow('ended before its data chunk');
    expect(() => new WavStreamReader().end()).toThrow('empty response');
  });
});

describe(Pcm16Decoder.name, () => {
  it('should carry an odd byte across pushes and decode little-endian samples exactly', () => {
    const samples = Int16Array.from([1, -1, 256, -32768, 32767, 12345, -2]);
    const bytes = new Uint8Array(samples.buffer);
    const decoder = new Pcm16Decoder();
    const out: number[] = [];
    for (const [from, to] of [
      [0, 1],
      [1, 4],
      [4, 9],
      [9, 9],
      [9, 14],
    ]) {
      out.push(...decoder.push(bytes.slice(from, to)));
    }
    expect(Int16Array.from(out)).toEqual(samples);
    expect(decoder.pendingBytes).toBe(0);
  });
});
