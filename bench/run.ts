/**
 * `npm run bench`: measures every transcoding format against ffmpeg, the real-time concurrency target,
 * Opus complexity, the resampler, and the compiled server under load (churn, burst, single-stream TTFA,
 * idle memory), then writes docs/BENCHMARKS.md. About 5 minutes on 2 cores; no network.
 *
 *   npm run bench                               everything
 *   npm run bench -- --only churn,burst         some scenarios; the others keep their last figures
 *   npm run bench -- --server path/to/main.js   another build of the server (default dist/main.js)
 *
 * Scenarios: formats, concurrency, complexity, resampler, idle, ttfa, churn, burst, state (bench/state-cache.ts:
 * Redis vs in-process state, the audio cache), and `live` (bench/live.ts,
 * only with --only). The server ones need `npm run build:server` first. Results are also kept, as JSON, in a
 * comment at the end of BENCHMARKS.md, which is how a partial run keeps the sections it did not measure;
 * sections other benchmarks keep there between their own `<!-- name:begin/end -->` markers are carried over.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
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
import {
  RESULTS_MARKER,
  renderReport,
  type FormatResult,
  type Machine,
  type Measured,
  type Results,
} from './lib/report';
import { resamplerSpeed } from './lib/resampler';
import { serverScenarios } from './lib/server';

const OUT = join(__dirname, '..', 'docs', 'BENCHMARKS.md');
const SCENARIOS = [
  'formats',
  'concurrency',
  'complexity',
  'resampler',
  'idle',
  'ttfa',
  'churn',
  'burst',
  'state',
  'live',
] as const;
type Scenario = (typeof SCENARIOS)[number];
/** Run only when asked for (`--only live`): bench/live.ts needs espeak-ng and takes minutes. */
const OPT_IN: readonly Scenario[] = ['live'];

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

/**
 * Sections other benchmarks keep in BENCHMARKS.md between their own markers (`<!-- live-bench:begin -->`
 * ... `<!-- live-bench:end -->`, written by bench/live.ts and the like), by name: carried over unchanged.
 */
function markedSections(): Map<string, string> {
  const text = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
  const sections = new Map<string, string>();
  for (const m of text.matchAll(/<!-- ([\w-]+):begin -->[\s\S]*?<!-- \1:end -->/g)) sections.set(m[1], m[0]);
  return sections;
}

/** The results of the last run, from the comment at the end of BENCHMARKS.md (none if absent or stale). */
function previousResults(): Partial<Results> {
  try {
    const text = readFileSync(OUT, 'utf8');
    const at = text.lastIndexOf(RESULTS_MARKER);
    if (at < 0) return {};
    const json = text.slice(at + RESULTS_MARKER.length, text.indexOf('-->', at)).trim();
    return JSON.parse(json) as Partial<Results>;
  } catch {
    return {};
  }
}

function parseArgs(argv: readonly string[]): { only: Set<Scenario>; server?: string } {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
  };
  const only = value('--only');
  const chosen = only ? only.split(',').map((s) => s.trim()) : SCENARIOS.filter((s) => !OPT_IN.includes(s));
  const unknown = chosen.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
  return { only: new Set(chosen as Scenario[]), server: value('--server') };
}

const ROUNDS = 5;
const PARALLEL = 4;
/** Concurrent real-time MP3 streams tried after 200, until one has a late chunk. */
const SEARCH = [250, 280, 300, 350, 400, 450];
/** The same for Opus (which used to be limited to one codec thread, ~170 streams). */
const OPUS_SEARCH = [250, 300, 350, 400];

