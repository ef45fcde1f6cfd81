/**
 * Server scenarios: the compiled gateway (dist/main.js, `npm run build:server` first) as a child process,
 * driven by bench/load-client.ts in another child process. Server CPU comes from /proc/<pid>/stat
 * (utime + stime: every thread, codec workers included) read just before and after each run; memory from
 * /proc/<pid>/status.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { START_NODE_FLAGS } from '../../test/support/start-command';
import type { LoadCommand, LoadResult, SessionSpec, SessionTiming } from '../load-client';
import { median, sleep } from './measure';

const CLOCK_TICK_S = 0.01; // USER_HZ

export const DEFAULT_SERVER_MAIN = join(__dirname, '..', '..', 'dist', 'main.js');
/** Node 24 LTS as the test command installs it (scripts/with-node24.sh): the runtime of the Docker image. */
const NODE24 = join(__dirname, '..', '..', '.node24', 'node_modules', '.bin', 'node');

/** "Short reply." as pcm16 at 16 kHz: the churn workload of issue 14. */
export const SHORT_PCM: SessionSpec = { text: 'Short reply.', format: 'pcm16', sampleRate: 16000 };
export const SHORT_MP3: SessionSpec = { text: 'Short reply.', format: 'mp3', sampleRate: 24000 };

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

export interface RunSummary {
  readonly sessions: number;
  readonly failed: number;
  readonly errors: string[];
  readonly wallS: number;
  readonly sessionsPerS: number;
  /** Server CPU (all threads) over the run, per session. */
  readonly cpuMsPerSession: number;
  /** CPU cores used over the run by the server and by the load generator. */
  readonly serverCores: number;
  readonly clientCores: number;
  readonly create: Percentiles;
  /** From POST start to the first audio frame, and from WebSocket open to it. */
  readonly firstAudio: Percentiles;
  readonly firstAudioFromOpen: Percentiles;
  readonly rssMiB: number;
  readonly threads: number;
}

export interface ServerResults {
  readonly main: string;
  /** Default providers (PROVIDERS unset), nothing done yet: VmRSS 3 s and 10 s after start. */
  readonly idle?: {
    readonly at3s: number;
    readonly at10s: number;
    readonly threads: number;
    /** Of `at3s`: file-backed pages (RssFile), mostly the node binary's own code and read-only data. */
    readonly fileAt3s?: number;
  };
  readonly ttfa?: RunSummary;
  /** The same sequential sessions with the POST sent through node:http keep-alive instead of fetch. */
  readonly ttfaNodeHttp?: RunSummary;
  readonly churn?: RunSummary & { readonly concurrency: number };
  /** The same churn once the JIT has compiled the hot paths (after STEADY_WARM_UP more sessions). */
  readonly churnSteady?: RunSummary & { readonly concurrency: number; readonly warmedBy: number };
  /** 200 MP3 sessions created within 100 ms: before any codec thread runs, and with them running. */
  readonly burstCold?: RunSummary;
  readonly burstWarm?: RunSummary;
  /**
   * The same churn and burst, each on a server that has served no session yet (ready for a second): what a
   * new replica meets right after a deploy, and what a check run against a newly started gateway sees.
   */
  readonly justStarted?: {
    readonly churn?: RunSummary & { readonly concurrency: number };
    readonly burst?: RunSummary;
    /** The burst on a just-started server with CODEC_THREADS_AT_BOOT=true (threads booted with it). */
    readonly burstThreadsAtBoot?: RunSummary;
    /**
     * The first MP3 burst as `burstCold` (after the pcm16 warm-up), on another new server started with
     * CODEC_THREADS_AT_BOOT=true. Run here for the load generator this group has warmed up.
     */
    readonly firstBurstThreadsAtBoot?: RunSummary;
  };
  /** Idle RSS with CODEC_THREADS_AT_BOOT=true: what keeping the codec threads running costs at rest. */
  readonly idleThreadsAtBoot?: ServerResults['idle'];
  /**
   * The churn again on a warmed-up server that then sat idle for `pauseS` (past the resume window): as the
   * start command runs it (V8's memory reducer on), and with `--no-memory-reducer` added.
   */
  readonly afterPause?: {
    readonly pauseS: number;
    readonly startCommand: RunSummary & { readonly concurrency: number };
    readonly noMemoryReducer: RunSummary & { readonly concurrency: number };
    /** RSS just before the measured churn (after the pause), MiB. */
    readonly rssBefore: { readonly startCommand: number; readonly noMemoryReducer: number };
  };
  /** Idle and churn again with the server on Node 24 (when .node24 is installed). */
  readonly node24?: {
    readonly version: string;
    readonly idle?: ServerResults['idle'];
    readonly churn?: ServerResults['churn'];
    readonly churnSteady?: ServerResults['churnSteady'];
    readonly justStartedChurn?: NonNullable<ServerResults['justStarted']>['churn'];
  };
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const pick = (timings: readonly SessionTiming[], key: keyof SessionTiming): Percentiles => {
  const values = timings.map((t) => t[key]).filter(Number.isFinite);
  return { p50: median(values), p99: percentile(values, 99) };
};

function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_S;
}

