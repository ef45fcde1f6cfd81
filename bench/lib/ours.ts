/** Our encoders, driven through TranscodeService streams exactly as the gateway drives them. */
import type { TranscodeService, TranscodeStream } from '../../src/transcode/transcode.service';
import type { BenchFormat } from './formats';
import { firstAudioBytes } from './formats';
import { INPUT_RATE, chunks40 } from './input';
import { MiB, childrenPss, cpuOf, gc, median, sampleMax, sleep } from './measure';

async function pushAll(stream: TranscodeStream, chunks: readonly Int16Array[]): Promise<number> {
  let bytes = 0;
  for (const pcm of chunks) bytes += (await stream.write({ pcm, sampleRate: INPUT_RATE })).length;
  return bytes + (await stream.end()).length;
}

/**
 * One round of throughput: the 60 s input pushed flat out through `parallel` streams at once (each write
 * awaited, like the gateway), returning seconds of audio encoded per CPU-second (all threads + children).
 */
export async function throughputRound(
  service: TranscodeService,
  f: BenchFormat,
  pcm: Int16Array,
  parallel = 1,
): Promise<{ xrt: number; kbps: number }> {
  const chunks = chunks40(pcm);
  let bytes = 0;
  const { cpu } = await cpuOf(async () => {
    const sizes = await Promise.all(
      Array.from({ length: parallel }, () =>
        pushAll(service.openStream({ format: f.format, sampleRate: f.rate }), chunks),
      ),
    );
    bytes = sizes[0];
  });
  const seconds = pcm.length / INPUT_RATE;
  return { xrt: (seconds * parallel) / cpu, kbps: (bytes * 8) / seconds / 1000 };
}

export async function warmUpFormat(
  service: TranscodeService,
  f: BenchFormat,
  pcm: Int16Array,
): Promise<void> {
  await pushAll(service.openStream({ format: f.format, sampleRate: f.rate }), chunks40(pcm).slice(0, 100));
}

/**
 * Milliseconds from opening a stream until its first output byte, and until its first playable unit of
 * audio, with the input paced at real time in 40 ms chunks (the pool is already warm).
 */
export async function firstByte(
  service: TranscodeService,
  f: BenchFormat,
  pcm: Int16Array,
  trials: number,
): Promise<{ byte: number; audio: number }> {
  const chunks = chunks40(pcm);
  const bytesMs: number[] = [];
  const audioMs: number[] = [];
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    const stream = service.openStream({ format: f.format, sampleRate: f.rate });
    let collected = new Uint8Array(0);
    let byte: number | undefined;
    let audio: number | undefined;
    for (let k = 0; k < 50 && audio === undefined; k++) {
      const out = await stream.write({ pcm: chunks[k + t * 60], sampleRate: INPUT_RATE });
      const now = performance.now() - t0;
      if (out.length > 0) {
        byte ??= now;
        const joined = new Uint8Array(collected.length + out.length);
        joined.set(collected);
        joined.set(out, collected.length);
        collected = joined;
        if (firstAudioBytes(f.format, collected) !== undefined) audio = now;
      }
      // ffmpeg answers asynchronously: poll its output between chunks as a real stream would.
      await sleep(Math.max(0, t0 + (k + 1) * 40 - performance.now()));
    }
    stream.dispose();
    bytesMs.push(byte ?? Number.NaN);
    audioMs.push(audio ?? Number.NaN);
  }
  return { byte: median(bytesMs), audio: median(audioMs) };
}

/**
 * Memory per concurrent stream, meant to run in a fresh process: `n` streams fed in real time for
 * `seconds`; the growth of this process's RSS (worker threads included) plus the PSS of child processes
 * (ffmpeg), divided by n.
 */
export async function memoryPerStream(
  service: TranscodeService,
  f: BenchFormat,
  pcm: Int16Array,
  n: number,
  seconds: number,
): Promise<number> {
  const chunks = chunks40(pcm);
  await warmUpFormat(service, f, pcm);
  gc();
  await sleep(200);
  const base = process.memoryUsage().rss + childrenPss();
  const peak = sampleMax(() => process.memoryUsage().rss + childrenPss(), 250);
  const streams = Array.from({ length: n }, () =>
    service.openStream({ format: f.format, sampleRate: f.rate }),
  );
  const ticks = Math.round((seconds * 1000) / 40);
  const t0 = performance.now();
  for (let k = 0; k < ticks; k++) {
    await Promise.all(
      streams.map((s, i) => s.write({ pcm: chunks[(k + i * 7) % chunks.length], sampleRate: INPUT_RATE })),
    );
    await sleep(Math.max(0, t0 + (k + 1) * 40 - performance.now()));
  }
  const max = peak.stop();
  await Promise.all(streams.map((s) => s.end()));
  return (max - base) / n / MiB;
}
