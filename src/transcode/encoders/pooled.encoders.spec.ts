import { Logger } from '@nestjs/common';
import { readFileSync, readdirSync } from 'node:fs';
import { Test, type TestingModule } from '@nestjs/testing';
import { parseOggPages } from '../codecs/ogg';
import { OpusOggCodec } from '../codecs/opus.codec';
import {
  TempFiles,
  bestCorrelation,
  chirpTop,
  chunked,
  concat,
  decodeFile,
  signalAt,
  testSignal,
} from '../testing/audio-check';
import { TranscodeModule } from '../transcode.module';
import { TranscodeService, type TranscodeStream } from '../transcode.service';
import { CodecWorkerPool } from '../workers/codec-worker.pool';
import { Mp3EncoderFactory, OpusEncoderFactory } from './pooled.encoders';

/** LAME's encoder delay (576 + 529 samples) at every rate; a streamed MP3 cannot carry the tag to trim it. */
const LAME_DELAY = 1105;
const SECONDS = 1.2;
const CHUNK_MS = [5, 20, 75, 200];

let moduleRef: TestingModule;
let transcode: TranscodeService;
let pool: CodecWorkerPool;
const temp = new TempFiles();

beforeAll(async () => {
  moduleRef = await Test.createTestingModule({ imports: [TranscodeModule] }).compile();
  await moduleRef.init();
  transcode = moduleRef.get(TranscodeService);
  pool = moduleRef.get(CodecWorkerPool);
});

afterAll(async () => {
  await moduleRef.close();
  temp.cleanup();
});

/** Streams `pcm` through a TranscodeStream the way the gateway does; returns each write's output. */
async function stream(
  s: TranscodeStream,
  pcm: Int16Array,
  rate: number,
  chunkMs: number,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const chunk of chunked(pcm, rate, chunkMs)) out.push(await s.write({ pcm: chunk, sampleRate: rate }));
  out.push(await s.end());
  return out;
}

function cases(rates: readonly number[]): [number, number][] {
  return rates.flatMap((rate) => CHUNK_MS.map((ms): [number, number] => [rate, ms]));
}

/** Middle half of the signal: away from codec ramp-up at the start and padding at the end. */
function middle(length: number): { start: number; length: number } {
  return { start: Math.floor(length / 4), length: Math.min(8000, Math.floor(length / 2)) };
}

describe(Mp3EncoderFactory.name, () => {
  it.each(cases([8000, 16000, 22050, 24000, 44100, 48000]))(
    'should produce one clean MP3 stream at %i Hz from %i ms chunks',
    async (rate, chunkMs) => {
      const source = testSignal(rate, SECONDS);
      const parts = await stream(
        transcode.openStream({ format: 'mp3', sampleRate: rate }),
        source,
        rate,
        chunkMs,
      );
      const decoded = await decodeFile(temp.write(concat(parts), 'mp3'));

      expect(decoded.errors).toBe('');
      expect(decoded.codec).toBe('mp3');
      expect(decoded.sampleRate).toBe(rate);
      // Source + encoder delay + end padding to a whole frame (576 samples below 32 kHz, 1152 above).
      const frame = rate >= 32000 ? 1152 : 576;
      expect(decoded.pcm.length).toBeGreaterThanOrEqual(source.length + LAME_DELAY);
      expect(decoded.pcm.length).toBeLessThan(source.length + LAME_DELAY + frame);
      const { correlation, lag } = bestCorrelation(source, decoded.pcm, { max: 1300 }, middle(source.length));
      expect(lag).toBe(LAME_DELAY);
      expect(correlation).toBeGreaterThan(0.98);
    },
  );

  it('should emit MP3 bytes while the stream is still being written', async () => {
    const rate = 24000;
    const parts = await stream(
      transcode.openStream({ format: 'mp3', sampleRate: rate }),
      testSignal(rate, 2),
      rate,
      40,
    );
    const firstAudio = parts.findIndex((p) => p.length > 0);
    expect(firstAudio).toBeLessThanOrEqual(2); // LAME holds back ~70 ms, so by the third 40 ms chunk at most
    const streamed = parts.slice(0, -1).reduce((n, p) => n + p.length, 0);
    expect(streamed / concat(parts).length).toBeGreaterThan(0.9);
  });
});

