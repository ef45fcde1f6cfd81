/** Renders the benchmark results as docs/BENCHMARKS.md. */
import type { ConcurrencyResult } from './concurrency';
import type { BaselineResult } from './ffmpeg';
import type { BenchFormat } from './formats';
import type { ComplexityRow } from './opus-complexity';
import type { ResamplerRow } from './resampler';
import type { RunSummary, ServerResults } from './server';
import { START_NODE_FLAGS } from '../../test/support/start-command';

export interface FormatResult {
  readonly f: BenchFormat;
  /** Our xRT/core, one stream pushed flat out. */
  readonly single: number;
  /** Our xRT/core with several streams pushed flat out at once (how a busy gateway runs). */
  readonly parallel: number;
  /** MP3/Opus with the codec on the calling thread instead of a worker (NaN for other formats). */
  readonly inline: number;
  readonly whole: number;
  readonly ratioSingle: number;
  readonly ratioParallel: number;
  readonly kbps: number;
  readonly wholeKbps: number;
  readonly wholeMemMiB: number;
  readonly firstByte: { byte: number; audio: number };
  readonly memMiB: number;
  readonly memStreams: number;
  readonly perChunk: BaselineResult;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly ffmpeg: string;
  readonly os: string;
  readonly date: string;
  readonly loadBefore: string;
  readonly loadAfter: string;
}

/** A section's figures and the run that measured them (a partial run keeps earlier sections). */
export type Measured<T> = T & {
  readonly measuredAt: string;
  /** The CPU it was measured on (absent in older results: the machine of the run that kept it). */
  readonly measuredOn?: string;
};

export interface Results {
  readonly machine: Machine;
  readonly parallel: number;
  readonly rounds: number;
  readonly runtimeSeconds: number;
  readonly input?: string;
  readonly threads?: number;
  /** The server build the server sections ran. */
  readonly serverMain?: string;
  readonly formats?: Measured<{ rows: FormatResult[]; opusWholeDefault: BaselineResult }>;
  readonly concurrency?: Measured<{
    streams200: ConcurrencyResult;
    streams200Inline: ConcurrencyResult;
    opusStreams: ConcurrencyResult;
    search: ConcurrencyResult[];
    /** Absent in results from before Opus ran on every thread. */
    opusSearch?: ConcurrencyResult[];
  }>;
  readonly complexity?: Measured<{ voice: ComplexityRow[]; auto: ComplexityRow[]; chosen: number }>;
  readonly resampler?: Measured<{ rows: ResamplerRow[] }>;
  readonly idle?: Measured<NonNullable<ServerResults['idle']>>;
  readonly ttfa?: Measured<RunSummary>;
  /** Absent in results from before the node:http run. */
  readonly ttfaNodeHttp?: Measured<RunSummary>;
  readonly churn?: Measured<RunSummary & { concurrency: number }>;
  /** Absent in results from before the steady-state run. */
  readonly churnSteady?: Measured<RunSummary & { concurrency: number; warmedBy: number }>;
  readonly burst?: Measured<{ cold: RunSummary; warm: RunSummary; coldThreadsAtBoot?: RunSummary }>;
  /** The churn and the burst on a server that has served no session yet (absent in older results). */
  readonly justStartedChurn?: Measured<RunSummary & { concurrency: number }>;
  readonly justStartedBurst?: Measured<RunSummary>;
  /** The same with CODEC_THREADS_AT_BOOT=true, and its idle RSS (absent in older results). */
  readonly justStartedBurstThreadsAtBoot?: Measured<RunSummary>;
  readonly idleThreadsAtBoot?: Measured<NonNullable<ServerResults['idle']>>;
  /** The churn after an idle pause, with and without the memory reducer (absent in older results). */
  readonly afterPause?: Measured<NonNullable<ServerResults['afterPause']>>;
  /** Absent in results from before the Node 24 runs. */
  readonly node24?: Measured<NonNullable<ServerResults['node24']>>;
}

/** Starts the JSON copy of the results at the end of the report. */
export const RESULTS_MARKER = '<!-- bench-results';

const n0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '—');
const n1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const n2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const mem = (mib: number) =>
  !Number.isFinite(mib) ? '—' : mib < 1 ? `${(mib * 1024).toFixed(0)} KiB` : `${mib.toFixed(1)} MiB`;
const pass = (ok: boolean) => (ok ? '**met**' : '**NOT met**');

