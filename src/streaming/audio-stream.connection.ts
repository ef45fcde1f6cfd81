import type { Socket } from 'node:net';
import type { PinoLogger } from 'nestjs-pino';
import type { Counter } from 'prom-client';
import { WebSocket, type RawData } from 'ws';
import { sleep } from '../common/abort';
import { ErrorCode, wsCloseCodeOf } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import type { StreamingConfig } from '../config/configuration';
import type { Session } from '../sessions/session.model';
import type { SessionStreams, SessionStream, StreamReader } from '../sessions/session-streams';
import type { SessionsService } from '../sessions/sessions.service';
import type { ReplayCursor, StreamEvent } from '../synthesis/replay/replay-log';
import type { ReplayStore } from '../synthesis/replay/replay-store';
import { MessageBudget } from './message-budget';

export interface StreamDeps {
  sessions: SessionsService;
  streams: SessionStreams;
  replay: ReplayStore;
  config: StreamingConfig;
  metrics: { resumes: Counter<string>; rejectedMessages: Counter<string> };
  logger: PinoLogger;
}

export interface StreamRequest {
  sessionId: string;
  binary: boolean;
  /** `?from_seq=N` as given (validated here), or undefined for a first connection. */
  fromSeq?: string;
  /** Who connected (set by the adapter); with API keys, only the session's owner may stream it. */
  callerId?: string;
  /** `?timings=words`: word timings before the audio they cover. */
  timings?: boolean;
  /**
   * The TCP socket under the WebSocket (the upgrade request's). When given, the frames sent in one turn of
   * the event loop (audio ready together, the last frame and `eos`, the close frame) leave in one write.
   */
  transport?: Pick<Socket, 'cork' | 'uncork'>;
}

/** How long a closing socket may take to finish its handshake before we drop it. */
const CLOSE_GRACE_MS = 2000;
/** Poll interval while waiting for a slow client's send buffer to drain. */
const DRAIN_POLL_MS = 20;

/**
 * One client socket reading one session stream. The synthesis itself runs in a `SessionStream` (it goes on,
 * bounded, if this socket drops); this class relays the session's replay log to the socket: audio frames
 * with their seq (or raw binary frames with `?binary=1`), `provider_switched` notices, then `eos` and close
 * 1000, or an `error` frame and close 4000+status.
 *
 * `?from_seq=N` resumes: frames N.. exactly once, then the live rest. A second socket with `from_seq` takes
 * over and this one gets `superseded` (4409). Client → server: `{"type":"cancel"}`; anything else gets a
 * rate-limited `warning`, and a client that floods messages is closed with `policy_violation`.
 */
