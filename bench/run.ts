/**
 * `npm run bench`: measures every transcoding format against ffmpeg, the real-time concurrency target,
 * and Opus complexity, then writes docs/BENCHMARKS.md. About 3-4 minutes on 2 cores; no network.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { OPUS_COMPLEXITY } from '../src/transcode/codecs/codec.types';
import { PcmEncoderFactory } from '../src/transcode/encoders/pcm.encoders';
import { Mp3EncoderFactory, OpusEncoderFactory } from '../src/transcode/encoders/pooled.encoders';
import { TranscodeModule } from '../src/transcode/transcode.module';
import { TranscodeService } from '../src/transcode/transcode.service';
import { CodecWorkerPool } from '../src/transcode/workers/codec-worker.pool';
import { realTimeStreams, type ConcurrencyResult } from './lib/concurrency';
import { inputFile, perChunk, wholeFile, wholeFileRound, type BaselineResult } from './lib/ffmpeg';
import { BENCH_FORMATS, OPUS_FFMPEG_DEFAULT } from './lib/formats';
import { INPUT_RATE, loadInput } from './lib/input';
import { gc, median } from './lib/measure';
import { opusComplexitySweep } from './lib/opus-complexity';
import { firstByte, memoryPerStream, throughputRound, warmUpFormat } from './lib/ours';
import { renderReport, type FormatResult, type Machine } from './lib/report';

const OUT = join(__dirname, '..', 'docs', 'BENCHMARKS.md');
const started = performance.now();
const log = (message: string) =>
  console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}`);

function machine(loadBefore: string): Machine {
  let os = `Linux ${release()}`;
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux: keep the kernel release
  }
  let ffmpeg = 'ffmpeg not found';
  try {
    ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' })
      .split('\n')[0]
      .replace(/ Copyright.*/, '');
  } catch {
    // reported as missing
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown CPU',
    cores: availableParallelism(),
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.versions.node,
    ffmpeg,
    os,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadBefore,
    loadAfter: '',
  };
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');

/** Child mode: memory per stream for one format, measured in a fresh process so earlier phases do not skew it. */
async function memoryChild(label: string): Promise<void> {
  const f = BENCH_FORMATS.find((x) => x.label === label)!;
  const app = await NestFactory.createApplicationContext(TranscodeModule, { logger: ['error', 'warn'] });
  await app.init();
  await app.get(CodecWorkerPool).warmUp();
  const n = f.format === 'flac' || f.format === 'aac' ? 20 : 100;
  const mib = await memoryPerStream(app.get(TranscodeService), f, loadInput().pcm, n, 3);
  await app.close();
  process.stdout.write(`${JSON.stringify({ mib, n })}\n`);
}

function memoryInFreshProcess(label: string): { mib: number; n: number } {
  const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--memory', label], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { mib: number; n: number };
}

const ROUNDS = 5;
const PARALLEL = 4;

