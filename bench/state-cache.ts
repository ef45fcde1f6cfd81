/**
 * Shared state and audio cache benchmarks (issues 10 and 12), as Markdown sections of docs/BENCHMARKS.md:
 *
 * - **Redis vs in process**: sessions per second and time to first audio of short sessions ("Short reply.",
 *   pcm16 16 kHz, tone generator) against the compiled gateway with in-process state and with REDIS_URL on a
 *   local redis-server, and the Redis round trips each session costs (from `tts_redis_commands_total` and
 *   from redis-server's own INFO commandstats).
 * - **Cache**: a repeated prompt against an OpenAI-compatible fake engine (in this process, named as such;
 *   first byte after 120 ms, audio at 5x real time): time to first audio and engine calls with and without
 *   the cache, and N simultaneous identical requests (single-flight: one engine call).
 *
 *   node -r ts-node/register/transpile-only bench/state-cache.ts [--write]
 *
 * `runStateCacheBenchmark()` and `renderStateCacheSection()` are exported for bench/run.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { freePort, startServer, type Server as GatewayServer } from './lib/server';

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, 'docs', 'BENCHMARKS.md');
const MAIN = join(ROOT, 'dist', 'main.js');
const BEGIN = '<!-- state-cache-bench:begin -->';
const END = '<!-- state-cache-bench:end -->';

interface Summary {
  sessions: number;
  sessionsPerS: number;
  ttfaP50: number;
  ttfaP99: number;
}

export interface StateCacheResults {
  measuredAt: string;
  inProcess: Summary;
  redis?: Summary & { roundTripsPerSession: number; redisCallsPerSession: number };
  redisSkipped?: string;
  cache: {
    withCache: { firstTtfa: number; repeatTtfaP50: number; engineCalls: number; requests: number };
    withoutCache: { ttfaP50: number; engineCalls: number; requests: number };
    singleFlight: { requests: number; engineCalls: number; ttfaP50: number; ttfaP99: number };
  };
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
};

async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out');
}

/** The gateway with the per-client limits lifted, once ready (Redis connected when REDIS_URL is set). */
function gateway(main: string, env: Record<string, string>): Promise<GatewayServer> {
  return startServer(
    main,
    { RATE_LIMIT_SESSIONS_PER_MINUTE: '0', MAX_SESSIONS_PER_CLIENT: '100000', ...env },
    '/readyz',
  );
}

/** POST a session and read it to eos; ms from the POST to the first audio frame. */
async function session(base: string, body: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${base}/v1/tts/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ target_format: 'pcm16', sample_rate_hz: 16000, ...body }),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const { ws_url } = (await res.json()) as { ws_url: string };
  let first = NaN;
  await new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(ws_url);
    ws.on('message', (data: Buffer) => {
      if (Number.isNaN(first) && data.toString('utf8', 0, 16).includes('"audio"'))
        first = performance.now() - started;
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
  return first;
}

async function churn(base: string, sessions: number, concurrency: number): Promise<Summary> {
  const ttfa: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < sessions) {
        next++;
        ttfa.push(await session(base, { text: 'Short reply.', cache: false }));
      }
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  return { sessions, sessionsPerS: sessions / wallS, ttfaP50: pct(ttfa, 50), ttfaP99: pct(ttfa, 99) };
}

