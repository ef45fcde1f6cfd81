import { readFileSync } from 'node:fs';
import { createEncoder } from 'wasm-media-encoders';
import { MP3_SAMPLE_RATES } from '../audio-format';
import { chunked, concat, testSignal } from '../testing/audio-check';
import { mp3BitrateKbps } from './codec.types';
import { MAX_IDLE_LAMES, Mp3Codec, idleMp3Encoders, unresetMp3Encoders, warmUpMp3 } from './mp3.codec';
import { mp3FrameOffsets } from './mp3-info-tag';

/** The same LAME build configured the slow way, through the package's own wrapper. */
async function referenceEncode(rate: number, chunks: readonly Int16Array[]): Promise<Uint8Array> {
  const wasm = readFileSync(require.resolve('wasm-media-encoders/wasm/mp3'));
  const encoder = await createEncoder(
    'audio/mpeg',
    `data:application/wasm;base64,${wasm.toString('base64')}`,
  );
  encoder.configure({
    channels: 1,
    sampleRate: rate,
    outputSampleRate: rate as 24000,
    bitrate: mp3BitrateKbps(rate),
  });
  const parts: Uint8Array[] = [];
  for (const chunk of chunks)
    parts.push(encoder.encode([Float32Array.from(chunk, (s) => s / 32768)]).slice());
  parts.push(encoder.finalize().slice());
  return concat(parts);
}

function openNow(rate: number): Mp3Codec {
  const codec = Mp3Codec.open(rate);
  if (!(codec instanceof Mp3Codec)) throw new Error('expected a synchronous open after warm-up');
  return codec;
}

describe(Mp3Codec.name, () => {
  beforeAll(() => warmUpMp3());

  it.each(MP3_SAMPLE_RATES)(
    'should encode byte for byte what a LAME configured from scratch encodes (%i Hz)',
    async (rate) => {
      const chunks = chunked(testSignal(rate, 0.8), rate, 40);
      // Two encoders from one template, interleaved: they must not share state.
      const [a, b] = [openNow(rate), openNow(rate)];
      const outA: Uint8Array[] = [];
      const outB: Uint8Array[] = [];
      for (const chunk of chunks) {
        outA.push(a.encode(chunk));
        outB.push(b.encode(chunk));
      }
      outA.push(a.flush());
      outB.push(b.flush());
      const expected = await referenceEncode(rate, chunks);
      expect(Buffer.from(concat(outA)).equals(Buffer.from(expected))).toBe(true);
      expect(Buffer.from(concat(outB)).equals(Buffer.from(expected))).toBe(true);
      expect(mp3FrameOffsets(concat(outA)).length).toBeGreaterThan(10);
    },
  );

  it('should start the next stream on a used instance, reset to exactly the configured state', async () => {
    const rate = 24000;
    const chunks = chunked(testSignal(rate, 0.8), rate, 40);
    const expected = Buffer.from(await referenceEncode(rate, chunks));
    const encodeOn = (codec: Mp3Codec) => {
      const out = chunks.map((chunk) => codec.encode(chunk));
      out.push(codec.flush());
      return Buffer.from(concat(out));
    };
    // Something else first: a louder, longer signal in odd-sized chunks, closed mid-stream; and a flush.
    const used = [openNow(rate), openNow(rate), openNow(rate)];
    for (const chunk of chunked(
      testSignal(rate, 1.3).map((s) => s * 3),
      rate,
      33,
    ))
      used[0].encode(chunk);
    used[0].free();
    for (const codec of used.slice(1)) {
      codec.encode(testSignal(rate, 0.5));
      codec.flush();
    }
    const kept = idleMp3Encoders(rate);
    expect(kept).toBeGreaterThanOrEqual(3);
    expect(unresetMp3Encoders(rate)).toBeGreaterThanOrEqual(3); // a stream's end only files it

    // Opened before the thread had a moment to itself: reset on the spot.
    const reusedAtOnce = openNow(rate);
    expect(idleMp3Encoders(rate)).toBe(kept - 1);
    expect(encodeOn(reusedAtOnce).equals(expected)).toBe(true);

    // Reset in idle time, between the thread's messages.
    for (let i = 0; i < 20 && unresetMp3Encoders(rate) > 0; i++)
      await new Promise((resolve) => setImmediate(resolve));
    expect(unresetMp3Encoders(rate)).toBe(0);
    expect(idleMp3Encoders(rate)).toBe(kept);
    expect(encodeOn(openNow(rate)).equals(expected)).toBe(true);
  });

  it(`should keep at most ${MAX_IDLE_LAMES} idle instances on a thread, all rates together`, () => {
    const rates = [16000, 22050];
    const drain = () => {
      for (const rate of MP3_SAMPLE_RATES) while (idleMp3Encoders(rate) > 0) openNow(rate);
    };
    drain();
    const open = Array.from({ length: MAX_IDLE_LAMES + 3 }, (_, i) => openNow(rates[i % 2]));
    for (const codec of open) codec.free();
    const kept = rates.map((rate) => idleMp3Encoders(rate));
    expect(kept[0] + kept[1]).toBe(MAX_IDLE_LAMES);
    expect(Math.min(...kept)).toBeGreaterThan(0);
    drain(); // drawn from the idle ones
    expect(rates.map((rate) => idleMp3Encoders(rate))).toEqual([0, 0]);
  });

  it('should open before warm-up too, compiling LAME first', async () => {
    jest.resetModules();
    const fresh = await import('./mp3.codec');
    const pending = fresh.Mp3Codec.open(16000);
    expect(pending).toBeInstanceOf(Promise);
    const codec = await pending;
    expect(codec.encode(testSignal(16000, 0.2)).length + codec.flush().length).toBeGreaterThan(500);
  });

  it('should refuse rates LAME cannot take and calls after flush', () => {
    expect(() => Mp3Codec.open(23000)).toThrow(RangeError);
    const codec = openNow(24000);
    codec.flush();
    expect(() => codec.encode(new Int16Array(10))).toThrow(/flushed/);
  });
});