async function main(): Promise<void> {
  const host = machine(load());
  log(`${host.cpu}, ${host.cores} cores, Node ${host.node}, ${host.ffmpeg}; load ${host.loadBefore}`);
  const input = loadInput();
  log(`input: ${input.source}`);
  const dir = mkdtempSync(join(tmpdir(), 'tts-bench-'));
  const file = inputFile(dir, input.pcm);
  const seconds = input.pcm.length / INPUT_RATE;

  // Opus complexity first, on this thread, before any pool thread exists (the binding is not thread-safe).
  log('opus complexity sweep');
  const complexityVoice = opusComplexitySweep(input.pcm, INPUT_RATE, 20, 'voice');
  const complexityAuto = opusComplexitySweep(input.pcm, INPUT_RATE, 20, 'auto');

  // The gateway's wiring: TranscodeModule through Nest DI, pool warmed up as at application bootstrap.
  const app = await NestFactory.createApplicationContext(TranscodeModule, { logger: ['error', 'warn'] });
  await app.init();
  const service = app.get(TranscodeService);
  const pool = app.get(CodecWorkerPool);
  await pool.warmUp();
  // The same codecs run inline on this thread, to show what the worker threads cost and buy.
  const inlinePool = new CodecWorkerPool({ threads: 0, warmUp: false });
  const inline = new TranscodeService([
    new PcmEncoderFactory(),
    new Mp3EncoderFactory(inlinePool),
    new OpusEncoderFactory(inlinePool),
  ]);

  const formats: FormatResult[] = [];
  for (const f of BENCH_FORMATS) {
    const pooled = f.format === 'mp3' || f.format === 'opus';
    log(`${f.label}: throughput, ${ROUNDS} rounds interleaved with whole-file ffmpeg`);
    await warmUpFormat(service, f, input.pcm);
    if (pooled) await warmUpFormat(inline, f, input.pcm);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const single = await throughputRound(service, f, input.pcm, 1);
      const parallel = await throughputRound(service, f, input.pcm, PARALLEL);
      const inlineXrt = pooled ? (await throughputRound(inline, f, input.pcm, 1)).xrt : Number.NaN;
      const whole = await wholeFileRound(file, seconds, f.ffmpeg);
      rounds.push({
        single: single.xrt,
        parallel: parallel.xrt,
        inline: inlineXrt,
        whole: whole.xrt,
        wholeMem: whole.memMiB,
        kbps: single.kbps,
        wholeKbps: whole.kbps,
      });
    }
    log(`${f.label}: first byte`);
    const first = await firstByte(service, f, input.pcm, 5);
    log(`${f.label}: memory (fresh process)`);
    const memory = memoryInFreshProcess(f.label);
    log(`${f.label}: ffmpeg spawn per chunk`);
    const chunk = await perChunk(dir, input.pcm.subarray(0, INPUT_RATE * 1.2), f.ffmpeg, f.ext);
    const result = summarize(f, rounds, first, memory, chunk);
    formats.push(result);
    log(
      `${f.label}: ours ${result.single.toFixed(0)} (x${PARALLEL}: ${result.parallel.toFixed(0)}) xRT/core, ffmpeg whole ${result.whole.toFixed(0)}, per chunk ${chunk.xrt.toFixed(2)}`,
    );
  }
  const opusWholeDefault = await wholeFile(file, seconds, OPUS_FFMPEG_DEFAULT, 3);

  log('200 real-time MP3 streams (codec threads)');
  gc();
  const streams200 = await realTimeStreams(service, input.pcm, { streams: 200, seconds: 10 });
  log(`  late ${streams200.late}/${streams200.chunks}, loop p99 ${streams200.loopP99.toFixed(1)} ms`);
  log('200 real-time MP3 streams (inline, for comparison)');
  const streams200Inline = await realTimeStreams(inline, input.pcm, { streams: 200, seconds: 5 });
  log('150 real-time Opus streams');
  const opusStreams = await realTimeStreams(service, input.pcm, { streams: 150, seconds: 5, format: 'opus' });
  log(`  late ${opusStreams.late}/${opusStreams.chunks}`);
  const search: ConcurrencyResult[] = [];
  for (const streams of [250, 300, 350, 400, 450]) {
    log(`${streams} real-time MP3 streams`);
    const result = await realTimeStreams(service, input.pcm, { streams, seconds: 5 });
    search.push(result);
    log(`  late ${result.late}/${result.chunks}, loop p99 ${result.loopP99.toFixed(1)} ms`);
    if (result.late > 0) break;
  }

  await inlinePool.close();
  await app.close();
  rmSync(dir, { recursive: true, force: true });

  const report = renderReport({
    machine: { ...host, loadAfter: load() },
    input: input.source,
    threads: pool.threads,
    parallel: PARALLEL,
    rounds: ROUNDS,
    formats,
    opusWholeDefault,
    streams200,
    streams200Inline,
    opusStreams,
    search,
    complexityVoice,
    complexityAuto,
    chosenComplexity: OPUS_COMPLEXITY,
    runtimeSeconds: (performance.now() - started) / 1000,
  });
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  log(`wrote ${OUT}`);
}

interface Round {
  single: number;
  parallel: number;
  inline: number;
  whole: number;
  wholeMem: number;
  kbps: number;
  wholeKbps: number;
}

function summarize(
  f: (typeof BENCH_FORMATS)[number],
  rounds: Round[],
  firstByteMs: { byte: number; audio: number },
  memory: { mib: number; n: number },
  chunk: BaselineResult,
): FormatResult {
  const m = (pick: (r: Round) => number) => median(rounds.map(pick));
  return {
    f,
    single: m((r) => r.single),
    parallel: m((r) => r.parallel),
    inline: m((r) => r.inline),
    whole: m((r) => r.whole),
    // Ratios taken within each round, so load changes on the shared machine cancel out.
    ratioSingle: m((r) => r.single / r.whole),
    ratioParallel: m((r) => r.parallel / r.whole),
    kbps: m((r) => r.kbps),
    wholeKbps: m((r) => r.wholeKbps),
    wholeMemMiB: Math.max(...rounds.map((r) => r.wholeMem)),
    firstByte: firstByteMs,
    memMiB: memory.mib,
    memStreams: memory.n,
    perChunk: chunk,
  };
}

(process.argv[2] === '--memory' ? memoryChild(process.argv[3]) : main()).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