function status(pid: number): { rssMiB: number; fileMiB: number; threads: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: field('VmRSS') / 1024, fileMiB: field('RssFile') / 1024, threads: field('Threads') };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Server {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly baseUrl: string;
  readonly startedAt: number;
  readonly output: string[];
  stop(): Promise<void>;
}

/**
 * The compiled gateway as a child process on a free port, once `readyPath` answers 200. It runs with the node
 * flags of `npm run start:prod` (START_NODE_FLAGS) unless `nodeFlags` says otherwise.
 */
export async function startServer(
  main: string,
  env: Record<string, string>,
  readyPath = '/healthz',
  node = process.execPath,
  nodeFlags: readonly string[] = START_NODE_FLAGS,
): Promise<Server> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawn(node, [...nodeFlags, main], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (data: Buffer) => output.push(...data.toString('utf8').split('\n').filter(Boolean).slice(-50));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output.slice(-10).join('\n')}`);
    try {
      if ((await fetch(`${baseUrl}${readyPath}`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error('server did not become ready in 15 s');
    await sleep(50);
  }
  return {
    child,
    pid: child.pid!,
    baseUrl,
    startedAt,
    output,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** The load generator process; `run` sends one command and resolves with its result. */
async function startClient(): Promise<{ run(command: LoadCommand): Promise<LoadResult>; stop(): void }> {
  const child = fork(join(__dirname, '..', 'load-client.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`load client exited (${String(code)})`)));
  });
  return {
    run: (command) =>
      new Promise((resolve) => {
        child.once('message', (result: LoadResult) => resolve(result));
        child.send(command);
      }),
    stop: () => {
      if (child.connected) child.send({ type: 'exit' } satisfies LoadCommand);
    },
  };
}

async function measured(
  server: Server,
  client: Awaited<ReturnType<typeof startClient>>,
  command: Exclude<LoadCommand, { type: 'exit' }>,
): Promise<RunSummary> {
  const cpu0 = cpuSeconds(server.pid);
  const result = await client.run(command);
  const cpu = cpuSeconds(server.pid) - cpu0;
  const ok = result.timings.length;
  return {
    sessions: ok,
    failed: result.failed,
    errors: result.errors,
    wallS: result.wallMs / 1000,
    sessionsPerS: ok / (result.wallMs / 1000),
    cpuMsPerSession: (cpu * 1000) / Math.max(1, ok + result.failed),
    serverCores: cpu / (result.wallMs / 1000),
    clientCores: result.clientCpuS / (result.wallMs / 1000),
    create: pick(result.timings, 'create'),
    firstAudio: pick(result.timings, 'firstAudio'),
    firstAudioFromOpen: pick(result.timings, 'firstAudioFromOpen'),
    ...status(server.pid),
  };
}

/** Limits that would otherwise refuse a load generator on one address. */
const UNLIMITED = {
  RATE_LIMIT_SESSIONS_PER_MINUTE: '0',
  MAX_STREAMS_PER_CLIENT: '100000',
  MAX_SESSIONS_PER_CLIENT: '100000000',
  MAX_CONCURRENT_STREAMS: '100000',
  MAX_SESSIONS: '10000000',
};

/** The load scenarios' server: the tone generator alone, no per-client limits. */
const LOAD_ENV = { PROVIDERS: 'mock_tone', ...UNLIMITED };
/** Codec threads started (and LAME compiled) at boot and kept, one per core. */
const THREADS_AT_BOOT = { CODEC_THREADS_AT_BOOT: 'true' };
/** The JIT warm-up before measuring (pcm16 only: no codec thread starts). */
const WARM_UP = { type: 'churn', spec: SHORT_PCM, sessions: 300, concurrency: 20 } as const;
/** 200 MP3 sessions created within 100 ms. */
const MP3_BURST = { type: 'burst', spec: SHORT_MP3, sessions: 200, withinMs: 100 } as const;

/** Unmeasured sessions between the churn on a fresh server and the steady-state churn. */
const STEADY_WARM_UP = 8000;

export interface ServerScenarioOptions {
  readonly main?: string;
  readonly scenarios: ReadonlySet<'idle' | 'ttfa' | 'churn' | 'burst'>;
  readonly churnSessions?: number;
  readonly churnConcurrency?: number;
  readonly log: (message: string) => void;
}

export async function serverScenarios(options: ServerScenarioOptions): Promise<ServerResults> {
  const main = options.main ?? process.env.GATEWAY_MAIN ?? DEFAULT_SERVER_MAIN;
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build:server first`);
  const { scenarios, log } = options;
  const results: { -readonly [K in keyof ServerResults]: ServerResults[K] } = { main };

  if (scenarios.has('idle')) {
    log('server idle RSS (default providers)');
    results.idle = await idle(main);
    log(`  ${results.idle.at3s.toFixed(1)} MiB at 3 s, ${results.idle.at10s.toFixed(1)} MiB at 10 s`);
    log('server idle RSS with CODEC_THREADS_AT_BOOT=true');
    results.idleThreadsAtBoot = await idle(main, undefined, THREADS_AT_BOOT);
    log(
      `  ${results.idleThreadsAtBoot.at3s.toFixed(1)} MiB at 3 s, ${results.idleThreadsAtBoot.at10s.toFixed(1)} MiB at 10 s`,
    );
  }
  const churn = {
    sessions: options.churnSessions ?? 2000,
    concurrency: options.churnConcurrency ?? 50,
  };

  if (['ttfa', 'churn', 'burst'].some((s) => scenarios.has(s as 'ttfa')))
    Object.assign(results, await underLoad({ main, scenarios, churn, log }));
  if (scenarios.has('churn') || scenarios.has('burst'))
    results.justStarted = await justStarted({ main, scenarios, churn, log });
  if (scenarios.has('churn')) results.afterPause = await afterPause({ main, scenarios, churn, log });
  if ((scenarios.has('idle') || scenarios.has('churn')) && existsSync(NODE24)) {
    const version = execFileSync(NODE24, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
    let idleRss: ServerResults['idle'];
    if (scenarios.has('idle')) {
      log(`server idle RSS on Node ${version}`);
      idleRss = await idle(main, NODE24);
      log(`  ${idleRss.at3s.toFixed(1)} MiB at 3 s, ${idleRss.at10s.toFixed(1)} MiB at 10 s`);
    }
    const on24 = (m: string) => log(`Node ${version}: ${m}`);
    const loaded = scenarios.has('churn')
      ? await underLoad({ main, scenarios: new Set(['churn']), churn, log: on24, node: NODE24 })
      : {};
    const started = scenarios.has('churn')
      ? await justStarted({ main, scenarios: new Set(['churn']), churn, log: on24, node: NODE24 })
      : {};
    results.node24 = {
      version,
      idle: idleRss,
      churn: loaded.churn,
      churnSteady: loaded.churnSteady,
      justStartedChurn: started.churn,
    };
  }
  return results;
}