describe(OpusEncoderFactory.name, () => {
  it.each(cases([8000, 12000, 16000, 24000, 48000]))(
    'should produce one clean Ogg/Opus stream at %i Hz from %i ms chunks, trimmed to the exact length',
    async (rate, chunkMs) => {
      const source = testSignal(rate, SECONDS);
      const parts = await stream(
        transcode.openStream({ format: 'opus', sampleRate: rate }),
        source,
        rate,
        chunkMs,
      );
      const bytes = concat(parts);
      const decoded = await decodeFile(temp.write(bytes, 'opus'));

      expect(decoded.errors).toBe('');
      expect(decoded.codec).toBe('opus');
      expect(decoded.sampleRate).toBe(48000); // Opus always decodes at 48 kHz ...
      const head = parseOggPages(bytes)[0].packets[0];
      expect(new DataView(head.buffer, head.byteOffset).getUint32(12, true)).toBe(rate); // ... OpusHead has the input rate
      // Pre-skip and the EOS granule trim the codec delay and padding: exactly the source duration.
      expect(decoded.pcm.length).toBe((source.length * 48000) / rate);
      const reference = Int16Array.from({ length: decoded.pcm.length }, (_, i) =>
        Math.round(signalAt(i / 48000, chirpTop(rate), SECONDS)),
      );
      const { correlation, lag } = bestCorrelation(
        reference,
        decoded.pcm,
        { max: 48 },
        middle(reference.length),
      );
      expect(lag).toBeLessThanOrEqual(8); // zero lag; the narrowband decoder's resampler adds ~0.1 ms
      expect(correlation).toBeGreaterThan(0.95); // lossy at 16-32 kbps; a broken stream scores ~0
    },
  );

  it('should resample a 22.05 kHz provider to 24 kHz Opus without changing the duration', async () => {
    const source = testSignal(22050, SECONDS);
    const parts = await stream(
      transcode.openStream({ format: 'opus', sampleRate: 24000 }),
      source,
      22050,
      40,
    );
    const decoded = await decodeFile(temp.write(concat(parts), 'opus'));
    expect(decoded.errors).toBe('');
    expect(decoded.pcm.length).toBe(Math.ceil((source.length * 24000) / 22050) * 2);
  });

  it('should emit the headers at once and each 20 ms packet with the chunk that completes it', async () => {
    const rate = 24000;
    const parts = await stream(
      transcode.openStream({ format: 'opus', sampleRate: rate }),
      testSignal(rate, 1),
      rate,
      40,
    );
    const first = parseOggPages(parts[0]);
    expect(first.map((p) => p.packets.length)).toEqual([1, 1, 2]); // OpusHead, OpusTags, 2 packets of 20 ms
    for (const part of parts.slice(1, -1)) expect(parseOggPages(part)).toHaveLength(1);
  });
});

