import type { PinoLogger } from 'nestjs-pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { WebSocket, type RawData } from 'ws';
import { sleep } from '../common/abort';
import { ErrorCode, wsCloseCodeOf } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import type { StreamingConfig } from '../config/configuration';
import type { Session } from '../sessions/session.model';
import type { SessionsService } from '../sessions/sessions.service';
import type { StreamRegistry } from '../sessions/stream-registry';
import type { TtsService } from './tts.service';

export interface StreamMetrics {
  activeStreams: Gauge<string>;
  streamsTotal: Counter<string>;
  streamBytes: Counter<string>;
  timeToFirstAudio: Histogram<string>;
}

export interface StreamDeps {
  sessions: SessionsService;
  tts: TtsService;
  streams: StreamRegistry;
  config: StreamingConfig;
  maxConcurrentStreams: number;
  metrics: StreamMetrics;
  logger: PinoLogger;
}

/** How long a closing socket may take to finish its handshake before we drop it. */
const CLOSE_GRACE_MS = 2000;
/** Poll interval while waiting for a slow client's send buffer to drain. */
const DRAIN_POLL_MS = 20;

type Outcome = 'completed' | 'failed' | 'cancelled' | 'disconnected';

/**
 * One client socket streaming one session. Holds the per-stream state (seq, counters, timers), so the
 * gateway singleton holds none.
 *
 * Wire protocol (CONTRACT.md): `audio` frames with seq 1, 2, ... (or raw binary frames with `?binary=1`),
 * then `eos` and close 1000; or an `error` frame with a stable code and close 4000+status. Client → server:
 * `{"type":"cancel"}`. Anything else gets a `warning` frame (not fatal: the stream goes on).
 */