async function idle(
  main: string,
  node?: string,
  env: Record<string, string> = {},
): Promise<NonNullable<ServerResults['idle']>> {
  const server = await startServer(main, env, '/healthz', node);
  await sleep(Math.max(0, server.startedAt + 3000 - performance.now()));
  const at3 = status(server.pid);
  await sleep(Math.max(0, server.startedAt + 10000 - performance.now()));
  const at10 = status(server.pid);
  await server.stop();
  return { at3s: at3.rssMiB, at10s: at10.rssMiB, threads: at3.threads, fileAt3s: at3.fileMiB };
}

/** What a group of server runs needs: the build, which scenarios, the churn's size, where to log, the runtime. */
interface LoadRun {
  readonly main: string;
  readonly scenarios: ReadonlySet<string>;
  readonly churn: { readonly sessions: number; readonly concurrency: number };
  readonly log: (message: string) => void;
  /** Another node binary (Node 24); default: the one running the bench. */
  readonly node?: string;
}

/** Churn and burst, each on a server process that has just become ready (see `ServerResults.justStarted`). */
async function justStarted({
  main,
  scenarios,
  churn,
  log,
  node,
}: LoadRun): Promise<NonNullable<ServerResults['justStarted']>> {
  const results: {
    -readonly [K in keyof NonNullable<ServerResults['justStarted']>]: NonNullable<
      ServerResults['justStarted']
    >[K];
  } = {};
  const client = await startClient();
  try {
    // The load generator's own start-up (its JIT) must not count: it warms up on a throwaway server first.
    const scratch = await startServer(main, LOAD_ENV, '/healthz', node);
    await client.run({ ...WARM_UP, baseUrl: scratch.baseUrl });
    await client.run({ ...MP3_BURST, baseUrl: scratch.baseUrl });
    await scratch.stop();
    const fresh = async <T>(run: (server: Server) => Promise<T>, env = {}): Promise<T> => {
      const server = await startServer(main, { ...LOAD_ENV, ...env }, '/healthz', node);
      try {
        await sleep(1000);
        return await run(server);
      } finally {
        await server.stop();
      }
    };
    if (scenarios.has('churn')) {
      const { sessions, concurrency } = churn;
      log(`churn on a just-started server: its first ${sessions} sessions`);
      const run = await fresh((server) =>
        measured(server, client, {
          type: 'churn',
          baseUrl: server.baseUrl,
          spec: SHORT_PCM,
          sessions,
          concurrency,
        }),
      );
      results.churn = { ...run, concurrency };
      log(
        `  ${run.sessionsPerS.toFixed(0)} sessions/s, ${run.cpuMsPerSession.toFixed(2)} ms server CPU per session`,
      );
    }
    if (scenarios.has('burst')) {
      log('burst on a just-started server: 200 MP3 sessions within 100 ms');
      results.burst = await fresh((server) =>
        measured(server, client, { ...MP3_BURST, baseUrl: server.baseUrl }),
      );
      log(`  first audio p99 ${results.burst.firstAudio.p99.toFixed(0)} ms`);
      log('burst on a just-started server with CODEC_THREADS_AT_BOOT=true');
      results.burstThreadsAtBoot = await fresh(
        (server) => measured(server, client, { ...MP3_BURST, baseUrl: server.baseUrl }),
        THREADS_AT_BOOT,
      );
      log(`  first audio p99 ${results.burstThreadsAtBoot.firstAudio.p99.toFixed(0)} ms`);
      log('burst: 200 MP3 sessions within 100 ms after the warm-up, CODEC_THREADS_AT_BOOT=true');
      results.firstBurstThreadsAtBoot = await fresh(async (server) => {
        await client.run({ ...WARM_UP, baseUrl: server.baseUrl });
        return measured(server, client, { ...MP3_BURST, baseUrl: server.baseUrl });
      }, THREADS_AT_BOOT);
      log(`  first audio p99 ${results.firstBurstThreadsAtBoot.firstAudio.p99.toFixed(0)} ms`);
    }
  } finally {
    client.stop();
  }
  return results;
}

