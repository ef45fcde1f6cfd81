import { randomUUID } from 'node:crypto';
import type { Caller } from '../auth/caller';
import type { Counter } from 'prom-client';
import { WebSocket, type RawData } from 'ws';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import type { StreamingConfig } from '../config/configuration';
import type { ShutdownState } from '../health/shutdown.state';
import { MessageBudget } from '../streaming/message-budget';
import type { SynthesisSlots } from '../synthesis/synthesis-slots';
import { FairSender } from './fair-sender';
import { LiveContext, type ContextHost, type LiveDeps } from './live-context';
import {
  LIVE_SETTING_FIELDS,
  mergeSettings,
  parseLiveSettings,
  type LiveSettingsInput,
} from './live-settings';

export interface ConnectionDeps extends LiveDeps {
  slots: SynthesisSlots;
  streaming: StreamingConfig;
  shutdown: ShutdownState;
  rejectedMessages: Counter<string>;
}

export interface LiveRequest {
  query: URLSearchParams;
  caller: Caller;
}

/** How long a closing socket may take to finish its handshake before we drop it. */
const CLOSE_GRACE_MS = 2000;
const DEFAULT_CONTEXT = 'default';
/** Ids of contexts that just ended, so a `clear` racing their `eos` is acknowledged, not refused. */
const RECENT_IDS = 64;
/** Warnings (about messages we ignored) per second at most: a flood of bad messages gets few replies. */
const WARNINGS_PER_SECOND = 20;
const CLIENT_MESSAGES = ['start', 'text', 'flush', 'end', 'clear', 'close'] as const;

/**
 * One live socket: the protocol (client messages → contexts), the contexts (at most LIVE_MAX_CONTEXTS), and
 * the socket's shared machinery: the fair audio sender (backpressure, stall), heartbeat, message budget.
 *
 * Errors: a context's mistake or failure is an `error` frame with its `context_id` and the socket stays
 * open; a message that was ignored and changed nothing (unknown type, not JSON, text after `end`) gets a
 * `warning`; only the socket's own problems (bad query, flood, stalled reader, shutdown) are an `error`
 * without `context_id`, then close 4000 + status.
 */
export class LiveConnection implements ContextHost {
  readonly connectionId = randomUUID();
  readonly sender: FairSender;
  readonly binary: boolean;
  private readonly contexts = new Map<string, LiveContext>();
  private readonly recent: string[] = [];
  private readonly budget: MessageBudget;
  private defaults: LiveSettingsInput = {};
  private buffered = 0;
  private closing = false;
  private failed = false;
  private alive = true;
  private heartbeat: NodeJS.Timeout | undefined;
  private warnings = { second: 0, count: 0 };
  private closed!: () => void;
  readonly done = new Promise<void>((resolve) => (this.closed = resolve));

  constructor(
    private readonly socket: WebSocket,
    private readonly request: LiveRequest,
    private readonly deps: ConnectionDeps,
  ) {
    this.binary = ['1', 'true'].includes(request.query.get('binary') ?? '');
    this.budget = new MessageBudget(deps.config.clientMessagesPerSecond);
    this.sender = new FairSender(
      socket,
      { highWaterBytes: deps.streaming.sendHighWaterBytes, stallTimeoutMs: deps.streaming.stallTimeoutMs },
      (error) => this.failSocket(error),
    );
  }

  get caller(): Caller {
    return this.request.caller;
  }

  get bufferedTextBytes(): number {
    return this.buffered;
  }

  get openContexts(): number {
    return this.contexts.size;
  }

  start(): void {
    this.socket.on('close', () => this.onClose());
    this.socket.on('message', (data, isBinary) => this.onMessageSafely(data, isBinary));
    this.socket.on('pong', () => (this.alive = true));
    this.heartbeat = setInterval(() => this.ping(), this.deps.streaming.pingIntervalMs);
    if (this.deps.shutdown.draining) return this.failSocket(shuttingDown());
    try {
      this.defaults = parseLiveSettings(Object.fromEntries(this.request.query), 'query');
      this.deps.settings.assertPlausible(this.defaults);
    } catch (error) {
      this.failSocket(toGatewayException(error));
    }
  }

  adjustBufferedText(delta: number): void {
    this.buffered = Math.max(0, this.buffered + delta);
  }

  sendJson(message: Record<string, unknown>): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  released(context: LiveContext): void {
    if (this.contexts.get(context.id) !== context) return;
    this.contexts.delete(context.id);
    this.recent.push(context.id);
    if (this.recent.length > RECENT_IDS) this.recent.shift();
    if (this.closing && this.contexts.size === 0) this.close(1000, 'close');
  }