export class AudioStreamConnection implements StreamReader {
  /** Stops this socket's relay loop (not the synthesis). */
  private readonly reading = new AbortController();
  private stream: SessionStream | undefined;
  private cursor: ReplayCursor | undefined;
  private alive = true;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly budget: MessageBudget;
  private corked = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly request: StreamRequest,
    private readonly deps: StreamDeps,
  ) {
    this.budget = new MessageBudget(deps.config.clientMessagesPerSecond);
  }

  async run(): Promise<void> {
    this.socket.on('close', () => this.reading.abort(new ClientGone()));
    this.socket.on('message', (data, isBinary) => this.onClientMessage(data, isBinary));
    this.socket.on('pong', () => (this.alive = true));
    this.heartbeat = setInterval(() => this.ping(), this.deps.config.pingIntervalMs);
    try {
      this.cursor = await this.open();
      await this.relay(this.cursor);
    } catch (error) {
      this.fail(error);
    } finally {
      clearInterval(this.heartbeat);
      if (this.cursor) {
        this.stream?.log.detach(this.cursor);
        this.deps.streams.unfollow(this.request.sessionId, this);
      }
    }
  }

  /** Another socket resumed this session: this one ends with `superseded`. */
  supersede(): void {
    this.reading.abort(
      new GatewayException(
        ErrorCode.Superseded,
        'another connection resumed this session; this one is closed',
      ),
    );
  }

  /** Where this socket starts reading: a new stream (claim), a resume, or why neither is possible. */
  private async open(): Promise<ReplayCursor> {
    const fromSeq = this.parseFromSeq();
    const session = await this.deps.sessions.get(this.request.sessionId, this.request.callerId);
    if (session.status === 'pending' && (fromSeq === undefined || fromSeq === 1)) return this.start(session);
    if (fromSeq === undefined) throw this.whyNotStreamable(session);
    return this.resume(session, fromSeq);
  }

  private async start(session: Session): Promise<ReplayCursor> {
    const claimed = await this.deps.sessions.claimForStreaming(session.id);
    if (!claimed) throw this.whyNotStreamable(await this.deps.sessions.get(session.id));
    const plan = await this.deps.sessions.planFor(claimed, { timings: this.request.timings });
    this.stream = await this.deps.streams.start(claimed, plan, { binary: this.request.binary });
    this.deps.streams.follow(session.id, this, false);
    const cursor = await this.stream.log.open(1);
    if (typeof cursor === 'string')
      throw new GatewayException(ErrorCode.InternalError, 'a new stream has no start');
    return cursor;
  }

  private async resume(session: Session, fromSeq: number): Promise<ReplayCursor> {
    const { resumes } = this.deps.metrics;
    if (session.status === 'pending') {
      resumes.inc({ outcome: 'invalid' });
      throw invalidFromSeq(
        `session ${session.id} has not streamed yet; connect without from_seq (or from_seq=1)`,
      );
    }
    const running = this.deps.streams.get(session.id);
    const log = running?.log ?? (await this.deps.replay.get(session.id));
    if (!log || session.purged) {
      resumes.inc({ outcome: 'unavailable' });
      throw new GatewayException(
        ErrorCode.ResumeUnavailable,
        `session ${session.id} can no longer be resumed: its audio is kept for ${this.deps.config.resumeWindowSeconds} s (RESUME_WINDOW_SECONDS) after the stream ended or the client left, within RESUME_RETAINED_BYTES for all ended streams (the oldest are freed first)`,
      );
    }
    let cursor: Awaited<ReturnType<typeof log.open>>;
    try {
      cursor = await log.open(fromSeq);
    } catch (error) {
      // With Redis, a resume of another replica's stream can find its producer gone (stream_lost) or its
      // copy in Redis incomplete (resume_unavailable).
      if (error instanceof GatewayException)
        resumes.inc({ outcome: error.code === ErrorCode.StreamLost ? 'lost' : 'unavailable' });
      throw error;
    }
    if (cursor === 'beyond_end') {
      resumes.inc({ outcome: 'invalid' });
      throw invalidFromSeq(
        `from_seq ${fromSeq} is past the last audio frame (${log.lastSeq}${log.finished ? ', the stream has ended' : ' so far'})`,
      );
    }
    if (cursor === 'trimmed') {
      resumes.inc({ outcome: 'unavailable' });
      throw new GatewayException(
        ErrorCode.ResumeUnavailable,
        `frame ${fromSeq} is no longer held: the oldest retained frame is ${log.oldestSeq} (RESUME_BUFFER_BYTES bounds the replay buffer)`,
      );
    }
    resumes.inc({ outcome: 'resumed' });
    this.stream = running;
    this.deps.streams.follow(session.id, this, true);
    return cursor;
  }

  /** Sends what the log holds and what the synthesis adds, as the socket has room for it. */
  private async relay(cursor: ReplayCursor): Promise<void> {
    const signal = this.reading.signal;
    for (;;) {
      const event = await cursor.next(signal);
      if (!event)
        throw new GatewayException(ErrorCode.ResumeUnavailable, 'the stream is no longer available');
      if (event.kind === 'audio') {
        await this.waitForRoom();
        this.sendAudio(event);
        this.stream?.delivered(event);
        continue;
      }
      if (event.kind === 'switch') {
        this.sendJson({
          type: 'provider_switched',
          from: event.from,
          to: event.to,
          seq: event.seq,
          text_offset: event.textOffset,
        });
        continue;
      }
      if (event.kind === 'timings') {
        if (this.request.timings)
          this.sendJson({ type: 'timings', words: event.words, source: event.source });
        continue;
      }
      if (event.kind === 'mark') {
        this.sendJson({ type: 'mark', name: event.name, start_ms: event.startMs });
        continue;
      }
      if (event.kind === 'eos') {
        this.sendJson({
          type: 'eos',
          chunks: event.totals.chunks,
          bytes: event.totals.bytes,
          audio_duration_ms: event.totals.audioDurationMs,
          time_to_first_audio_ms: this.stream?.counters().timeToFirstAudioMs ?? null,
        });
        this.stream?.delivered(event);
        this.socket.close(1000, 'eos');
        this.uncork();
        return;
      }
      const code = (Object.values(ErrorCode) as string[]).includes(event.code)
        ? (event.code as ErrorCode)
        : ErrorCode.InternalError;
      this.sendJson({ type: 'error', code, message: event.message });
      this.stream?.delivered(event);
      this.close(wsCloseCodeOf(code), code);
      return;
    }
  }

  private fail(error: unknown): void {
    const reason: unknown = this.reading.signal.aborted ? this.reading.signal.reason : error;
    if (reason instanceof ClientGone) return;
    const exception = toGatewayException(reason);
    if (exception.code === ErrorCode.InternalError) {
      this.deps.logger.error({ sessionId: this.request.sessionId, err: reason }, 'stream connection failed');
    }
    this.sendJson({ type: 'error', code: exception.code, message: exception.message });
    this.close(exception.wsCloseCode, exception.code);
  }

  private whyNotStreamable(session: Session): GatewayException {
    if (session.status === 'cancelled')
      return new GatewayException(ErrorCode.Cancelled, 'the session was cancelled');
    return new GatewayException(
      ErrorCode.SessionAlreadyStreamed,
      `session ${session.id} is ${session.status}; a session streams once — reconnect with ?from_seq=N to resume it, fetch GET /v1/tts/sessions/${session.id}/file for the audio again, or create a new session`,
    );
  }

  private parseFromSeq(): number | undefined {
    const raw = this.request.fromSeq;
    if (raw === undefined) return undefined;
    const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      this.deps.metrics.resumes.inc({ outcome: 'invalid' });
      throw invalidFromSeq(`from_seq must be an integer from 1 (got ${JSON.stringify(raw.slice(0, 32))})`);
    }
    return n;
  }

  /**
   * Backpressure: while the socket holds more than the high-water mark, do not read more (the synthesis
   * pauses too once the log's lag bound is reached). A client that stays stalled past the limit is dropped
   * with `slow_consumer`; it may resume.
   */
  private async waitForRoom(): Promise<void> {
    const { sendHighWaterBytes, stallTimeoutMs } = this.deps.config;
    if (this.socket.bufferedAmount <= sendHighWaterBytes) return;
    const deadline = performance.now() + stallTimeoutMs;
    while (this.socket.bufferedAmount > sendHighWaterBytes) {
      if (performance.now() > deadline) {
        throw new GatewayException(
          ErrorCode.SlowConsumer,
          `the client read no audio for ${stallTimeoutMs} ms with ${this.socket.bufferedAmount} bytes waiting; closing (reconnect with ?from_seq to resume)`,
        );
      }
      await sleep(DRAIN_POLL_MS, this.reading.signal);
    }
  }

  /**
   * One write per turn instead of one per frame: a loopback or LAN write costs a syscall each, and under
   * churn those were the largest single cost. Corked until the ticks of this turn ran, so nothing waits for
   * a timer; the first frame of a stream still leaves in its own turn (the replay reader yields after it).
   */
  private corkTurn(): void {
    const transport = this.request.transport;
    if (!transport || this.corked) return;
    this.corked = true;
    transport.cork();
    process.nextTick(() => this.uncork());
  }

  /** Sends what is corked now: before a close, which may be followed in this very turn by a terminate. */
  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.request.transport?.uncork();
  }

  private sendAudio(event: Extract<StreamEvent, { kind: 'audio' }>): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.corkTurn();
    const data = event.data;
    if (this.request.binary) this.socket.send(data, { binary: true });
    else this.socket.send(jsonAudioFrame(event.seq, data), { binary: false });
  }

  private sendJson(message: Record<string, unknown>): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.corkTurn();
    this.socket.send(JSON.stringify(message));
  }

  /** Close with a handshake, but never wait on a client that stopped reading. */
  private close(code: number, reason: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.close(code, reason);
    this.uncork();
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  private onClientMessage(data: RawData, isBinary: boolean): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const verdict = this.budget.take();
    if (verdict === 'close') {
      this.deps.metrics.rejectedMessages.inc({ reason: 'flood' });
      this.reading.abort(
        new GatewayException(
          ErrorCode.PolicyViolation,
          `too many client messages (more than ${this.deps.config.clientMessagesPerSecond} per second, WS_CLIENT_MESSAGES_PER_SECOND); closing`,
        ),
      );
      return;
    }
    if (verdict === 'drop') {
      this.deps.metrics.rejectedMessages.inc({ reason: 'over_rate' });
      return;
    }
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
      const cancelled = new GatewayException(ErrorCode.Cancelled, 'the client cancelled the stream');
      // Produced here or on another replica: the stream ends with `cancelled` and this socket relays it.
      if (this.cursor) void this.deps.streams.cancel(this.request.sessionId, cancelled);
      else this.reading.abort(cancelled);
      return;
    }
    this.deps.metrics.rejectedMessages.inc({ reason: 'bad_message' });
    // Warnings are a courtesy: at most one per second, and never into a full send buffer.
    if (!this.budget.mayWarn() || this.socket.bufferedAmount > this.deps.config.sendHighWaterBytes) return;
    this.sendJson({
      type: 'warning',
      code: ErrorCode.BadMessage,
      message:
        type === undefined
          ? 'messages must be JSON objects with a "type"; the only client message is {"type":"cancel"}'
          : `unknown message type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 64) : type)}; the only client message is {"type":"cancel"}`,
    });
  }

  /** Heartbeat: a client that has not answered the previous ping is gone (half-open TCP); free its socket. */
  private ping(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping();
  }
}

/**
 * Abort reason when the socket closed under us: nothing can be sent any more. Made at every stream's end
 * (also when it ended normally), and never shown or logged, so it skips capturing a stack (a few
 * microseconds each, a visible share of a short session's CPU).
 */
class ClientGone extends Error {
  constructor() {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('client disconnected');
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'ClientGone';
  }
}

function invalidFromSeq(message: string): GatewayException {
  return new GatewayException(ErrorCode.InvalidFromSeq, message, { field: 'from_seq' });
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * `{"type":"audio","seq":N,"data":"<base64>"}` as the bytes of a text frame. Written into one buffer with
 * latin1 copies (every character is ASCII) instead of a template string that ws would then flatten and
 * UTF-8 encode: one copy of the base64 text fewer per frame, and no scan for non-ASCII characters.
 */
export function jsonAudioFrame(seq: number, data: Uint8Array): Buffer {
  const head = `{"type":"audio","seq":${seq},"data":"`;
  const base64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  const frame = Buffer.allocUnsafe(head.length + base64.length + 2);
  let offset = frame.write(head, 0, 'latin1');
  offset += frame.write(base64, offset, 'latin1');
  frame.write('"}', offset, 'latin1');
  return frame;
}