/** Idle time before the after-pause churn: past RESUME_WINDOW_SECONDS (60) and V8's memory-reducer timers. */
const PAUSE_S = 70;

/**
 * Two servers, one as the start command runs it and one with `--no-memory-reducer` added, each warmed up
 * (300 + one churn), then both idle for PAUSE_S, then the churn measured on each. With the memory reducer on,
 * V8 shrinks the heap while the gateway is idle and its limits start low again: the next load pays dozens of
 * full collections while they grow back (--trace-gc: one every 200–300 ms through a 2000-session churn).
 */
async function afterPause({
  main,
  churn,
  log,
  node,
}: LoadRun): Promise<NonNullable<ServerResults['afterPause']>> {
  const { sessions, concurrency } = churn;
  const client = await startClient();
  const plain = await startServer(main, LOAD_ENV, '/healthz', node);
  const flagged = await startServer(main, LOAD_ENV, '/healthz', node, [
    ...START_NODE_FLAGS,
    '--no-memory-reducer',
  ]);
  const command = { type: 'churn', spec: SHORT_PCM, sessions, concurrency } as const;
  try {
    for (const server of [plain, flagged]) {
      await client.run({ ...WARM_UP, baseUrl: server.baseUrl });
      await client.run({ ...command, baseUrl: server.baseUrl });
    }
    log(`churn after ${PAUSE_S} s idle, as started and with --no-memory-reducer`);
    await sleep(PAUSE_S * 1000);
    const rssBefore = { startCommand: status(plain.pid).rssMiB, noMemoryReducer: status(flagged.pid).rssMiB };
    const a = await measured(plain, client, { ...command, baseUrl: plain.baseUrl });
    const b = await measured(flagged, client, { ...command, baseUrl: flagged.baseUrl });
    log(
      `  ${a.cpuMsPerSession.toFixed(2)} ms per session; with --no-memory-reducer ${b.cpuMsPerSession.toFixed(2)} ms`,
    );
    return {
      pauseS: PAUSE_S,
      startCommand: { ...a, concurrency },
      noMemoryReducer: { ...b, concurrency },
      rssBefore,
    };
  } finally {
    client.stop();
    await Promise.all([plain.stop(), flagged.stop()]);
  }
}