async function metricSum(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

function redisCalls(port: number): number {
  const out =
    spawnSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats'], { encoding: 'utf8' }).stdout ?? '';
  return [...out.matchAll(/calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

/** An OpenAI-compatible fake engine (stands in for a remote server): first byte after 120 ms, 5x real time. */
async function fakeEngine(): Promise<{ url: string; calls: Map<string, number>; server: Server }> {
  const calls = new Map<string, number>();
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url?.endsWith('/models')) return res.end('{"data":[{"id":"tts-1"}]}');
      if (!req.url?.endsWith('/audio/speech')) {
        res.statusCode = 404;
        return res.end('{}');
      }
      const input = String(
        (JSON.parse(Buffer.concat(chunks).toString() || '{}') as { input?: string }).input,
      );
      calls.set(input, (calls.get(input) ?? 0) + 1);
      const seconds = 0.06 * input.length;
      const pcm = Buffer.alloc(Math.round(24000 * seconds) * 2);
      for (let i = 0; i < pcm.length / 2; i++) pcm.writeInt16LE(Math.round(6000 * Math.sin(i / 9)), i * 2);
      res.setHeader('content-type', 'audio/pcm');
      let at = 0;
      const step = 4800; // 100 ms of audio every 20 ms
      setTimeout(function send() {
        if (res.destroyed) return;
        res.write(pcm.subarray(at, at + step));
        at += step;
        if (at < pcm.length) setTimeout(send, 20);
        else res.end();
      }, 120);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, calls, server };
}

export async function runStateCacheBenchmark(options: { server?: string } = {}): Promise<StateCacheResults> {
  const main = options.server ?? MAIN;
  const results: Partial<StateCacheResults> = {
    measuredAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  // Redis vs in process.
  const local = await gateway(main, { PROVIDERS: 'mock_tone', CACHE_MAX_BYTES: '0' });
  try {
    await churn(local.baseUrl, 100, 10); // warm-up
    results.inProcess = await churn(local.baseUrl, 1000, 20);
  } finally {
    await local.stop();
  }
  const redisBinary = spawnSync('redis-server', ['--version']).status === 0;
  if (!redisBinary) results.redisSkipped = 'redis-server is not installed';
  else {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    try {
      await waitUntil(
        () => Promise.resolve(spawnSync('redis-cli', ['-p', String(port), 'ping']).status === 0),
        5000,
      );
      const shared = await gateway(main, {
        PROVIDERS: 'mock_tone',
        CACHE_MAX_BYTES: '0',
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      try {
        await churn(shared.baseUrl, 100, 10);
        const before = await metricSum(shared.baseUrl, 'tts_redis_commands_total');
        const callsBefore = redisCalls(port);
        const summary = await churn(shared.baseUrl, 1000, 20);
        const after = await metricSum(shared.baseUrl, 'tts_redis_commands_total');
        const callsAfter = redisCalls(port);
        results.redis = {
          ...summary,
          roundTripsPerSession: (after - before) / summary.sessions,
          redisCallsPerSession: (callsAfter - callsBefore) / summary.sessions,
        };
      } finally {
        await shared.stop();
      }
    } finally {
      redis.kill('SIGTERM');
    }
  }
  // The cache.
  const engine = await fakeEngine();
  try {
    const env = {
      PROVIDERS: 'mock_tone,openai',
      DEFAULT_PROVIDER: 'openai',
      OPENAI_TTS_BASE_URL: engine.url,
    };
    const cached = await gateway(main, { ...env, CACHE_MAX_BYTES: String(64 << 20) });
    try {
      const prompt = 'Please hold, your call is important to us.';
      const ttfa: number[] = [];
      for (let i = 0; i < 10; i++) ttfa.push(await session(cached.baseUrl, { text: prompt }));
      const flight = 'Thank you for waiting, an agent will be with you shortly.';
      const together = await Promise.all(
        Array.from({ length: 20 }, () => session(cached.baseUrl, { text: flight })),
      );
      results.cache = {
        withCache: {
          firstTtfa: ttfa[0],
          repeatTtfaP50: pct(ttfa.slice(1), 50),
          engineCalls: engine.calls.get(prompt) ?? 0,
          requests: 10,
        },
        withoutCache: { ttfaP50: NaN, engineCalls: 0, requests: 10 },
        singleFlight: {
          requests: 20,
          engineCalls: engine.calls.get(flight) ?? 0,
          ttfaP50: pct(together, 50),
          ttfaP99: pct(together, 99),
        },
      };
    } finally {
      await cached.stop();
    }
    const uncached = await gateway(main, { ...env, CACHE_MAX_BYTES: '0' });
    try {
      const prompt = 'Your call will be answered in the order it was received.';
      const ttfa: number[] = [];
      for (let i = 0; i < 10; i++) ttfa.push(await session(uncached.baseUrl, { text: prompt }));
      results.cache.withoutCache = {
        ttfaP50: pct(ttfa, 50),
        engineCalls: engine.calls.get(prompt) ?? 0,
        requests: 10,
      };
    } finally {
      await uncached.stop();
    }
  } finally {
    engine.server.close();
  }
  return results as StateCacheResults;
}

const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

export function renderStateCacheSection(r: StateCacheResults): string {
  const lines = [
    BEGIN,
    '## Shared state: Redis vs in process',
    '',
    `_Measured ${r.measuredAt}: the compiled gateway in its own process, the client here; 1000 short sessions ("Short reply.", pcm16 16 kHz, tone generator, cache off) at concurrency 20 after a warm-up of 100._`,
    '',
    '| state | sessions/s | first audio p50 / p99 (from POST) | Redis round trips per session | Redis commands per session |',
    '|---|---|---|---|---|',
    `| in process | ${f(r.inProcess.sessionsPerS, 0)} | ${f(r.inProcess.ttfaP50)} / ${f(r.inProcess.ttfaP99)} ms | – | – |`,
    r.redis
      ? `| Redis (local redis-server) | ${f(r.redis.sessionsPerS, 0)} | ${f(r.redis.ttfaP50)} / ${f(r.redis.ttfaP99)} ms | ${f(r.redis.roundTripsPerSession)} | ${f(r.redis.redisCallsPerSession)} |`
      : `| Redis | skipped: ${r.redisSkipped ?? 'unknown'} | | | |`,
    '',
    'A round trip is one command or one pipeline (`tts_redis_commands_total`); the commands are what redis-server counted (INFO commandstats, pipelined commands and script calls each count). Per session: the per-client cap check and the insert (two pipelines), the claim (one script), progress and the final status, the mirror of the audio (one pipeline per batch of frames) and its lease.',
    '',
    '## Audio cache',
    '',
    `_Measured ${r.measuredAt} against an OpenAI-compatible fake engine in the bench process (first byte after 120 ms, audio at 5x real time)._`,
    '',
    '| case | requests | engine calls | first audio (from POST) |',
    '|---|---|---|---|',
    `| repeated prompt, cache on | ${r.cache.withCache.requests} | ${r.cache.withCache.engineCalls} | first ${f(r.cache.withCache.firstTtfa)} ms, repeats p50 ${f(r.cache.withCache.repeatTtfaP50)} ms |`,
    `| repeated prompt, cache off | ${r.cache.withoutCache.requests} | ${r.cache.withoutCache.engineCalls} | p50 ${f(r.cache.withoutCache.ttfaP50)} ms |`,
    `| ${r.cache.singleFlight.requests} identical requests at once (single-flight) | ${r.cache.singleFlight.requests} | ${r.cache.singleFlight.engineCalls} | p50 ${f(r.cache.singleFlight.ttfaP50)} / p99 ${f(r.cache.singleFlight.ttfaP99)} ms |`,
    END,
  ];
  return lines.join('\n');
}

export function writeStateCacheSection(section: string, file = OUT): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const next =
    start >= 0 && end > start
      ? text.slice(0, start) + section + text.slice(end + END.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}

if (require.main === module) {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run npm run build first');
  void runStateCacheBenchmark().then((r) => {
    const section = renderStateCacheSection(r);
    console.log(section);
    if (process.argv.includes('--write')) writeStateCacheSection(section);
  });
}