function concurrencyRow(label: string, r: ConcurrencyResult): string {
  return `| ${label}${r.attempts === 2 ? ' (best of 2)' : ''} | ${r.streams} | ${r.late} / ${r.chunks} | ${n0(r.worstChunkMs)} ms | ${n1(r.loopP50)} | ${n1(r.loopP99)} | ${n1(r.loopMax)} | ${n2(r.cores)} | ${n2(r.mainCores)} |`;
}

/** "N" streams without a late chunk, and the first count that had one, over a run and its search. */
function mostWithoutLate(base: ConcurrencyResult, search: readonly ConcurrencyResult[]): string {
  const ok = [base, ...search].filter((s) => s.late === 0).reduce((m, s) => Math.max(m, s.streams), 0);
  const failing = search.find((s) => s.late > 0);
  return `${ok > 0 ? ok : `below ${base.streams}`}${failing ? `; at ${failing.streams}: ${failing.late} late` : ''}`;
}

function serverRow(label: string, r: RunSummary): string {
  const failed = r.failed > 0 ? ` (${r.failed} failed: ${r.errors.join('; ')})` : '';
  return `| ${label} | ${r.sessions}${failed} | ${n0(r.sessionsPerS)} | ${n2(r.cpuMsPerSession)} ms | ${n2(r.serverCores)} / ${n2(r.clientCores)} | ${n1(r.create.p50)} / ${n1(r.create.p99)} ms | ${n1(r.firstAudio.p50)} / ${n1(r.firstAudio.p99)} ms | ${n1(r.firstAudioFromOpen.p50)} / ${n1(r.firstAudioFromOpen.p99)} ms | ${n0(r.rssMiB)} MiB | ${r.threads} |`;
}

