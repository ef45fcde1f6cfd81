/**
 * Live text input benchmark (`WS /v1/tts/live`, issue 11): how soon audio follows text that arrives at a
 * language model's pace, per provider, and how fast a barge-in (`clear`) is acknowledged.
 *
 *   node -r ts-node/register/transpile-only bench/live.ts              print the Markdown section
 *   node -r ts-node/register/transpile-only bench/live.ts --write      and put it in docs/BENCHMARKS.md
 *   ... bench/live.ts --server dist/main.js                            the compiled server (default: src/)
 *   ... bench/live.ts --runs 20 --clears 300                           more samples
 *
 * The gateway runs as a child process (its event loop is not the client's); the client and an
 * OpenAI-compatible fake engine (named as such in the report) run here. For each provider:
 * - engine: one session with the first sentence alone, time from the socket's open to its first audio
 *   frame and to its eos (the engine's single-sentence time, through the same gateway);
 * - live: the reply fed token by token at 30 tokens/s; time from sending the token that completes the first
 *   sentence (the one after its period: a sentence is complete only once text after it shows it ended) to
 *   the first audio frame; without and with `timings=words` (estimated timings render the whole sentence
 *   before its first frame).
 * Then clear → cleared over espeak while audio streams, many times.
 *
 * `runLiveBenchmark()` is exported for bench/run.ts; `renderLiveSection()` gives the Markdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { START_NODE_FLAGS } from '../test/support/start-command';

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, 'docs', 'BENCHMARKS.md');
const BEGIN = '<!-- live-bench:begin -->';
const END = '<!-- live-bench:end -->';

/** An LLM's pace. */
const TOKENS_PER_SECOND = 30;
const REPLY =
  'Sure, I can help you with that right away. The basic plan costs $29.99 per month and includes support. ' +
  'Would you like me to sign you up today?';
const FIRST_SENTENCE = 'Sure, I can help you with that right away.';
/** The fake OpenAI-compatible engine: first byte after this, then audio at FAKE_SPEED × real time. */
const FAKE_FIRST_BYTE_MS = 120;
const FAKE_SPEED = 5;
const PROVIDERS = ['mock_tone', 'espeak', 'openai'] as const;

export interface Spread {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly n: number;
}

export interface LiveProviderResult {
  readonly provider: string;
  /** Session stream of the first sentence alone: open → first audio, open → eos. */
  readonly engineFirstAudioMs: Spread;
  readonly engineSentenceMs: Spread;
  /** Live: token completing the first sentence → first audio frame. */
  readonly liveFirstAudioMs: Spread;
  readonly liveFirstAudioWithTimingsMs: Spread;
}

export interface LiveBenchResults {
  readonly when: string;
  readonly machine: string;
  readonly server: string;
  readonly tokensPerSecond: number;
  readonly providers: LiveProviderResult[];
  readonly clear: Spread;
}