async function main(): Promise<void> {
  const { only, server } = parseArgs(process.argv.slice(2));
  const host = machine(load());
  log(`${host.cpu}, ${host.cores} cores, Node ${host.node}, ${host.ffmpeg}; load ${host.loadBefore}`);
  log(`scenarios: ${[...only].join(', ')}`);
  const results: { -readonly [K in keyof Results]?: Results[K] } = { ...previousResults() };
  const measured = <T>(value: T): Measured<T> => ({ ...value, measuredAt: host.date, measuredOn: host.cpu });

  // The server scenarios first, while this process is idle (the server has the CPU to itself).
  if (['idle', 'ttfa', 'churn', 'burst'].some((s) => only.has(s as Scenario))) {
    const main = server ?? process.env.GATEWAY_MAIN;
    if (!existsSync(main ?? join(__dirname, '..', 'dist', 'main.js'))) {
      throw new Error('the server scenarios run the compiled server: npm run build:server first');
    }
    const r = await serverScenarios({
      main,
      scenarios: new Set([...only].filter((s) => ['idle', 'ttfa', 'churn', 'burst'].includes(s))) as Set<
        'idle' | 'ttfa' | 'churn' | 'burst'
      >,
      log,
    });
    const inRepo = relative(join(__dirname, '..'), r.main);
    results.serverMain = inRepo.startsWith('..') ? r.main : inRepo;
    if (r.idle) results.idle = measured(r.idle);
    if (r.ttfa) results.ttfa = measured(r.ttfa);
    if (r.ttfaNodeHttp) results.ttfaNodeHttp = measured(r.ttfaNodeHttp);
    if (r.churn) results.churn = measured(r.churn);
    if (r.churnSteady) results.churnSteady = measured(r.churnSteady);
    if (r.node24) results.node24 = measured(r.node24);
    if (r.burstCold && r.burstWarm)
      results.burst = measured({
        cold: r.burstCold,
        warm: r.burstWarm,
        coldThreadsAtBoot: r.justStarted?.firstBurstThreadsAtBoot,
      });
    if (r.justStarted?.churn) results.justStartedChurn = measured(r.justStarted.churn);
    if (r.justStarted?.burst) results.justStartedBurst = measured(r.justStarted.burst);
    if (r.justStarted?.burstThreadsAtBoot)
      results.justStartedBurstThreadsAtBoot = measured(r.justStarted.burstThreadsAtBoot);
    if (r.idleThreadsAtBoot) results.idleThreadsAtBoot = measured(r.idleThreadsAtBoot);
    if (r.afterPause) results.afterPause = measured(r.afterPause);
  }

  if (only.has('resampler')) {
    log('resampler speed (SIMD kernel and JS loop)');
    results.resampler = measured({ rows: resamplerSpeed() });
  }

  const input = loadInput();
  results.input = input.source;
  if (only.has('complexity')) {
    // On this thread, before any codec thread exists (each codec thread has its own Opus addon anyway).
    log('opus complexity sweep');
    results.complexity = measured({
      voice: opusComplexitySweep(input.pcm, INPUT_RATE, 20, 'voice'),
      auto: opusComplexitySweep(input.pcm, INPUT_RATE, 20, 'auto'),
      chosen: OPUS_COMPLEXITY,
    });
  }

  if (only.has('formats') || only.has('concurrency')) {
    // The gateway's wiring: TranscodeModule through Nest DI, codec threads started up front.
    const app = await NestFactory.createApplicationContext(TranscodeModule, { logger: ['error', 'warn'] });
    await app.init();
    const service = app.get(TranscodeService);
    const pool = app.get(CodecWorkerPool);
    await pool.warmUp();
    results.threads = pool.threads;
    // The same codecs run inline on this thread, to show what the worker threads cost and buy.
    const inlinePool = new CodecWorkerPool({ threads: 0 });
    const inline = new TranscodeService([
      new PcmEncoderFactory(),
      new Mp3EncoderFactory(inlinePool),
      new OpusEncoderFactory(inlinePool),
    ]);
    if (only.has('formats')) results.formats = measured(await formats(service, inline, input.pcm));
    if (only.has('concurrency'))
      results.concurrency = measured(await concurrency(service, inline, input.pcm));
    await inlinePool.close();
    await app.close();
  }

  const sections = markedSections();
  if (only.has('live')) {
    log('live text input (bench/live.ts)');
    const live = await import('./live');
    sections.set('live-bench', live.renderLiveSection(await live.runLiveBenchmark({ server })));
  }
  if (only.has('state')) {
    log('shared state and audio cache (bench/state-cache.ts)');
    const state = await import('./state-cache');
    sections.set(
      'state-cache-bench',
      state.renderStateCacheSection(await state.runStateCacheBenchmark({ server })),
    );
  }

  const rendered = renderReport({
    ...results,
    machine: { ...host, loadAfter: load() },
    parallel: PARALLEL,
    rounds: ROUNDS,
    runtimeSeconds: (performance.now() - started) / 1000,
  });
  // Other benchmarks' sections go after ours, before the JSON of our results (which stays last).
  const at = rendered.lastIndexOf(RESULTS_MARKER);
  const report = [rendered.slice(0, at).trimEnd(), ...sections.values(), rendered.slice(at)].join('\n\n');
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, report);
  log(`wrote ${OUT}`);
}