  /**
   * The application is closing: every context ends with `shutting_down`, then the socket (4503). Resolves
   * once the contexts have stopped.
   */
  async shutdown(): Promise<void> {
    const reason = shuttingDown();
    const contexts = [...this.contexts.values()];
    for (const context of contexts) context.fail(reason);
    await Promise.allSettled(contexts.map((c) => c.done));
    this.failSocket(reason);
  }

  /** A listener that throws would reach the socket's parser and the process: a bug fails this socket only. */
  private onMessageSafely(data: RawData, isBinary: boolean): void {
    try {
      this.onMessage(data, isBinary, performance.now());
    } catch (error) {
      this.deps.logger.error({ liveSocket: this.connectionId, err: error }, 'live message handling failed');
      this.failSocket(
        new GatewayException(ErrorCode.InternalError, 'internal error; the gateway logged the details'),
      );
    }
  }

  private onMessage(data: RawData, isBinary: boolean, receivedAt: number): void {
    if (this.socket.readyState !== WebSocket.OPEN || this.failed) return;
    const verdict = this.budget.take();
    if (verdict === 'close') {
      this.deps.rejectedMessages.inc({ reason: 'flood' });
      return this.failSocket(
        new GatewayException(
          ErrorCode.PolicyViolation,
          `too many client messages (more than ${this.deps.config.clientMessagesPerSecond} per second, LIVE_CLIENT_MESSAGES_PER_SECOND); closing`,
        ),
      );
    }
    if (verdict === 'drop') {
      this.deps.rejectedMessages.inc({ reason: 'over_rate' });
      return this.warn(
        undefined,
        `message dropped: more than ${this.deps.config.clientMessagesPerSecond} messages per second (LIVE_CLIENT_MESSAGES_PER_SECOND); send larger text pieces`,
        ErrorCode.RateLimited,
      );
    }
    const message = isBinary ? undefined : parseObject(data);
    if (!message || typeof message.type !== 'string') {
      this.deps.rejectedMessages.inc({ reason: 'bad_message' });
      return this.warn(
        undefined,
        `messages must be JSON objects with a "type": one of ${CLIENT_MESSAGES.join(', ')}`,
      );
    }
    const type = message.type;
    if (type === 'close') return this.closeAll();
    if (!(CLIENT_MESSAGES as readonly string[]).includes(type)) {
      this.deps.rejectedMessages.inc({ reason: 'bad_message' });
      return this.warn(
        undefined,
        `unknown message type ${JSON.stringify(type.slice(0, 64))}; the live socket takes: ${CLIENT_MESSAGES.join(', ')}`,
      );
    }
    const rawId = message.context_id ?? DEFAULT_CONTEXT;
    if (typeof rawId !== 'string' || rawId.length < 1 || rawId.length > 64) {
      this.deps.rejectedMessages.inc({ reason: 'bad_message' });
      return this.warn(undefined, `"${type}": context_id must be a string of 1 to 64 characters`);
    }
    const id = rawId;
    if (this.closing)
      return this.warn(id, `"${type}" ignored: the socket is closing (a "close" was received)`);
    switch (type) {
      case 'start':
        return this.startContext(id, message);
      case 'text':
        return this.text(id, message);
      case 'flush':
      case 'end': {
        const context = this.existing(id, type);
        if (!context) return;
        if (!context.accepting)
          return this.warn(id, `"${type}" ignored: context "${id}" has already ended; start a new one`);
        return type === 'flush' ? context.flush() : context.end();
      }
      case 'clear': {
        const context = this.contexts.get(id);
        if (context) return context.clear(receivedAt);
        // Already over (its eos may be on the way): nothing is left to clear, which is what was asked.
        if (this.recent.includes(id)) return this.sendJson({ type: 'cleared', context_id: id });
        return this.unknownContext(id, type);
      }
    }
  }

  private startContext(id: string, message: Record<string, unknown>): void {
    if (this.contexts.has(id))
      return this.warn(
        id,
        `"start" ignored: context "${id}" is already open (its settings stay as they are)`,
      );
    const unknown = Object.keys(message).find(
      (k) => !['type', 'context_id', 'text', ...LIVE_SETTING_FIELDS].includes(k),
    );
    let settings: LiveSettingsInput;
    try {
      if (unknown !== undefined)
        throw GatewayException.invalidField(
          unknown,
          `unknown field "${unknown.slice(0, 64)}" in "start"; allowed: ${LIVE_SETTING_FIELDS.join(', ')}, text`,
        );
      settings = mergeSettings(this.defaults, parseLiveSettings(message, 'start'));
    } catch (error) {
      return this.contextError(id, toGatewayException(error));
    }
    const context = this.open(id, settings);
    if (context && message.text !== undefined) this.text(id, message);
  }