export class AudioStreamConnection {
  private readonly abort = new AbortController();
  private readonly startedAt = performance.now();
  private seq = 0;
  private bytes = 0;
  private audioMs = 0;
  private ttfaMs: number | undefined;
  private servedBy: string | undefined;
  private alive = true;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly sessionId: string,
    private readonly binary: boolean,
    private readonly deps: StreamDeps,
  ) {}

  async run(): Promise<void> {
    this.socket.on('close', () => this.abort.abort(new ClientGone()));
    this.socket.on('message', (data, isBinary) => this.onClientMessage(data, isBinary));
    this.socket.on('pong', () => (this.alive = true));
    this.heartbeat = setInterval(() => this.ping(), this.deps.config.pingIntervalMs);

    let session: Session | undefined;
    try {
      session = await this.claim();
      await this.stream(session);
    } catch (error) {
      this.fail(session, error);
    } finally {
      clearInterval(this.heartbeat);
    }
  }

  /** Finds the session and marks it streaming, or explains (error frame) why it cannot stream. */
  private async claim(): Promise<Session> {
    const session = await this.deps.sessions.get(this.sessionId);
    if (this.deps.streams.size >= this.deps.maxConcurrentStreams) {
      throw new GatewayException(
        ErrorCode.TooManyStreams,
        `this gateway is streaming its maximum of ${this.deps.maxConcurrentStreams} sessions; retry shortly`,
        { retryAfterSeconds: 1 },
      );
    }
    const claimed = await this.deps.sessions.claimForStreaming(session.id);
    if (claimed) return claimed;
    const now = await this.deps.sessions.get(this.sessionId);
    if (now.status === 'cancelled')
      throw new GatewayException(ErrorCode.Cancelled, 'the session was cancelled');
    throw new GatewayException(
      ErrorCode.SessionAlreadyStreamed,
      `session ${now.id} is ${now.status}; each session streams once (fetch GET /v1/tts/sessions/${now.id}/file for the audio again, or create a new session)`,
    );
  }

  private async stream(session: Session): Promise<void> {
    const { sessions, tts, streams, metrics } = this.deps;
    const labels = { provider: session.provider, format: session.targetFormat };
    streams.register(session.id, this.abort);
    metrics.activeStreams.inc();
    let outcome: Outcome = 'failed';
    try {
      const plan = await sessions.planFor(session);
      for await (const audio of tts.synthesize(plan, this.abort.signal)) {
        await this.waitForRoom();
        this.seq += 1;
        this.send(audio.data);
        this.bytes += audio.data.length;
        this.audioMs = audio.audioMs;
        this.servedBy = audio.providerId;
        metrics.streamBytes.inc({ format: session.targetFormat }, audio.data.length);
        if (this.ttfaMs === undefined) {
          this.ttfaMs = performance.now() - this.startedAt;
          metrics.timeToFirstAudio.observe(labels, this.ttfaMs / 1000);
        }
        if (this.seq % 25 === 0) void this.saveProgress();
      }
      this.abort.signal.throwIfAborted();
      this.sendJson({
        type: 'eos',
        chunks: this.seq,
        bytes: this.bytes,
        audio_duration_ms: Math.round(this.audioMs),
        time_to_first_audio_ms: this.ttfaMs === undefined ? null : Math.round(this.ttfaMs),
      });
      this.socket.close(1000, 'eos');
      outcome = 'completed';
      await sessions.finish(session.id, 'completed', this.counters());
    } catch (error) {
      outcome = this.abort.signal.reason instanceof ClientGone ? 'disconnected' : this.outcomeOf(error);
      throw error;
    } finally {
      streams.unregister(session.id, this.abort);
      metrics.activeStreams.dec();
      metrics.streamsTotal.inc({ ...labels, outcome });
      this.deps.logger.info(
        {
          sessionId: session.id,
          provider: session.provider,
          servedBy: this.servedBy,
          voice: session.voice,
          format: session.targetFormat,
          sampleRateHz: session.sampleRateHz,
          binary: this.binary,
          outcome,
          chunks: this.seq,
          bytes: this.bytes,
          audioMs: Math.round(this.audioMs),
          timeToFirstAudioMs: this.ttfaMs === undefined ? undefined : Math.round(this.ttfaMs),
          durationMs: Math.round(performance.now() - this.startedAt),
          textChars: session.text.length,
        },
        'stream ended',
      );
    }
  }

  private fail(session: Session | undefined, error: unknown): void {
    const reason: unknown = this.abort.signal.aborted ? this.abort.signal.reason : error;
    if (reason instanceof ClientGone) {
      if (session)
        void this.deps.sessions.finish(session.id, 'cancelled', {
          ...this.counters(),
          error: {
            code: ErrorCode.Cancelled,
            message: 'the client disconnected before the end of the stream',
          },
        });
      return;
    }
    const exception = toGatewayException(reason);
    if (exception.code === ErrorCode.InternalError) {
      this.deps.logger.error({ sessionId: this.sessionId, err: reason }, 'stream failed');
    }
    if (session) {
      const status = exception.code === ErrorCode.Cancelled ? 'cancelled' : 'failed';
      void this.deps.sessions.finish(session.id, status, {
        ...this.counters(),
        error: { code: exception.code, message: exception.message },
      });
    }
    this.sendJson({ type: 'error', code: exception.code, message: exception.message });
    this.close(wsCloseCodeOf(exception.code), exception.code);
  }

  /**
   * Backpressure: while the socket holds more than the high-water mark, do not pull more audio (the pipeline
   * is pull-based, so the provider pauses too). A client that stays stalled past the limit is dropped.
   */
  private async waitForRoom(): Promise<void> {
    const { sendHighWaterBytes, stallTimeoutMs } = this.deps.config;
    if (this.socket.bufferedAmount <= sendHighWaterBytes) return;
    const deadline = performance.now() + stallTimeoutMs;
    while (this.socket.bufferedAmount > sendHighWaterBytes) {
      if (performance.now() > deadline) {
        throw new GatewayException(
          ErrorCode.SlowConsumer,
          `the client read no audio for ${stallTimeoutMs} ms with ${this.socket.bufferedAmount} bytes waiting; closing`,
        );
      }
      await sleep(DRAIN_POLL_MS, this.abort.signal);
    }
  }

  private send(data: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    if (this.binary) this.socket.send(data, { binary: true });
    else {
      const base64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
      this.socket.send(`{"type":"audio","seq":${this.seq},"data":"${base64}"}`);
    }
  }

  private sendJson(message: Record<string, unknown>): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /** Close with a handshake, but never wait on a client that stopped reading. */
  private close(code: number, reason: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  private onClientMessage(data: RawData, isBinary: boolean): void {
    const text = isBinary ? undefined : rawToString(data);
    let message: unknown;
    try {
      message = text === undefined ? undefined : JSON.parse(text);
    } catch {
      message = undefined;
    }
    const type =
      typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
    if (type === 'cancel') {
      this.abort.abort(new GatewayException(ErrorCode.Cancelled, 'the client cancelled the stream'));
      return;
    }
    this.sendJson({
      type: 'warning',
      code: ErrorCode.BadMessage,
      message:
        type === undefined
          ? 'messages must be JSON objects with a "type"; the only client message is {"type":"cancel"}'
          : `unknown message type ${JSON.stringify(type)}; the only client message is {"type":"cancel"}`,
    });
  }

  /** Heartbeat: a client that has not answered the previous ping is gone (half-open TCP); free its stream. */
  private ping(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping();
  }

  private outcomeOf(error: unknown): Outcome {
    const reason: unknown = this.abort.signal.aborted ? this.abort.signal.reason : error;
    return toGatewayException(reason).code === ErrorCode.Cancelled ? 'cancelled' : 'failed';
  }

  private counters() {
    return {
      chunksSent: this.seq,
      bytesSent: this.bytes,
      audioMs: this.audioMs,
      timeToFirstAudioMs: this.ttfaMs === undefined ? undefined : Math.round(this.ttfaMs),
      servedBy: this.servedBy as Session['servedBy'],
    };
  }

  private async saveProgress(): Promise<void> {
    await this.deps.sessions.recordProgress(this.sessionId, this.counters()).catch(() => undefined);
  }
}

/** Abort reason when the socket closed under us: nothing can be sent any more. */
class ClientGone extends Error {
  constructor() {
    super('client disconnected');
    this.name = 'ClientGone';
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