type LoadResults = Pick<
  ServerResults,
  'ttfa' | 'ttfaNodeHttp' | 'churn' | 'churnSteady' | 'burstCold' | 'burstWarm'
>;

/** The TTFA, churn and burst scenarios asked for, on one server process (warmed up with 300 sessions). */
async function underLoad({ main, scenarios, churn, log, node }: LoadRun): Promise<LoadResults> {
  const results: { -readonly [K in keyof LoadResults]: LoadResults[K] } = {};
  const server = await startServer(main, LOAD_ENV, '/healthz', node);
  const client = await startClient();
  try {
    const { baseUrl } = server;
    await client.run({ ...WARM_UP, baseUrl });
    if (scenarios.has('ttfa')) {
      log('single-stream TTFA: 50 sequential pcm16 sessions');
      results.ttfa = await measured(server, client, {
        type: 'sequential',
        baseUrl,
        spec: SHORT_PCM,
        sessions: 50,
      });
      log(`  first audio p50 ${results.ttfa.firstAudio.p50.toFixed(1)} ms`);
      results.ttfaNodeHttp = await measured(server, client, {
        type: 'sequential',
        baseUrl,
        spec: SHORT_PCM,
        sessions: 50,
        client: 'node-http',
      });
      log(
        `  with node:http keep-alive: first audio p50 ${results.ttfaNodeHttp.firstAudio.p50.toFixed(1)} ms`,
      );
    }
    if (scenarios.has('churn')) {
      const { sessions, concurrency } = churn;
      log(`churn: ${sessions} "Short reply." sessions (pcm16 16 kHz) at concurrency ${concurrency}`);
      const run = await measured(server, client, {
        type: 'churn',
        baseUrl,
        spec: SHORT_PCM,
        sessions,
        concurrency,
      });
      results.churn = { ...run, concurrency };
      log(
        `  ${run.sessionsPerS.toFixed(0)} sessions/s, ${run.cpuMsPerSession.toFixed(2)} ms server CPU per session, first audio p50 ${run.firstAudio.p50.toFixed(0)} ms`,
      );
      // A server that has run for a while: TurboFan has compiled the request and stream paths (on a fresh
      // server its background compilation is a good part of the CPU above).
      log(`churn again after ${STEADY_WARM_UP} more sessions (steady state)`);
      await client.run({ type: 'churn', baseUrl, spec: SHORT_PCM, sessions: STEADY_WARM_UP, concurrency });
      const steady = await measured(server, client, {
        type: 'churn',
        baseUrl,
        spec: SHORT_PCM,
        sessions,
        concurrency,
      });
      results.churnSteady = { ...steady, concurrency, warmedBy: STEADY_WARM_UP };
      log(
        `  ${steady.sessionsPerS.toFixed(0)} sessions/s, ${steady.cpuMsPerSession.toFixed(2)} ms server CPU per session`,
      );
    }
    if (scenarios.has('burst')) {
      const burst = { ...MP3_BURST, baseUrl };
      log('burst: 200 MP3 sessions within 100 ms, codec threads not started yet');
      results.burstCold = await measured(server, client, burst);
      log(`  first audio p99 ${results.burstCold.firstAudio.p99.toFixed(0)} ms`);
      await sleep(500);
      log('burst: again, codec threads running');
      results.burstWarm = await measured(server, client, burst);
      log(`  first audio p99 ${results.burstWarm.firstAudio.p99.toFixed(0)} ms`);
    }
  } finally {
    client.stop();
    await server.stop();
  }
  return results;
}