  private text(id: string, message: Record<string, unknown>): void {
    if (typeof message.text !== 'string') {
      this.deps.rejectedMessages.inc({ reason: 'bad_message' });
      return this.warn(id, `"text" needs a string "text" field`);
    }
    const context = this.contexts.get(id) ?? this.open(id, this.defaults);
    if (!context) return;
    if (!context.accepting)
      return this.warn(
        id,
        `text ignored: context "${id}" has already ended (after "end"); start a new context`,
      );
    context.text(message.text);
  }

  /** Opens a context, or answers why not (an error naming it). */
  private open(id: string, settings: LiveSettingsInput): LiveContext | undefined {
    const { maxContexts } = this.deps.config;
    if (this.deps.shutdown.draining) return this.contextError(id, shuttingDown());
    if (this.contexts.size >= maxContexts)
      return this.contextError(
        id,
        new GatewayException(
          ErrorCode.TooManyStreams,
          `this socket already has ${this.contexts.size} open contexts, its limit (LIVE_MAX_CONTEXTS); end or clear one first`,
        ),
      );
    if (this.binary && this.contexts.size > 0)
      return this.contextError(
        id,
        GatewayException.invalidField(
          'binary',
          `binary=1 sends audio frames without a context_id, so it allows one context at a time and "${[...this.contexts.keys()][0]}" is open; end or clear it first, or connect without binary=1`,
        ),
      );
    let release;
    try {
      release = this.deps.slots.acquire(this.caller.id, 'live');
    } catch (error) {
      return this.contextError(id, toGatewayException(error));
    }
    const lease = this.deps.slots.lease(this.caller.id, 'live');
    const context = new LiveContext(id, settings, this, this.deps, release, lease);
    this.contexts.set(id, context);
    return context;
  }

  private existing(id: string, type: string): LiveContext | undefined {
    const context = this.contexts.get(id);
    if (!context) this.unknownContext(id, type);
    return context;
  }

  private unknownContext(id: string, type: string): void {
    this.deps.rejectedMessages.inc({ reason: 'unknown_context' });
    const open = [...this.contexts.keys()];
    this.contextError(
      id,
      new GatewayException(
        ErrorCode.BadMessage,
        `"${type}" for context "${id}", which is not open (${open.length > 0 ? `open: ${open.map((c) => JSON.stringify(c)).join(', ')}` : 'no context is open'}); a "start" or a "text" opens one`,
      ),
    );
  }

  private contextError(id: string, error: GatewayException): undefined {
    this.sendJson({ type: 'error', context_id: id, code: error.code, message: error.message });
    return undefined;
  }

  private warn(id: string | undefined, message: string, code = ErrorCode.BadMessage): void {
    // Warnings are a courtesy: a few per second, and never into a send buffer the client does not read.
    const second = Math.floor(performance.now() / 1000);
    if (second !== this.warnings.second) this.warnings = { second, count: 0 };
    if (++this.warnings.count > WARNINGS_PER_SECOND) return;
    if (this.socket.bufferedAmount > this.deps.streaming.sendHighWaterBytes) return;
    this.sendJson({ type: 'warning', ...(id !== undefined ? { context_id: id } : {}), code, message });
  }

  /** `close`: every context ends as with `end`; the socket closes 1000 after the last `eos`. */
  private closeAll(): void {
    if (this.closing) return;
    this.closing = true;
    for (const context of this.contexts.values()) context.end();
    if (this.contexts.size === 0) this.close(1000, 'close');
  }

  /** The socket's own failure: every context stops, one error frame without context_id, close 4xxx. */
  private failSocket(error: GatewayException): void {
    if (this.failed) return;
    this.failed = true;
    this.sender.close(error);
    for (const context of this.contexts.values()) context.silence('failed');
    if (error.code === ErrorCode.InternalError)
      this.deps.logger.error({ liveSocket: this.connectionId, err: error }, 'live socket failed');
    this.sendJson({ type: 'error', code: error.code, message: error.message });
    this.close(error.wsCloseCode, error.code);
  }

  /** Close with a handshake, but never wait on a client that stopped reading. */
  private close(code: number, reason: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.close(code, reason);
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  private onClose(): void {
    clearInterval(this.heartbeat);
    this.sender.close(new GatewayException(ErrorCode.Cancelled, 'the client disconnected'));
    const contexts = [...this.contexts.values()];
    for (const context of contexts) context.silence('disconnected');
    void Promise.allSettled(contexts.map((c) => c.done)).then(() => this.closed());
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

function shuttingDown(): GatewayException {
  return new GatewayException(
    ErrorCode.ShuttingDown,
    'this gateway replica is shutting down; reconnect (another replica will take the socket)',
    { retryAfterSeconds: 1 },
  );
}

function parseObject(data: RawData): Record<string, unknown> | undefined {
  try {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : data instanceof ArrayBuffer
        ? Buffer.from(data).toString('utf8')
        : data.toString('utf8');
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