describe(CodecWorkerPool.name, () => {
  it('should spread MP3 and Opus streams over the threads', () => {
    const mp3 = [pool.open('mp3', 24000), pool.open('mp3', 24000)];
    const opus = [pool.open('opus', 24000), pool.open('opus', 24000)];
    expect(pool.threads).toBeGreaterThanOrEqual(1);
    if (pool.threads > 1) {
      expect(new Set(mp3.map((c) => c.threadId)).size).toBe(2);
      expect(new Set(opus.map((c) => c.threadId)).size).toBe(2);
    }
    for (const c of [...mp3, ...opus]) c.close();
  });

  it('should keep every Opus stream packet-exact while several threads encode Opus at once', async () => {
    // Each codec thread has its own copy of the native addon; with one shared copy, threads encoding at the
    // same time overwrite each other's packets in its static output buffer.
    const rates = [24000, 16000, 48000, 24000];
    const sources = Array.from({ length: 24 }, (_, i) => testSignal(rates[i % 4], 1.2, 800 + 97 * i));
    const streams = sources.map((_, i) => transcode.openStream({ format: 'opus', sampleRate: rates[i % 4] }));
    const chunks = sources.map((source, i) => chunked(source, rates[i % 4], 40));
    const outputs = sources.map((): Uint8Array[] => []);
    for (let k = 0; k < chunks[0].length; k++) {
      await Promise.all(
        streams.map(async (s, i) => {
          if (k < chunks[i].length)
            outputs[i].push(await s.write({ pcm: chunks[i][k], sampleRate: rates[i % 4] }));
        }),
      );
    }
    await Promise.all(streams.map(async (s, i) => outputs[i].push(await s.end())));
    const placed = new Set(
      streams.map(
        (s) => (s as unknown as { encoder: { channel: { threadId: number } } }).encoder.channel.threadId,
      ),
    );
    if (pool.threads > 1) expect(placed.size).toBeGreaterThan(1);

    const packets = (bytes: Uint8Array) =>
      parseOggPages(bytes).flatMap((page) => page.packets.map((p) => Buffer.from(p).toString('base64')));
    sources.forEach((source, i) => {
      // The same encoder on this thread (the package's addon, which no codec thread uses).
      const reference = new OpusOggCodec({ sampleRate: rates[i % 4] });
      const expected = concat([
        ...chunked(source, rates[i % 4], 40).map((c) => reference.encode(c)),
        reference.flush(),
      ]);
      expect(packets(concat(outputs[i]))).toEqual(packets(expected));
    });
  });

  it('should free the worker-side codecs when encoders are disposed', async () => {
    const encoders = [
      transcode.createEncoder({ format: 'mp3', sampleRate: 24000 }),
      transcode.createEncoder({ format: 'opus', sampleRate: 24000 }),
      transcode.createEncoder({ format: 'mp3', sampleRate: 16000 }),
    ];
    await Promise.all(encoders.map((e) => e.encode(testSignal(e.sampleRate, 0.04))));
    expect((await pool.stats()).reduce((n, s) => n + s.streams, 0)).toBe(3);
    for (const e of encoders) e.dispose();
    for (const e of encoders) e.dispose(); // twice is safe
    const after = await pool.stats();
    expect(after.map((s) => [s.streams, s.assigned])).toEqual(after.map(() => [0, 0]));
    await expect(encoders[0].encode(new Int16Array(10))).rejects.toThrow(/disposed/);
  });

  it('should fail only the streams of a crashed thread, with an error, and replace the thread', async () => {
    const victim = pool.open('opus', 24000);
    const bystander = pool.open('mp3', 24000); // on the other thread, if there is one
    await Promise.all([victim.encode(new Int16Array(960)), bystander.encode(new Int16Array(960))]);
    // Simulate a crash: end the victim's thread behind the pool's back (the pool sees an unexpected exit).
    const slots = (
      pool as unknown as { slots: { link: { threadId: number; terminate(): Promise<unknown> } }[] }
    ).slots;
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const pending = expect(victim.encode(new Int16Array(960))).rejects.toThrow(/codec worker \d+ died/);
    await slots.find((s) => s?.link.threadId === victim.threadId)!.link.terminate();

    await pending;
    expect(logged).toHaveBeenCalledWith(expect.stringMatching(/died .*failing its 1 stream/));
    logged.mockRestore();
    await expect(victim.encode(new Int16Array(960))).rejects.toThrow(/died/);
    if (bystander.threadId !== victim.threadId) {
      await expect(bystander.encode(new Int16Array(960))).resolves.toBeInstanceOf(Uint8Array);
    }
    bystander.close();
    const replacement = pool.open('opus', 24000);
    expect(replacement.threadId).not.toBe(victim.threadId);
    await expect(replacement.flush()).resolves.toBeInstanceOf(Uint8Array);
  });

  it('should terminate its threads on shutdown and refuse new streams', async () => {
    const own = new CodecWorkerPool({ threads: 2, warmUp: false });
    const channel = own.open('mp3', 24000);
    await channel.encode(new Int16Array(960));
    expect(await own.stats()).toHaveLength(1);
    const pending = expect(channel.encode(new Int16Array(960))).rejects.toThrow(/shutting down/);
    await own.onApplicationShutdown();
    await pending;
    expect(await own.stats()).toEqual([]);
    expect(() => own.open('mp3', 24000)).toThrow(/shut down/);
  });

  it('should start threads with the first streams and stop them once idle', async () => {
    const own = new CodecWorkerPool({ threads: 2, idleTimeoutMs: 100 });
    own.onApplicationBootstrap();
    expect(await own.stats()).toEqual([]); // nothing at rest
    const first = own.open('opus', 24000);
    const bytes = concat([await first.encode(testSignal(24000, 0.1)), await first.flush()]);
    expect(parseOggPages(bytes).every((p) => p.crcOk)).toBe(true);
    expect(await own.stats()).toHaveLength(1);
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await own.stats()).toEqual([]);
    const again = own.open('mp3', 24000);
    expect(
      (await again.encode(testSignal(24000, 0.2))).length + (await again.flush()).length,
    ).toBeGreaterThan(100);
    await own.close();
  });

  it('should start a thread per prepare, before any stream, up to its size, and stop them again once idle', async () => {
    // Long enough for two threads to boot under ts-node (the idle clock runs from the start).
    const own = new CodecWorkerPool({ threads: 2, idleTimeoutMs: 3000 });
    own.onApplicationBootstrap();
    expect(await own.stats()).toEqual([]);
    new Mp3EncoderFactory(own).prepare();
    expect(await own.stats()).toHaveLength(1); // one thread per announced stream
    own.prepare();
    const started = await own.stats();
    expect(started).toHaveLength(2);
    expect(new Set(started.map((s) => s.threadId)).size).toBe(2);
    own.prepare(); // every thread runs: nothing more
    expect(await own.stats()).toHaveLength(2);
    const channel = own.open('mp3', 24000);
    expect(
      (await channel.encode(testSignal(24000, 0.2))).length + (await channel.flush()).length,
    ).toBeGreaterThan(100);
    expect((await own.stats()).map((s) => s.threadId)).toEqual(started.map((s) => s.threadId));
    channel.close();
    for (let i = 0; i < 60 && (await own.stats()).length > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await own.stats()).toEqual([]);
    await own.close();
    own.prepare(); // after shutdown: nothing
    expect(await own.stats()).toEqual([]);
  });

  it("should pass TranscodeService.prepare to the format's factory only, and not fail a caller when it throws", () => {
    const prepared: string[] = [];
    const factory = (format: 'mp3' | 'pcm16', prepare?: () => void) => ({
      formats: [format],
      create: () => {
        throw new Error('not used');
      },
      ...(prepare ? { prepare } : {}),
    });
    const service = new TranscodeService([
      factory('mp3', () => {
        prepared.push('mp3');
        throw new Error('no thread could start');
      }),
      factory('pcm16'),
    ]);
    expect(() => service.prepare('mp3')).not.toThrow();
    expect(() => service.prepare('pcm16')).not.toThrow();
    expect(() => service.prepare('opus')).not.toThrow();
    expect(prepared).toEqual(['mp3']);
  });

  (process.platform === 'linux' ? it : it.skip)(
    'should run a started codec thread at the configured nice value, the event loop keeping its own',
    async () => {
      const nices = () =>
        readdirSync('/proc/self/task').map((tid) => {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          return { tid: Number(tid), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
        });
      const loopNice = nices().find((t) => t.tid === process.pid)?.nice;
      const own = new CodecWorkerPool({ threads: 1, nice: 7, idleTimeoutMs: 0 });
      const channel = own.open('mp3', 24000);
      await channel.encode(testSignal(24000, 0.1));
      // Set by the thread itself once its warm-up is done.
      for (let i = 0; i < 40 && !nices().some((t) => t.nice === 7); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(nices().filter((t) => t.nice === 7)).toHaveLength(1);
      expect(nices().find((t) => t.tid === process.pid)?.nice).toBe(loopNice);
      await own.close();
    },
  );

  it('should run the same codecs inline when configured with no threads', async () => {
    const inline = new CodecWorkerPool({ threads: 0, warmUp: false });
    const channel = inline.open('mp3', 24000);
    const bytes = concat([await channel.encode(testSignal(24000, 0.5)), await channel.flush()]);
    expect(channel.threadId).toBe(-1);
    expect(bytes.length).toBeGreaterThan(1000);
    await inline.close();
  });
});
