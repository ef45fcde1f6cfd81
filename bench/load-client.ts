/**
 * The load generator for the server scenarios of `npm run bench` (churn, burst, single-stream TTFA). It
 * runs in its own process (forked by bench/lib/server.ts), so its CPU never counts as the server's and
 * its event loop never delays the server's. Each command arrives over the IPC channel and is answered
 * with one result message; the parent reads the server's CPU counters around each command.
 *
 * A session is what a client does: POST /v1/tts/sessions, open the returned ws_url, read JSON frames
 * until `eos`, and the server closes the socket. The POST goes through `fetch`, or for the second
 * single-stream run through node:http with a keep-alive agent: undici's fetch costs the client about half a
 * millisecond per request on this machine, which a single-stream latency otherwise counts as the gateway's.
 */
import { Agent, request } from 'node:http';
import WebSocket from 'ws';

export interface SessionSpec {
  readonly text: string;
  readonly format: string;
  readonly sampleRate: number;
}

export type LoadCommand =
  | {
      readonly type: 'churn';
      readonly baseUrl: string;
      readonly spec: SessionSpec;
      sessions: number;
      concurrency: number;
    }
  | {
      readonly type: 'burst';
      readonly baseUrl: string;
      readonly spec: SessionSpec;
      sessions: number;
      withinMs: number;
    }
  | {
      readonly type: 'sequential';
      readonly baseUrl: string;
      readonly spec: SessionSpec;
      sessions: number;
      /** How the POST is sent: `fetch` (undici, a new request object per call) or node:http keep-alive. */
      readonly client?: HttpClient;
    }
  | { readonly type: 'exit' };

/** Milliseconds, per session. */
export interface SessionTiming {
  /** POST sent → 201 received. */
  readonly create: number;
  /** POST sent → WebSocket open. */
  readonly open: number;
  /** POST sent → first audio frame. */
  readonly firstAudio: number;
  /** WebSocket open → first audio frame. */
  readonly firstAudioFromOpen: number;
  /** POST sent → server closed the socket after eos. */
  readonly done: number;
  readonly audioFrames: number;
}

export interface LoadResult {
  readonly timings: SessionTiming[];
  /** Failed sessions, and up to five distinct reasons. */
  readonly failed: number;
  readonly errors: string[];
  readonly wallMs: number;
  /** CPU seconds of this load generator over the run (it shares the machine with the server). */
  readonly clientCpuS: number;
}

export type HttpClient = 'fetch' | 'node-http';

interface Created {
  readonly status: number;
  readonly body: { ws_url?: string; message?: string };
}

async function createWithFetch(url: string, json: string): Promise<Created> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: json,
  });
  return { status: response.status, body: (await response.json()) as Created['body'] };
}

const keepAlive = new Agent({ keepAlive: true });

function createWithNodeHttp(url: string, json: string): Promise<Created> {
  return new Promise<Created>((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) };
    const req = request(url, { method: 'POST', agent: keepAlive, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (part: string) => (text += part));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Created['body'] });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(json);
  });
}

async function session(
  baseUrl: string,
  spec: SessionSpec,
  client: HttpClient = 'fetch',
): Promise<SessionTiming> {
  const t0 = performance.now();
  const json = JSON.stringify({
    text: spec.text,
    provider: 'mock_tone',
    target_format: spec.format,
    sample_rate_hz: spec.sampleRate,
  });
  const url = `${baseUrl}/v1/tts/sessions`;
  const { status, body } = await (client === 'fetch'
    ? createWithFetch(url, json)
    : createWithNodeHttp(url, json));
  if (status !== 201 || !body.ws_url) throw new Error(`POST ${status}: ${body.message}`);
  const create = performance.now() - t0;
  return new Promise<SessionTiming>((resolve, reject) => {
    const socket = new WebSocket(body.ws_url!);
    let open = Number.NaN;
    let firstAudio = Number.NaN;
    let audioFrames = 0;
    let ended = false;
    socket.on('open', () => (open = performance.now() - t0));
    socket.on('message', (data: Buffer) => {
      // Audio frames are most of the traffic: recognise them by their prefix instead of parsing them.
      if (data.subarray(0, 16).toString('latin1') === '{"type":"audio",') {
        if (audioFrames++ === 0) firstAudio = performance.now() - t0;
        return;
      }
      const message = JSON.parse(data.toString('utf8')) as { type: string; code?: string };
      if (message.type === 'eos') ended = true;
      else if (message.type === 'error') reject(new Error(`stream error ${message.code}`));
    });
    socket.on('error', reject);
    socket.on('close', (code) => {
      if (!ended) return reject(new Error(`socket closed with ${code} before eos`));
      const done = performance.now() - t0;
      resolve({ create, open, firstAudio, firstAudioFromOpen: firstAudio - open, done, audioFrames });
    });
  });
}

async function run(command: Exclude<LoadCommand, { type: 'exit' }>): Promise<LoadResult> {
  const timings: SessionTiming[] = [];
  const errors: string[] = [];
  const one = () =>
    session(command.baseUrl, command.spec, command.type === 'sequential' ? command.client : undefined).then(
      (timing) => void timings.push(timing),
      (error: unknown) => void errors.push(error instanceof Error ? error.message : String(error)),
    );
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  switch (command.type) {
    case 'sequential':
      for (let i = 0; i < command.sessions; i++) await one();
      break;
    case 'churn': {
      let started = 0;
      const worker = async () => {
        while (started < command.sessions) {
          started++;
          await one();
        }
      };
      await Promise.all(Array.from({ length: command.concurrency }, worker));
      break;
    }
    case 'burst': {
      // Every session is created within `withinMs`, evenly spread, then streams on its own.
      const all: Promise<void>[] = [];
      for (let i = 0; i < command.sessions; i++) {
        const at = (i * command.withinMs) / command.sessions;
        all.push(new Promise<void>((resolve) => setTimeout(() => void one().then(resolve), at)));
      }
      await Promise.all(all);
      break;
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const clientCpuS = (cpu.user + cpu.system) / 1e6;
  return { timings, failed: errors.length, errors: [...new Set(errors)].slice(0, 5), wallMs, clientCpuS };
}

if (process.send) {
  process.on('message', (command: LoadCommand) => {
    if (command.type === 'exit') {
      process.disconnect();
      return;
    }
    void run(command).then((result) => process.send!(result));
  });
  process.send({ ready: true });
}
