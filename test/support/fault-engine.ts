import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sweepPcm } from './fake-engines';

/**
 * What the fake does with one `POST /v1/audio/speech`:
 * - `ok`: 24 kHz s16le PCM for the input (40 ms per character), in small timed writes;
 * - `status`: answer `status` (with `retryAfter` and `body`) before any audio;
 * - `hang`: accept and never answer;
 * - `stall`: send `afterBytes` of audio, then nothing (the connection stays open);
 * - `reset`: send `afterBytes` of audio, then reset the connection;
 * - `garbage`: a WAV header claiming 20,000,003 Hz, then noise;
 * - `refuse`: destroy the socket before any answer (as a refused or dropped connection looks).
 */
export type Fault =
  | { kind: 'ok'; paceMs?: number }
  | { kind: 'status'; status: number; retryAfter?: number; body?: string }
  | { kind: 'hang' }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'garbage' }
  | { kind: 'refuse' };

export interface FaultRequest {
  input: string;
  voice: string;
  /** The request's `speed` (undefined when it sent none). */
  speed?: number;
  /** Resolves when the gateway aborted (or finished) this request. */
  closed: Promise<number>;
  startedAt: number;
}

/**
 * A fault-injecting OpenAI-compatible speech server (the documented API, shared/research/tts-apis.md §2.1),
 * standing in for a remote engine we cannot run here: `GET /v1/models`, `GET /v1/audio/voices`, and
 * `POST /v1/audio/speech` answered by a fault chosen per request — the next queued one (`next`), else one
 * picked by the input (`rule`), else `fallback`.
 */
export class FaultEngine {
  readonly requests: FaultRequest[] = [];
  fallback: Fault = { kind: 'ok' };
  /** Chosen by the input text before the queue and the fallback, e.g. text containing "POISON" → 500. */
  rule: ((input: string) => Fault | undefined) | undefined;
  private readonly queue: Fault[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  baseUrl = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  /** The next speech request gets `fault` (queued in order). */
  next(...faults: Fault[]): void {
    this.queue.push(...faults);
  }

  /** Speech requests whose connection is still open. */
  get open(): number {
    return this.requests.filter((r) => (r as FaultRequest & { done?: boolean }).done !== true).length;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (url.pathname === '/v1/models') return json(res, 200, { data: [{ id: 'tts-1' }] });
      if (url.pathname === '/v1/audio/voices') return json(res, 200, { voices: ['af_bella', 'am_adam'] });
      if (url.pathname !== '/v1/audio/speech' || req.method !== 'POST')
        return json(res, 404, { error: 'no' });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        input?: string;
        voice?: string;
        speed?: number;
      };
      const input = String(body.input ?? '');
      let resolveClosed: (ms: number) => void = () => undefined;
      const record: FaultRequest & { done?: boolean } = {
        input,
        voice: String(body.voice ?? ''),
        ...(typeof body.speed === 'number' ? { speed: body.speed } : {}),
        startedAt: performance.now(),
        closed: new Promise((resolve) => (resolveClosed = resolve)),
      };
      res.on('close', () => {
        record.done = true;
        resolveClosed(performance.now());
      });
      this.requests.push(record);
      const fault = this.rule?.(input) ?? this.queue.shift() ?? this.fallback;
      this.answer(fault, input, req, res);
    });
  }

  private answer(fault: Fault, input: string, req: IncomingMessage, res: ServerResponse): void {
    const pcm = sweepPcm(24000, Math.max(0.2, 0.04 * input.length));
    switch (fault.kind) {
      case 'ok':
        return void this.sendPcm(res, pcm, pcm.length, fault.paceMs ?? 0);
      case 'status':
        if (fault.retryAfter !== undefined) res.setHeader('retry-after', String(fault.retryAfter));
        return json(res, fault.status, { error: { message: fault.body ?? `fake failure ${fault.status}` } });
      case 'hang':
        return;
      case 'refuse':
        req.socket.destroy();
        return;
      case 'stall':
        return void this.sendPcm(res, pcm, fault.afterBytes, 0).then(() => undefined);
      case 'reset':
        return void this.sendPcm(res, pcm, fault.afterBytes, 0).then(() => req.socket.resetAndDestroy());
      case 'garbage': {
        res.setHeader('content-type', 'audio/wav');
        const header = Buffer.alloc(44);
        header.write('RIFF', 0);
        header.writeUInt32LE(0xffffffff, 4);
        header.write('WAVEfmt ', 8);
        header.writeUInt32LE(16, 16);
        header.writeUInt16LE(1, 20);
        header.writeUInt16LE(1, 22);
        header.writeUInt32LE(20_000_003, 24);
        header.writeUInt32LE(40_000_006, 28);
        header.writeUInt16LE(2, 32);
        header.writeUInt16LE(16, 34);
        header.write('data', 36);
        header.writeUInt32LE(0xffffffff, 40);
        res.write(header);
        return void res.end(Buffer.alloc(48000, 7));
      }
    }
  }

  /** Writes `limit` bytes of `pcm` in 4800-byte pieces (100 ms), `paceMs` apart; ends only if all sent. */
  private async sendPcm(res: ServerResponse, pcm: Buffer, limit: number, paceMs: number): Promise<void> {
    res.setHeader('content-type', 'audio/pcm');
    res.flushHeaders();
    for (let at = 0; at < Math.min(limit, pcm.length); at += 4800) {
      if (res.destroyed) return;
      res.write(pcm.subarray(at, Math.min(at + 4800, limit, pcm.length)));
      if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
      else await new Promise((r) => setImmediate(r));
    }
    if (limit >= pcm.length) res.end();
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}