export function renderReport(r: Results): string {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  const dated = (m: { measuredAt: string; measuredOn?: string } | undefined) =>
    !m || m.measuredAt === r.machine.date
      ? ''
      : ` _(measured ${m.measuredAt}${m.measuredOn && m.measuredOn !== r.machine.cpu ? ` on ${m.measuredOn}` : ''}, kept from an earlier run)_`;
  const missing = (scenario: string) => `_Not measured yet: \`npm run bench -- --only ${scenario}\`._`;

  push(
    '# Transcoding and server benchmarks',
    '',
    '_Generated by `npm run bench` (bench/run.ts); do not edit by hand. Re-run on the target machine to refresh; `npm run bench -- --only churn,burst` re-measures some sections and keeps the others._',
    '',
    `- **Date:** ${r.machine.date}`,
    `- **Machine:** ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB.toFixed(1)} GiB RAM, ${r.machine.os}`,
    `- **Software:** Node ${r.machine.node}, ${r.machine.ffmpeg}`,
    `- **Load average (1/5/15 min):** ${r.machine.loadBefore} before, ${r.machine.loadAfter} after. The machine is shared: other jobs running at the same time show up as noise, mostly in the real-time and server tests.`,
    `- **Input:** ${r.input ?? 'espeak-ng speech'}, mono s16 at 24 kHz, fed in 40 ms chunks. Codec threads: ${r.threads ?? '—'}.`,
    `- **Bench runtime:** ${n0(r.runtimeSeconds)} s`,
    '',
    '## Targets',
    '',
    '| target | measured | |',
    '|---|---|---|',
  );
  const formats = r.formats;
  if (formats) {
    const byFormat = (format: string) => formats.rows.find((x) => x.f.format === format)!;
    const mp3 = byFormat('mp3');
    const opus = byFormat('opus');
    const opusDefault = formats.opusWholeDefault;
    const chosen = r.complexity?.chosen ?? 5;
    push(
      `| MP3 at least as fast per core as whole-file ffmpeg (libmp3lame, same bitrate) | ours ${n0(mp3.parallel)} (${r.parallel} streams at once) / ${n0(mp3.single)} (one stream) vs ${n0(mp3.whole)} s of audio per CPU-second: ${ratio(mp3.ratioParallel)} / ${ratio(mp3.ratioSingle)} | ${pass(mp3.ratioParallel >= 1)} |`,
      `| Opus at least as fast per core as whole-file ffmpeg (libopus, 32 kbps) | vs ffmpeg at its default complexity 10: ${n0(opus.parallel)} / ${n0(opus.single)} vs ${n0(opusDefault.xrt)}: ${ratio(opus.parallel / opusDefault.xrt)} / ${ratio(opus.single / opusDefault.xrt)}. vs ffmpeg forced to complexity ${chosen} (signal auto; it then writes ${n0(opus.wholeKbps)} kbps for the same 32k target): ${n0(opus.whole)}, ${ratio(opus.ratioParallel)} / ${ratio(opus.ratioSingle)} | ${pass(opus.parallel >= opusDefault.xrt)} (at equal complexity: ${opus.ratioParallel >= 1 ? 'met' : 'not met'}) |`,
    );
  }
  const c = r.concurrency;
  if (c) {
    const s200 = c.streams200;
    const maxN = c.search
      .filter((s) => s.late === 0)
      .reduce((m, s) => Math.max(m, s.streams), s200.late === 0 ? 200 : 0);
    const firstFailing = c.search.find((s) => s.late > 0);
    push(
      `| 200 concurrent real-time 24 kHz MP3 streams, no late chunk | ${s200.late} late of ${s200.chunks} chunks | ${pass(s200.late === 0)} |`,
      `| ... with event-loop delay p99 < 20 ms | p99 ${n1(s200.loopP99)} ms (p50 ${n1(s200.loopP50)}, max ${n1(s200.loopMax)}) | ${pass(s200.loopP99 < 20)} |`,
      ...(c.opusSearch
        ? [
            `| most concurrent real-time 24 kHz Opus streams with no late chunk (every codec thread; one thread carried ~170 before) | ${mostWithoutLate(c.opusStreams, c.opusSearch)} | |`,
          ]
        : []),
      `| at least 280 concurrent real-time 24 kHz MP3 streams with no late chunk (searched up to ${c.search.length ? c.search[c.search.length - 1].streams : 200}) | ${maxN > 0 ? maxN : 'below 200'}${firstFailing ? `; at ${firstFailing.streams}: ${firstFailing.late} late` : ''} | ${pass(maxN >= 280)} |`,
    );
  }
  const node24 = r.node24;
  /** Node 24's version as printed (older results kept the leading v). */
  const v24 = node24?.version.replace(/^v/, '') ?? '';
  const metText = (ok: boolean) => (ok ? 'met' : 'not met');
  if (r.churn) {
    const steady = r.churnSteady;
    const on24 = node24?.churn;
    const cpu24 = on24
      ? `; on Node ${v24} (the Docker image's runtime): ${n2(on24.cpuMsPerSession)} ms fresh${node24.churnSteady ? `, ${n2(node24.churnSteady.cpuMsPerSession)} ms steady` : ''}${node24.justStartedChurn ? `, ${n2(node24.justStartedChurn.cpuMsPerSession)} ms just started` : ''}`
      : '';
    const verdict24 = on24
      ? `; Node 24 fresh: ${metText(on24.cpuMsPerSession <= 1)}${node24.churnSteady ? `, steady: ${metText(node24.churnSteady.cpuMsPerSession <= 1)}` : ''}${node24.justStartedChurn ? `, just started: ${metText(node24.justStartedChurn.cpuMsPerSession <= 1)}` : ''}`
      : '';
    const started = r.justStartedChurn;
    const startedText = started
      ? `; ${n2(started.cpuMsPerSession)} ms over the first ${started.sessions} sessions of a just-started server`
      : '';
    const startedVerdict = started ? `; just started: ${metText(started.cpuMsPerSession <= 1)}` : '';
    const paused = r.afterPause;
    const pausedText = paused
      ? `; ${n2(paused.startCommand.cpuMsPerSession)} ms after ${paused.pauseS} s idle (${n2(paused.noMemoryReducer.cpuMsPerSession)} ms with \`--no-memory-reducer\`)`
      : '';
    const pausedVerdict = paused
      ? `; after a pause: ${metText(paused.startCommand.cpuMsPerSession <= 1)}`
      : '';
    push(
      steady
        ? `| server CPU per short session ≤ 1 ms (churn: "Short reply.", pcm16 16 kHz, concurrency ${r.churn.concurrency}; judged in steady state) | Node ${process.versions.node}: ${n2(steady.cpuMsPerSession)} ms in steady state (after ${steady.warmedBy + 300 + r.churn.sessions} sessions); ${n2(r.churn.cpuMsPerSession)} ms on a fresh server (after a 300-session warm-up, JIT compilation still running)${startedText}${pausedText}${cpu24} | ${pass(steady.cpuMsPerSession <= 1)} (fresh: ${metText(r.churn.cpuMsPerSession <= 1)}${startedVerdict}${pausedVerdict}${verdict24}) |`
        : `| server CPU per short session ≤ 1 ms (churn: "Short reply.", pcm16 16 kHz, concurrency ${r.churn.concurrency}) | ${n2(r.churn.cpuMsPerSession)} ms${cpu24} | ${pass(r.churn.cpuMsPerSession <= 1)} |`,
      `| at least 600 short sessions/s | ${n0(r.churn.sessionsPerS)} sessions/s (load generator on the same 2 cores)${on24 ? `; Node ${v24}: ${n0(on24.sessionsPerS)}` : ''} | ${pass(r.churn.sessionsPerS >= 600)} |`,
    );
  }
  if (r.burst) {
    const atBoot = r.justStartedBurstThreadsAtBoot;
    push(
      `| 200 MP3 sessions opened within 100 ms: first audio p99 ≤ 250 ms | ${n0(r.burst.warm.firstAudio.p99)} ms with the codec threads running; ${n0(r.burst.cold.firstAudio.p99)} ms when the burst also starts them${r.burst.coldThreadsAtBoot ? ` (${n0(r.burst.coldThreadsAtBoot.firstAudio.p99)} ms with \`CODEC_THREADS_AT_BOOT=true\`)` : ''}${r.justStartedBurst ? `; ${n0(r.justStartedBurst.firstAudio.p99)} ms on a just-started server (JIT not warm yet)` : ''}${atBoot ? `, ${n0(atBoot.firstAudio.p99)} ms there with \`CODEC_THREADS_AT_BOOT=true\`` : ''} | ${pass(r.burst.warm.firstAudio.p99 <= 250)} (codec threads starting: ${metText(r.burst.cold.firstAudio.p99 <= 250)}${r.justStartedBurst ? `; just started: ${metText(r.justStartedBurst.firstAudio.p99 <= 250)}` : ''}${atBoot ? `; just started, threads at boot: ${metText(atBoot.firstAudio.p99 <= 250)}` : ''}) |`,
    );
  }
  if (r.idle) {
    push(
      `| idle RSS ≤ 90 MiB with the default providers | ${n1(r.idle.at3s)} MiB 3 s after start, ${n1(r.idle.at10s)} MiB at 10 s${node24?.idle ? `; Node ${v24}: ${n1(node24.idle.at3s)} / ${n1(node24.idle.at10s)} MiB` : ''} | ${pass(r.idle.at3s <= 90)} (at 10 s: ${metText(r.idle.at10s <= 90)}${node24?.idle ? `; Node 24: ${metText(node24.idle.at3s <= 90)}` : ''}${r.idleThreadsAtBoot ? `; with \`CODEC_THREADS_AT_BOOT=true\`, an opt-in: ${n1(r.idleThreadsAtBoot.at3s)} MiB, ${metText(r.idleThreadsAtBoot.at3s <= 90)}` : ''}) |`,
    );
  }
  if (r.ttfa) {
    push(
      `| single-stream time to first audio p50 ≤ 2 ms (create + WebSocket open + first chunk, pcm16) | p50 ${n1(r.ttfa.firstAudio.p50)} ms (p99 ${n1(r.ttfa.firstAudio.p99)}) with fetch${r.ttfaNodeHttp ? `; ${n1(r.ttfaNodeHttp.firstAudio.p50)} ms (p99 ${n1(r.ttfaNodeHttp.firstAudio.p99)}) with node:http keep-alive` : ''} | ${r.ttfaNodeHttp ? `${pass(r.ttfaNodeHttp.firstAudio.p50 <= 2)} with node:http (fetch: ${r.ttfa.firstAudio.p50 <= 2 ? 'met' : 'not met'})` : pass(r.ttfa.firstAudio.p50 <= 2)} |`,
    );
  }

  push('', '## Server under load', '');
  if (r.idle || r.ttfa || r.churn || r.burst) {
    push(
      'The compiled server (`' +
        ['node', ...START_NODE_FLAGS, r.serverMain ?? 'dist/main.js'].join(' ') +
        '`, the flags of `npm run start:prod`) as a child process with `PROVIDERS=mock_tone`, `RATE_LIMIT_SESSIONS_PER_MINUTE=0`, `LOG_LEVEL=warn` and the per-client limits lifted; the load generator (bench/load-client.ts: `fetch` and `ws`; for the second single-stream run node:http with a keep-alive agent, since undici\'s `fetch` costs the client some half a millisecond per request) in another process on the same machine. A session: `POST /v1/tts/sessions` with "Short reply." (0.9 s of mock-tone audio), open its `ws_url`, read JSON frames until `eos`. Server CPU = utime + stime of the server process (every thread, codec threads included) over the run, divided by the sessions. The server is warmed up first with 300 pcm16 sessions, except in the two "just-started" runs: there each runs on a new server process that has served nothing yet (the load generator warmed up on another one), which is what a replica meets right after a deploy. Such a process runs the request and stream paths in V8\'s interpreter and baseline code while TurboFan compiles them in the background; it takes some 2000 sessions to reach the steady-state cost, and in a burst the slower main thread is what sets first audio. The two after-pause runs: a server warmed up, then idle for a while (past the resume window), then the churn; once as started by `npm run start:prod`, once with `--no-memory-reducer` added. With V8\'s memory reducer on, an idle heap is shrunk and its limits start low, and the next load pays dozens of full collections while they grow back (one every 200–300 ms through the churn, by `--trace-gc`); README, "After an idle minute", says why the flag is not the default.',
      '',
      '| run | sessions | sessions/s | server CPU per session | CPU cores: server / load generator | create p50 / p99 | first audio p50 / p99 (from POST) | first audio p50 / p99 (from WS open) | server RSS after | threads |',
      '|---|---|---|---|---|---|---|---|---|---|',
    );
    if (r.ttfa) push(serverRow(`single stream: 50 sequential pcm16 16 kHz sessions${dated(r.ttfa)}`, r.ttfa));
    if (r.ttfaNodeHttp)
      push(
        serverRow(
          `single stream, the POST through node:http keep-alive instead of fetch${dated(r.ttfaNodeHttp)}`,
          r.ttfaNodeHttp,
        ),
      );
    if (r.churn)
      push(serverRow(`churn: pcm16 16 kHz at concurrency ${r.churn.concurrency}${dated(r.churn)}`, r.churn));
    if (r.churnSteady)
      push(
        serverRow(
          `churn, steady state: the same after ${r.churnSteady.warmedBy} more sessions${dated(r.churnSteady)}`,
          r.churnSteady,
        ),
      );
    if (node24?.churn)
      push(serverRow(`churn on Node ${v24}: the same, another server process${dated(node24)}`, node24.churn));
    if (node24?.churnSteady)
      push(
        serverRow(
          `churn on Node ${v24}, steady state (after ${node24.churnSteady.warmedBy} more)${dated(node24)}`,
          node24.churnSteady,
        ),
      );
    if (node24?.justStartedChurn)
      push(serverRow(`churn on Node ${v24}, just-started server${dated(node24)}`, node24.justStartedChurn));
    if (r.burst) {
      push(
        serverRow(
          `burst: 200 MP3 24 kHz within 100 ms, codec threads not started yet${dated(r.burst)}`,
          r.burst.cold,
        ),
        serverRow(`burst: the same again, codec threads running${dated(r.burst)}`, r.burst.warm),
      );
      if (r.burst.coldThreadsAtBoot)
        push(
          serverRow(
            `burst: the first one on another server started with \`CODEC_THREADS_AT_BOOT=true\` (threads running, none of them has encoded yet)${dated(r.burst)}`,
            r.burst.coldThreadsAtBoot,
          ),
        );
    }
    if (r.justStartedChurn)
      push(
        serverRow(
          `churn on a just-started server (no session before it, ready for 1 s)${dated(r.justStartedChurn)}`,
          r.justStartedChurn,
        ),
      );
    if (r.justStartedBurst)
      push(
        serverRow(
          `burst on a just-started server (no session before it, ready for 1 s)${dated(r.justStartedBurst)}`,
          r.justStartedBurst,
        ),
      );
    if (r.justStartedBurstThreadsAtBoot)
      push(
        serverRow(
          `the same with \`CODEC_THREADS_AT_BOOT=true\` (codec threads booted with the server)${dated(r.justStartedBurstThreadsAtBoot)}`,
          r.justStartedBurstThreadsAtBoot,
        ),
      );
    if (r.afterPause)
      push(
        serverRow(
          `churn after ${r.afterPause.pauseS} s idle (warmed up by ${300 + r.afterPause.startCommand.sessions} sessions first; RSS ${n0(r.afterPause.rssBefore.startCommand)} MiB before)${dated(r.afterPause)}`,
          r.afterPause.startCommand,
        ),
        serverRow(
          `the same with \`--no-memory-reducer\` (RSS ${n0(r.afterPause.rssBefore.noMemoryReducer)} MiB before)${dated(r.afterPause)}`,
          r.afterPause.noMemoryReducer,
        ),
      );
    if (r.idle) {
      push(
        '',
        `Idle, default providers (PROVIDERS unset: mock_tone and espeak): ${n1(r.idle.at3s)} MiB RSS 3 s after start, ${n1(r.idle.at10s)} MiB at 10 s, ${r.idle.threads} threads. Start-up keeps V8's young generation from growing and its optimizing compilers off (running TurboFan or Maglev maps their code, pages of the node binary an idle process then keeps: some 7 MiB on Node 20, 8–10 MiB on Node 24; they are on again before the first request) and ends with one compacting full collection (V8's "last resort" collection on Node 22+; on Node 20, whose V8 reads gc options as a young-generation collection, a plain full collection with compaction switched on for it); node-redis, markdown-it, the YAML parser and the OpenAPI document load on first use (src/common/heap-at-rest.ts), and so do the two ICU date formatters \`@nestjs/common\` builds as it loads (~8 MiB; src/common/deferred-date-format.ts).${r.idle.fileAt3s !== undefined ? ` Of the RSS at 3 s, ${n1(r.idle.fileAt3s)} MiB are file-backed pages (mostly the node binary's code and read-only data, shared with every other process running it).` : ''} Codec threads start with the first MP3/Opus sessions and stop after 60 s without a stream${r.idleThreadsAtBoot ? `; with \`CODEC_THREADS_AT_BOOT=true\` they start with the server and stay: ${n1(r.idleThreadsAtBoot.at3s)} MiB at 3 s, ${n1(r.idleThreadsAtBoot.at10s)} MiB at 10 s, ${r.idleThreadsAtBoot.threads} threads${dated(r.idleThreadsAtBoot)}` : ''}.${node24?.idle ? ` On Node ${v24}: ${n1(node24.idle.at3s)} MiB at 3 s, ${n1(node24.idle.at10s)} MiB at 10 s${node24.idle.fileAt3s !== undefined ? `, of which ${n1(node24.idle.fileAt3s)} MiB are file-backed pages of its (larger) binary` : ', of which some 50 MiB are pages of its (larger) binary, file-backed and shared'}.` : ''}${dated(r.idle)}`,
      );
    }
  } else push(missing('idle,ttfa,churn,burst'));

  push('', `## Resampler${dated(r.resampler)}`, '');
  if (r.resampler) {
    push(
      "Nanoseconds per output sample through a stream's resampler: 2 s of input in 20 ms chunks, output buffer reused (as `TranscodeStream` does), median of 21 interleaved rounds. Exact ratios run the WebAssembly SIMD kernel, in fixed point (s16 input times 16-bit taps, exact 32-bit sums, eight multiply-adds per instruction); the JS loop is its fallback, computing the same integer sums (the same samples), and the path for odd rates, which interpolate between 1024 phases of float taps. The filter is the same in both: 16 zero crossings, Kaiser β = 8.",
      '',
      '| ratio | SIMD kernel | JS loop | SIMD speed-up | real time per core (SIMD) |',
      '|---|---|---|---|---|',
    );
    for (const row of r.resampler.rows) {
      const exact = row.to / gcd(row.from, row.to) <= 1024; // phases = L = to / gcd
      push(
        `| ${row.from / 1000} → ${row.to / 1000} kHz${exact ? '' : ' (odd rate: interpolated, JS)'} | ${n1(row.simdNs)} ns | ${n1(row.jsNs)} ns | ${ratio(row.jsNs / row.simdNs)} | ${n0(1e9 / (row.simdNs * row.to))}× |`,
      );
    }
  } else push(missing('resampler'));

  push('', `## Per format${dated(formats)}`, '');
  if (formats) {
    const mp3 = formats.rows.find((x) => x.f.format === 'mp3')!;
    const opus = formats.rows.find((x) => x.f.format === 'opus')!;
    push(
      `Ours = the gateway's encoders through \`TranscodeService\` streams (resampling from 24 kHz where the target rate differs; MP3/Opus on the codec worker threads; FLAC/AAC in one long-lived ffmpeg per stream). "xRT/core" = seconds of audio encoded per CPU-second, all threads and child processes counted; median of ${r.rounds} rounds, each round running ours and whole-file ffmpeg back to back, ratios taken within a round.`,
      '',
      `| format | ours xRT/core (1 stream) | ours (${r.parallel} streams) | ffmpeg whole file | ffmpeg spawn per 40 ms chunk | ours ÷ whole file (1 / ${r.parallel} streams) | ours ÷ per chunk | ours first byte | ours first audio | ffmpeg per-chunk first byte | ours mem/stream | ffmpeg mem/process (whole file / per chunk) | bitrate ours / ffmpeg |`,
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const x of formats.rows) {
      push(
        `| ${x.f.label} | ${n0(x.single)} | ${n0(x.parallel)} | ${n0(x.whole)} | ${n2(x.perChunk.xrt)} | ${ratio(x.ratioSingle)} / ${ratio(x.ratioParallel)} | ${n0(x.single / x.perChunk.xrt)}× | ${n1(x.firstByte.byte)} ms | ${n1(x.firstByte.audio)} ms | ${n0(x.perChunk.firstByteMs)} ms | ${mem(x.memMiB)} (N=${x.memStreams}) | ${mem(x.wholeMemMiB)} / ${mem(x.perChunk.memMiB)} | ${n1(x.kbps)} / ${n1(x.wholeKbps)} kbps |`,
      );
    }
    push(
      '',
      `- Opus vs ffmpeg's libopus at its default complexity (10), whole file: ${n0(formats.opusWholeDefault.xrt)} xRT/core, ${n1(formats.opusWholeDefault.kbps ?? NaN)} kbps (Ogg pages of 20 ms, as ours).`,
      `- One stream alone pays a thread round trip per 40 ms chunk (~50 µs of CPU for wake-ups and message passing, comparable to encoding the chunk); with several streams the pool sends one message per event-loop turn per thread, which is why the ${r.parallel}-stream column is the one that describes a loaded gateway.`,
      `- Worker-thread cost, one stream: MP3 ${n0(mp3.single)} xRT/core through the pool vs ${n0(mp3.inline)} with the codec inline on the calling thread; Opus ${n0(opus.single)} vs ${n0(opus.inline)}. With ${r.parallel} streams the messages batch (one postMessage per event-loop turn per thread) and most of that overhead goes away.`,
      `- ffmpeg per chunk restarts the codec every 40 ms: its MP3 output decodes to ${n2(mp3.perChunk.durationRatio ?? NaN)}× the input duration (encoder delay and padding repeated in every chunk), and its Opus output is one separate Ogg stream per chunk, each with its own pre-skip and priming (decoders report non-monotonic timestamps, codecs.md §2). Ours decode to the input length (Opus exactly; MP3 plus LAME's 1105-sample delay and under a frame of padding, trimmed exactly in whole files by their LAME tag), as the unit tests check.`,
    );
  } else push(missing('formats'));

  push('', `## Concurrent real-time streams${dated(c)}`, '');
  if (c) {
    push(
      'Streams open at random times within the first second (N new sessions per second); each then gets 40 ms of 24 kHz PCM every 40 ms from its own timer and awaits the encoded bytes. A chunk is **late** if its bytes are not ready by the time the next chunk is due (> 40 ms after its own due time). Measured from 1 s after the last stream opened; event-loop delay from `monitorEventLoopDelay` over the same window (2 ms resolution, subtracted). Opening an MP3 encoder takes a LAME instance its thread kept from an ended stream, reset to the configured state (~0.17 ms, when the thread is idle; up to 64 are kept per thread), or copies a configured LAME image into a new wasm instance (~0.4 ms of codec-thread CPU, and the 8 MiB of wasm memory of each new instance counts towards the external memory that makes V8 collect garbage), so even hundreds of simultaneous opens delay first chunks little; the steady state is what is measured here. Opus streams spread over every codec thread (each has its own copy of the native addon).',
      '',
      '| run | streams | late chunks | worst chunk | loop p50 ms | loop p99 ms | loop max ms | CPU cores (process) | CPU cores (event loop) |',
      '|---|---|---|---|---|---|---|---|---|',
      concurrencyRow(`MP3 24 kHz, ${r.threads ?? '—'} codec threads`, c.streams200),
      concurrencyRow('MP3 24 kHz, inline on the event loop (threads: 0)', c.streams200Inline),
      concurrencyRow(`Opus 24 kHz (spread over the codec threads)`, c.opusStreams),
      ...c.search.map((s) => concurrencyRow(`MP3 24 kHz, ${r.threads ?? '—'} codec threads (search)`, s)),
      ...(c.opusSearch ?? []).map((s) =>
        concurrencyRow(`Opus 24 kHz, ${r.threads ?? '—'} codec threads (search)`, s),
      ),
    );
  } else push(missing('concurrency'));

  push('', `## Opus complexity${dated(r.complexity)}`, '');
  const cx = r.complexity;
  if (cx) {
    const chosen = cx.voice[cx.chosen];
    const top = cx.voice[cx.voice.length - 1];
    push(
      `24 kHz speech at 32 kbps VBR, 20 ms frames, application audio; decoded back with libopus. LSD = log-spectral distance over speech-active frames (dB, lower is better); segmental SNR is shown for reference only (SILK does not track the waveform). xRT = seconds of audio per CPU-second of encoding, one thread. The gateway uses signal **voice**, complexity **${cx.chosen}**.`,
      '',
      '| complexity | voice: xRT | voice: LSD dB | voice: segSNR dB | voice: kbps | auto: xRT | auto: LSD dB | auto: segSNR dB |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (let i = 0; i < cx.voice.length; i++) {
      const v = cx.voice[i];
      const a = cx.auto[i];
      push(
        `| ${v.complexity} | ${n0(v.xrt)} | ${n2(v.lsd)} | ${n1(v.segSnr)} | ${n1(v.kbps)} | ${n0(a.xrt)} | ${n2(a.lsd)} | ${n1(a.segSnr)} |`,
      );
    }
    push(
      '',
      `With signal auto, libopus switches speech to CELT-only below complexity 7: much faster, but the spectral distortion jumps (LSD). Forcing signal voice keeps the hybrid SILK+CELT mode at every complexity; there, complexity ${cx.chosen} is within ${n2(chosen.lsd - top.lsd)} dB LSD of complexity 10 for ${n0((100 * top.xrt) / chosen.xrt)}% of its CPU, and below 4 the distortion grows faster than the CPU falls.`,
    );
  } else push(missing('complexity'));

  push(
    '',
    '## How measured',
    '',
    '- **Throughput (xRT/core):** the 60 s input pushed as fast as possible through one stream, and through several streams at once (each `write` awaited, like the gateway). CPU = `process.cpuUsage()` (every thread of the process, so the codec workers count) plus the CPU of exited child processes (`cutime`/`cstime` from /proc/self/stat). ffmpeg whole file: `ffmpeg -f s16le -ar 24000 -ac 1 -i file <same codec settings> pipe:1`. ffmpeg per chunk: one spawn per 40 ms chunk on a 1.2 s input (it is hundreds of times slower), outputs concatenated.',
    '- **First byte / first audio:** a new stream on the warm pool, input paced at real time in 40 ms chunks; time from `openStream` to the first non-empty output, and to the first complete playable unit (a whole MP3/ADTS frame, an Ogg page with a non-zero granule, anything past the WAV/FLAC header). Median of several trials. For ffmpeg per chunk: spawn to first stdout byte. Whole-file ffmpeg only answers after the whole input.',
    '- **Memory per stream:** in a fresh Node process per format (so earlier phases cannot lend it freed heap), N streams fed in real time for 3 s; peak growth of process RSS (worker threads included) plus the PSS of child processes, divided by N. For ffmpeg baselines: the peak PSS of one ffmpeg process while it runs.',
    '- **Concurrency:** see above; streams go through `TranscodeService.openStream()` → `write()` → `end()`, exactly as the WebSocket path uses them. CPU cores = CPU time over wall time for the process and for the event-loop thread (/proc/thread-self/stat).',
    '- **Server scenarios:** see "Server under load". Churn runs N sessions with C always in flight; the burst schedules 200 session creations evenly over 100 ms and lets each stream as soon as it is created; the single-stream run does one session at a time. Idle RSS: a fresh server with the default providers, VmRSS from /proc/<pid>/status.',
    '- Everything runs on this machine (the transcoding sections in one Node process plus one fresh process per memory measurement and the ffmpeg children; the server sections in a server process and a load-generator process), with no network traffic beyond loopback. Timings vary by 5-20% between runs on a shared machine; ratios measured in the same round are steadier.',
    '',
  );
  const { machine: _machine, runtimeSeconds: _runtime, parallel: _parallel, rounds: _rounds, ...kept } = r;
  // "--" cannot appear inside an HTML comment: escape it inside JSON strings (numbers never contain it).
  push(`${RESULTS_MARKER}`, JSON.stringify(kept).replace(/--/g, '-\\u002d'), '-->', '');
  return lines.join('\n');
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