export interface LiveBenchOptions {
  /** Server entry: a compiled main.js, or undefined for src/main.ts through ts-node. */
  server?: string;
  runs?: number;
  clears?: number;
  log?: (message: string) => void;
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p90: at(90), p99: at(99), n: sorted.length };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** LLM-like tokens: words with their leading space, punctuation on its own. */
function tokens(text: string): string[] {
  return text.match(/\s*[\p{L}\p{N}'’$]+|\s*[^\s\p{L}\p{N}]/gu) ?? [];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A fake OpenAI-compatible speech server standing in for a remote engine (Kokoro-FastAPI and the like):
 * `POST /v1/audio/speech` answers 24 kHz s16le after FAKE_FIRST_BYTE_MS, 60 ms of audio per character,
 * streamed at FAKE_SPEED × real time in 100 ms pieces.
 */
async function startFakeEngine(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      if (url.endsWith('/audio/voices')) return void res.end(JSON.stringify({ voices: ['af_bella'] }));
      if (url.endsWith('/models')) return void res.end(JSON.stringify({ data: [{ id: 'tts-1' }] }));
      if (!url.endsWith('/audio/speech')) return void res.writeHead(404).end();
      const input = String(
        (JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { input?: string }).input ?? '',
      );
      const samples = Math.round(24000 * 0.06 * Math.max(4, input.length));
      const pcm = Buffer.alloc(samples * 2);
      for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin(i / 7)), i * 2);
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      const piece = 4800; // 100 ms
      let at = 0;
      const next = () => {
        if (res.destroyed) return;
        if (at >= pcm.length) return void res.end();
        res.write(pcm.subarray(at, at + piece));
        at += piece;
        setTimeout(next, 100 / FAKE_SPEED);
      };
      setTimeout(next, FAKE_FIRST_BYTE_MS);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function startGateway(server: string | undefined, env: Record<string, string>) {
  const port = await freePort();
  const args = server
    ? [...START_NODE_FLAGS, server]
    : ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src', 'main.ts')];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the gateway exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Resolves with the socket once open; frames are handed to `onFrame` with their arrival time. */
function connect(url: string, onFrame: (message: any, at: number) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('message', (data: Buffer, binary) => {
      const at = performance.now();
      onFrame(binary ? { type: 'audio' } : JSON.parse(data.toString('utf8')), at);
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The engine's single-sentence time through the session stream: open → first audio, open → eos. */
async function engineSentence(baseUrl: string, provider: string): Promise<{ first: number; whole: number }> {
  const created = await fetch(`${baseUrl}/v1/tts/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: FIRST_SENTENCE, provider, target_format: 'pcm16', sample_rate_hz: 16000 }),
  });
  if (created.status !== 201)
    throw new Error(`session for ${provider}: ${created.status} ${await created.text()}`);
  const { ws_url } = (await created.json()) as { ws_url: string };
  let openedAt = 0;
  let first = NaN;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(ws_url);
    ws.once('open', () => (openedAt = performance.now()));
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { type: string };
      const at = performance.now();
      if (message.type === 'audio' && Number.isNaN(first)) first = at - openedAt;
      if (message.type === 'eos') {
        ws.close();
        resolve({ first, whole: at - openedAt });
      }
      if (message.type === 'error') reject(new Error(JSON.stringify(message)));
    });
    ws.once('error', reject);
  });
}

/** Feeds the reply at an LLM's pace; ms from the token completing the first sentence to the first audio. */
async function liveFirstAudio(wsUrl: string, provider: string, timings: boolean): Promise<number> {
  let firstAudioAt = NaN;
  let ended: () => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    ended = resolve;
    failed = reject;
  });
  const query = `provider=${provider}&target_format=pcm16&sample_rate_hz=16000${timings ? '&timings=words' : ''}`;
  const ws = await connect(`${wsUrl}/v1/tts/live?${query}`, (message, at) => {
    if (message.type === 'audio' && Number.isNaN(firstAudioAt)) firstAudioAt = at;
    if (message.type === 'eos') ended();
    if (message.type === 'error') failed(new Error(JSON.stringify(message)));
  });
  const parts = tokens(REPLY);
  const completing = parts.findIndex((t) => t.includes('.')) + 1;
  let completedAt = NaN;
  for (const [i, token] of parts.entries()) {
    const at = performance.now();
    ws.send(JSON.stringify({ type: 'text', text: token }));
    if (i === completing) completedAt = at;
    await sleep(1000 / TOKENS_PER_SECOND);
  }
  ws.send(JSON.stringify({ type: 'end' }));
  await done;
  ws.close();
  return firstAudioAt - completedAt;
}

/** clear → cleared while espeak audio streams, `count` times on one socket (a new context each time). */
async function clearLatency(wsUrl: string, count: number): Promise<number[]> {
  const waiters = new Map<string, (at: number) => void>();
  const ws = await connect(`${wsUrl}/v1/tts/live?provider=espeak&target_format=pcm16`, (message, at) => {
    const key = `${message.type}:${message.context_id}`;
    waiters.get(key)?.(at);
    waiters.delete(key);
  });
  const next = (type: string, id: string) =>
    new Promise<number>((resolve) => waiters.set(`${type}:${id}`, resolve));
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = `turn-${i}`;
    const audio = next('audio', id);
    ws.send(JSON.stringify({ type: 'text', context_id: id, text: `${REPLY} ${REPLY} ` }));
    await audio;
    const cleared = next('cleared', id);
    const sentAt = performance.now();
    ws.send(JSON.stringify({ type: 'clear', context_id: id }));
    latencies.push((await cleared) - sentAt);
  }
  ws.close();
  return latencies;
}

export async function runLiveBenchmark(options: LiveBenchOptions = {}): Promise<LiveBenchResults> {
  const runs = options.runs ?? 10;
  const clears = options.clears ?? 200;
  const log = options.log ?? ((m: string) => console.error(`[live bench] ${m}`));
  const engine = await startFakeEngine();
  const gateway = await startGateway(options.server, {
    PROVIDERS: 'mock_tone,espeak,openai',
    OPENAI_TTS_BASE_URL: engine.baseUrl,
    RATE_LIMIT_SESSIONS_PER_MINUTE: '0',
    LIVE_CHARS_PER_MINUTE: '0',
    MAX_STREAMS_PER_CLIENT: '1000',
    // Every run repeats the same sentences: measured against the engines, not the audio cache.
    CACHE_MAX_BYTES: '0',
  });
  try {
    const providers: LiveProviderResult[] = [];
    for (const provider of PROVIDERS) {
      log(`${provider}: warm-up`);
      await engineSentence(gateway.baseUrl, provider);
      await liveFirstAudio(gateway.wsUrl, provider, false);
      const first: number[] = [];
      const whole: number[] = [];
      const live: number[] = [];
      const liveTimings: number[] = [];
      for (let i = 0; i < runs; i++) {
        const e = await engineSentence(gateway.baseUrl, provider);
        first.push(e.first);
        whole.push(e.whole);
        live.push(await liveFirstAudio(gateway.wsUrl, provider, false));
        liveTimings.push(await liveFirstAudio(gateway.wsUrl, provider, true));
      }
      providers.push({
        provider,
        engineFirstAudioMs: spread(first),
        engineSentenceMs: spread(whole),
        liveFirstAudioMs: spread(live),
        liveFirstAudioWithTimingsMs: spread(liveTimings),
      });
      log(`${provider}: live first audio p50 ${spread(live).p50.toFixed(1)} ms`);
    }
    log(`clear → cleared over espeak, ${clears} times`);
    const clear = spread(await clearLatency(gateway.wsUrl, clears));
    log(`clear p50 ${clear.p50.toFixed(2)} ms, p99 ${clear.p99.toFixed(2)} ms`);
    return {
      when: new Date().toISOString(),
      machine: `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.versions.node}`,
      server: options.server ?? 'src/main.ts (ts-node, transpile only)',
      tokensPerSecond: TOKENS_PER_SECOND,
      providers,
      clear,
    };
  } finally {
    await gateway.stop();
    await engine.close();
  }
}

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
const cell = (s: Spread) => `${ms(s.p50)} / ${ms(s.p90)}`;

export function renderLiveSection(r: LiveBenchResults): string {
  const rows = r.providers.map(
    (p) =>
      `| ${p.provider === 'openai' ? 'openai (fake engine¹)' : p.provider} | ${cell(p.engineFirstAudioMs)} | ${cell(p.engineSentenceMs)} | ${cell(p.liveFirstAudioMs)} | ${cell(p.liveFirstAudioWithTimingsMs)} |`,
  );
  return [
    BEGIN,
    '## Live text input (`WS /v1/tts/live`)',
    '',
    `\`bench/live.ts\`, ${r.when.slice(0, 10)}, ${r.machine}; server ${r.server} in its own process. A reply is fed`,
    `token by token at ${r.tokensPerSecond} tokens/s; a sentence is complete once the token after its period`,
    'arrives ("$29." waits for what follows). Times in ms, p50 / p90 over ' +
      `${r.providers[0]?.liveFirstAudioMs.n ?? 0} runs, pcm16 at 16 kHz.`,
    '',
    '| provider | engine: first audio of the sentence alone | engine: whole sentence | live: first audio after the first sentence is complete | live with `timings=words` |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Engine columns: a session with the first sentence alone (open → first audio frame, open → eos), the',
    "engine's single-sentence time through the same gateway. With `timings=words`, engines without native",
    'timings render the whole sentence before its first frame (the estimate is fitted to its audio), so that',
    'column follows the whole-sentence time; the tone generator has native timings and streams at once.',
    `¹ An in-bench OpenAI-compatible fake: first byte after ${FAKE_FIRST_BYTE_MS} ms, then audio at ${FAKE_SPEED}× real time.`,
    '',
    `Barge-in: \`clear\` → \`cleared\` over espeak while its audio streams, ${r.clear.n} clears: p50 ${ms(r.clear.p50)} ms,`,
    `p90 ${ms(r.clear.p90)} ms, p99 ${ms(r.clear.p99)} ms (measured at the client; no audio of a context follows its \`cleared\`).`,
    END,
  ].join('\n');
}

/** Replaces the section between its markers in docs/BENCHMARKS.md, or appends it. */
export function writeLiveSection(section: string, file = OUT): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const next =
    begin >= 0 && end > begin
      ? `${current.slice(0, begin)}${section}${current.slice(end + END.length)}`
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  runLiveBenchmark({
    server: value('--server'),
    runs: value('--runs') ? Number(value('--runs')) : undefined,
    clears: value('--clears') ? Number(value('--clears')) : undefined,
  })
    .then((results) => {
      const section = renderLiveSection(results);
      console.log(section);
      if (args.includes('--write')) writeLiveSection(section);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