async function formats(
  service: TranscodeService,
  inline: TranscodeService,
  pcm: Int16Array,
): Promise<{ rows: FormatResult[]; opusWholeDefault: BaselineResult }> {
  const dir = mkdtempSync(join(tmpdir(), 'tts-bench-'));
  const file = inputFile(dir, pcm);
  const seconds = pcm.length / INPUT_RATE;
  const rows: FormatResult[] = [];
  for (const f of BENCH_FORMATS) {
    const pooled = f.format === 'mp3' || f.format === 'opus';
    log(`${f.label}: throughput, ${ROUNDS} rounds interleaved with whole-file ffmpeg`);
    await warmUpFormat(service, f, pcm);
    if (pooled) await warmUpFormat(inline, f, pcm);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const single = await throughputRound(service, f, pcm, 1);
      const parallel = await throughputRound(service, f, pcm, PARALLEL);
      const inlineXrt = pooled ? (await throughputRound(inline, f, pcm, 1)).xrt : Number.NaN;
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
    const first = await firstByte(service, f, pcm, 5);
    log(`${f.label}: memory (fresh process)`);
    const memory = memoryInFreshProcess(f.label);
    log(`${f.label}: ffmpeg spawn per chunk`);
    const chunk = await perChunk(dir, pcm.subarray(0, INPUT_RATE * 1.2), f.ffmpeg, f.ext);
    const result = summarize(f, rounds, first, memory, chunk);
    rows.push(result);
    log(
      `${f.label}: ours ${result.single.toFixed(0)} (x${PARALLEL}: ${result.parallel.toFixed(0)}) xRT/core, ffmpeg whole ${result.whole.toFixed(0)}, per chunk ${chunk.xrt.toFixed(2)}`,
    );
  }
  const opusWholeDefault = await wholeFile(file, seconds, OPUS_FFMPEG_DEFAULT, 3);
  rmSync(dir, { recursive: true, force: true });
  return { rows, opusWholeDefault };
}

async function concurrency(
  service: TranscodeService,
  inline: TranscodeService,
  pcm: Int16Array,
): Promise<{
  streams200: ConcurrencyResult;
  streams200Inline: ConcurrencyResult;
  opusStreams: ConcurrencyResult;
  search: ConcurrencyResult[];
  opusSearch: ConcurrencyResult[];
}> {
  // Other jobs on a shared machine make chunks late too: a count with late chunks gets a second run, and
  // the better of the two is reported (marked "best of 2").
  const attempt = async (label: string, opts: Parameters<typeof realTimeStreams>[2]) => {
    log(label);
    gc();
    let result = await realTimeStreams(service, pcm, opts);
    if (result.late > 0) {
      log(`  late ${result.late}/${result.chunks}: again`);
      const again = await realTimeStreams(service, pcm, opts);
      result = { ...(again.late < result.late ? again : result), attempts: 2 };
    }
    log(`  late ${result.late}/${result.chunks}, loop p99 ${result.loopP99.toFixed(1)} ms`);
    return result;
  };
  const streams200 = await attempt('200 real-time MP3 streams (codec threads)', {
    streams: 200,
    seconds: 10,
  });
  log('200 real-time MP3 streams (inline, for comparison)');
  const streams200Inline = await realTimeStreams(inline, pcm, { streams: 200, seconds: 5 });
  const opusStreams = await attempt('150 real-time Opus streams', {
    streams: 150,
    seconds: 5,
    format: 'opus',
  });
  const search: ConcurrencyResult[] = [];
  for (const streams of SEARCH) {
    const result = await attempt(`${streams} real-time MP3 streams`, { streams, seconds: 5 });
    search.push(result);
    if (result.late > 0) break;
  }
  const opusSearch: ConcurrencyResult[] = [];
  for (const streams of OPUS_SEARCH) {
    const result = await attempt(`${streams} real-time Opus streams`, {
      streams,
      seconds: 5,
      format: 'opus',
    });
    opusSearch.push(result);
    if (result.late > 0) break;
  }
  return { streams200, streams200Inline, opusStreams, search, opusSearch };
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
