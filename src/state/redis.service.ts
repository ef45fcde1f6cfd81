import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { randomUUID } from 'node:crypto';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { RedisClientType } from 'redis';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { appConfig, type AppConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';

/**
 * The one seam to Redis (shared state for several replicas), on node-redis v6 — the client Redis recommends
 * for new code (ioredis is in best-effort maintenance); the throttler's storage is written on it too, so one
 * client library serves everything. Connections: one for commands, a subscriber for the control channel,
 * and one per blocking reader (XREAD BLOCK holds its connection: on the shared one every other command of
 * this replica would wait behind it).
 *
 * Behaviour when Redis is down (the documented policy): commands fail at once (no offline queue) or after
 * 1 s without a reply, and callers turn that into `503 state_unavailable`; readiness reports Redis down;
 * running streams go on from memory; node-redis reconnects with backoff and the gateway recovers without a
 * restart. node-redis's own `timeout` only covers the wait before a command is written, so a Redis that
 * hangs with its connection open (a stopped process, a black-holed network) is caught here: every reply has
 * a deadline, and a PING every second that goes unanswered for 2 s marks Redis down and replaces the
 * connection. The subscriber is checked the same way, end to end: every second the replica publishes a
 * heartbeat on a channel of its own and must hear it back on its subscriber within 2 s (a subscriber
 * connection that died silently — a NAT or load balancer that dropped it, a Redis that closed it unseen —
 * would otherwise look connected for minutes, until TCP keepalive gave up, while cancels and circuits from
 * other replicas went nowhere); if not, the subscriber is replaced, readiness names it meanwhile, and the
 * shared state read at connect (circuits) is read again. Redis 6.2 or newer is required (XADD MINID, SET
 * PXAT, GETDEL): an older server is refused at connect, with an error naming its version. Latency, errors and the connection state are metrics.
 *
 * Keys are Redis Cluster-safe: everything of one session shares the hash tag `{<session id>}`.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  /** Identifies this replica in control messages, so it can ignore its own. */
  readonly replicaId = randomUUID();
  private readonly logger = new Logger('Redis');
  private readonly url: string | undefined;
  private commands: RedisCommands | undefined;
  private subscriber: RedisCommands | undefined;
  private readonly listeners = new Set<(message: ControlMessage) => void>();
  private readonly connectedListeners = new Set<() => void>();
  private readonly blocking = new Set<RedisCommands>();
  private wasReady = false;
  /** The last PING on the commands connection was answered in time. */
  private answering = true;
  private probing = false;
  /** The subscriber heard its own last heartbeat in time (see the class comment). */
  private hearing = true;
  private checkingSubscriber = false;
  /** The subscriber whose SUBSCRIBE commands completed (until its next reconnect). */
  private subscribed: RedisCommands | undefined;
  private heartbeatSeq = 0;
  private heard = 0;
  private onHeartbeat: (() => void) | undefined;
  private readonly heartbeatChannel = `tts:heartbeat:${this.replicaId}`;
  private readonly onControlMessage = (raw: string) => this.dispatch(raw);
  private readonly onHeartbeatMessage = (raw: string) => {
    this.heard = Math.max(this.heard, Number(raw));
    this.onHeartbeat?.();
  };
  private watchdog: NodeJS.Timeout | undefined;
  /** The server's version, once read after a connect; `ok` = at least REQUIRED_VERSION. */
  private version: { text: string; ok: boolean } | undefined;

  constructor(
    @Inject(appConfig.KEY) app: AppConfig,
    @InjectMetric(METRIC.redisCommandsTotal) private readonly commandsTotal: Counter<string>,
    @InjectMetric(METRIC.redisCommandDuration) private readonly commandDuration: Histogram<string>,
    @InjectMetric(METRIC.redisUp) private readonly up: Gauge<string>,
  ) {
    this.url = app.redisUrl;
  }

  get enabled(): boolean {
    return this.url !== undefined;
  }

  /** Commands can be sent: connected, answering, and a supported version. */
  get usable(): boolean {
    return !!this.commands?.isReady && this.answering && this.version?.ok === true;
  }

  /** Readiness: usable, and the control channel is subscribed (cancels and circuits reach this replica). */
  get ready(): boolean {
    return this.usable && !!this.subscriber?.isReady && this.hearing;
  }

  /** Why Redis is not ready, for readiness details and errors; undefined when it is. */
  get unreadyReason(): string | undefined {
    if (!this.commands?.isReady) return 'not connected';
    if (!this.answering) return `not answering (no reply within ${HUNG_AFTER_MS} ms)`;
    if (!this.version) return 'checking the server version';
    if (!this.version.ok)
      return `Redis ${this.version.text} is too old: ${REQUIRED_VERSION_TEXT} or newer is required`;
    if (!this.subscriber?.isReady) return 'control channel not subscribed';
    if (!this.hearing)
      return `control channel not delivering (own heartbeat not back within ${HUNG_AFTER_MS} ms)`;
    return undefined;
  }

  onModuleInit(): void {
    if (!this.url) return;
    this.commands = this.connect('commands');
    this.subscriber = this.connectSubscriber();
    this.watchdog = setInterval(() => {
      void this.checkAnswering();
      void this.checkSubscriber();
    }, PING_EVERY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.watchdog);
    for (const client of this.blocking) client.destroy();
    this.blocking.clear();
    await Promise.allSettled([this.commands?.close(), this.subscriber?.close()]);
  }

  /** Runs one round trip of commands (a pipeline or a single command), timed and counted. */
  run<T>(name: string, work: (client: RedisCommands) => Promise<T>): Promise<T> {
    const client = this.commands;
    if (!client) return Promise.reject(new Error('Redis is not configured'));
    return this.measure(name, COMMAND_TIMEOUT_MS, () => {
      if (!this.usable) throw new Error(`Redis is ${this.unreadyReason ?? 'unavailable'}`);
      return work(client.withCommandOptions({ timeout: COMMAND_TIMEOUT_MS }));
    });
  }

  /** The same, with binary replies (audio frames come back as Buffers). */
  runBinary<T>(name: string, work: (client: RedisBinaryCommands) => Promise<T>): Promise<T> {
    return this.run(name, (client) => work(binary(client)));
  }

  /**
   * A connection of its own for one blocking reader (see the class comment). It connects on first use and
   * holds one of MAX_BLOCKING_CONNECTIONS slots only while connected; `close()` frees it.
   */
  blockingConnection(): BlockingConnection {
    return new BlockingConnection({
      open: () => {
        if (!this.url || !this.usable || this.blocking.size >= MAX_BLOCKING_CONNECTIONS) return undefined;
        const client: RedisCommands = nodeRedis().createClient({
          url: this.url,
          disableOfflineQueue: true,
          // One blocking read at a time: a broken connection is replaced by the next read, not retried.
          socket: { connectTimeout: 2000, reconnectStrategy: false },
        });
        client.on('error', (error: Error) =>
          this.logger.debug(`Redis (blocking read) error: ${error.message}`),
        );
        this.blocking.add(client);
        return client;
      },
      release: (client) => {
        this.blocking.delete(client);
        client.destroy();
      },
      measure: (name, deadlineMs, work) => this.measure(name, deadlineMs, work),
    });
  }

  /** Publishes on the control channel that every replica listens to (cancel, takeover, progress, circuits). */
  async publish(message: DistributiveOmit<ControlMessage, 'from'>): Promise<void> {
    if (!this.commands) return;
    await this.run('publish', (c) =>
      c.publish(CONTROL_CHANNEL, JSON.stringify({ ...message, from: this.replicaId })),
    );
  }

  /**
   * Called each time the commands connection becomes usable (first connect and every reconnect): state read
   * once at start-up, such as circuits other replicas hold open, is read again then.
   */
  onConnected(listener: () => void): void {
    this.connectedListeners.add(listener);
  }

  /** Control messages from other replicas. */
  onControl(listener: (message: ControlMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Times and counts `work`, which must settle within `deadlineMs`; any failure is `state_unavailable`. */
  private async measure<T>(name: string, deadlineMs: number, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await withDeadline(work(), deadlineMs);
      this.commandsTotal.inc({ command: name, outcome: 'ok' });
      return result;
    } catch (error) {
      this.commandsTotal.inc({ command: name, outcome: 'error' });
      // A reply overdue: check now whether Redis still answers instead of waiting for the next PING.
      if (error instanceof NoReplyError) void this.checkAnswering();
      throw new StateUnavailableError(name, error);
    } finally {
      this.commandDuration.observe({ command: name }, (performance.now() - started) / 1000);
    }
  }

  private connect(role: 'commands' | 'subscriber'): RedisCommands {
    const client: RedisCommands = nodeRedis().createClient({
      url: this.url,
      // Fail fast while disconnected instead of queueing commands until Redis returns.
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
      },
    });
    // An error listener is mandatory: without one, a lost connection would crash the process.
    client.on('error', (error: Error) => {
      if (role === 'commands' && this.wasReady) this.logger.warn(`Redis (${role}) error: ${error.message}`);
    });
    client.on('ready', () => {
      if (role !== 'commands' || client !== this.commands) return;
      if (!this.wasReady) this.logger.log('Redis connected');
      else this.logger.log('Redis reconnected');
      this.wasReady = true;
      // The handshake was answered: Redis answers. Which version, is checked on every (re)connect.
      this.answering = true;
      void this.checkVersion(client);
    });
    client.on('end', () => role === 'commands' && client === this.commands && this.up.set(0));
    client.on('reconnecting', () => role === 'commands' && client === this.commands && this.up.set(0));
    this.up.set(0);
    client
      .connect()
      .catch((error: Error) => this.logger.warn(`Redis (${role}) not reachable yet: ${error.message}`));
    return client;
  }

  private async checkVersion(client: RedisCommands): Promise<void> {
    try {
      const info = await withDeadline(client.info('server'), HUNG_AFTER_MS);
      if (client !== this.commands) return;
      const text = /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
      const ok = supportsRedisVersion(text);
      if (!ok && this.version?.text !== text) {
        this.logger.error(
          `Redis ${text} at ${redactedUrl(this.url)} is too old: the gateway needs Redis ${REQUIRED_VERSION_TEXT} or newer (XADD MINID, SET PXAT, GETDEL); readiness stays down until it is upgraded`,
        );
      }
      this.version = { text, ok };
      this.up.set(ok ? 1 : 0);
      if (ok) for (const listener of this.connectedListeners) listener();
    } catch (error) {
      // Not answered: the watchdog's PING decides whether the connection is hung; the next ready retries.
      this.logger.debug(
        `Redis version check failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      if (client === this.commands && client.isReady)
        setTimeout(() => void this.recheckVersion(client), 500).unref();
    }
  }

  private recheckVersion(client: RedisCommands): Promise<void> {
    return client === this.commands && !this.version ? this.checkVersion(client) : Promise.resolve();
  }

  /**
   * The watchdog: a PING that gets no reply within HUNG_AFTER_MS while the connection looks fine means
   * Redis hangs (stopped, or the network dropped packets without a reset). Redis is then reported down and
   * the connection replaced: what waited on the old one fails at once, and the new one becomes ready when
   * Redis answers its handshake again.
   */
  private async checkAnswering(): Promise<void> {
    const client = this.commands;
    if (!client?.isReady || this.probing) return;
    this.probing = true;
    try {
      await withDeadline(client.ping(), HUNG_AFTER_MS);
      if (client !== this.commands) return;
      if (!this.version) await this.checkVersion(client);
    } catch (error) {
      if (!(error instanceof NoReplyError) || client !== this.commands) return;
      this.logger.warn(`Redis did not answer a PING within ${HUNG_AFTER_MS} ms: reported down, reconnecting`);
      this.answering = false;
      this.up.set(0);
      this.commands = this.connect('commands');
      client.destroy();
    } finally {
      this.probing = false;
    }
  }

  /**
   * The subscriber's watchdog: publishes the next heartbeat on this replica's own channel and waits up to
   * HUNG_AFTER_MS to hear it. Not heard while commands work: the subscriber is replaced (what it missed
   * meanwhile is gone; circuits are read again once it is back).
   */
  private async checkSubscriber(): Promise<void> {
    const subscriber = this.subscriber;
    if (!subscriber?.isReady || subscriber !== this.subscribed || !this.usable || this.checkingSubscriber)
      return;
    this.checkingSubscriber = true;
    try {
      const seq = ++this.heartbeatSeq;
      const heard = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), HUNG_AFTER_MS);
        this.onHeartbeat = () => {
          if (this.heard < seq) return;
          clearTimeout(timer);
          resolve(true);
        };
      });
      // The count PUBLISH returns is not used: behind a cluster it counts one node's subscribers only.
      await this.run('heartbeat', (c) => c.publish(this.heartbeatChannel, String(seq)));
      if (await heard) {
        if (!this.hearing && subscriber === this.subscriber) this.heardAgain();
        return;
      }
      // Reconnecting by itself meanwhile, or Redis itself not answering: not the subscriber's own failure.
      if (subscriber !== this.subscribed || !subscriber.isReady || !this.usable) return;
      this.logger.warn(
        `own heartbeat not heard back on the control channel within ${HUNG_AFTER_MS} ms: replacing its connection`,
      );
      this.hearing = false;
      this.subscriber = this.connectSubscriber();
      subscriber.destroy();
    } catch {
      // The commands connection failed: its own watchdog (PING) reports and replaces it.
    } finally {
      this.onHeartbeat = undefined;
      this.checkingSubscriber = false;
    }
  }

  /** A replaced subscriber delivers again: ready, and state read at connect is read again (it missed messages). */
  private heardAgain(): void {
    this.hearing = true;
    this.logger.log('control channel delivering again');
    for (const listener of this.connectedListeners) listener();
  }

  private connectSubscriber(): RedisCommands {
    const subscriber = this.connect('subscriber');
    subscriber.on('ready', () => {
      if (this.subscribed === subscriber) this.subscribed = undefined;
      void this.subscribe(subscriber);
    });
    return subscriber;
  }

  private async subscribe(subscriber: RedisCommands): Promise<void> {
    try {
      // node-redis re-subscribes by itself after a reconnect; subscribing again with the same listeners
      // is harmless (they are kept in a set: a message still reaches each once).
      await subscriber.subscribe(CONTROL_CHANNEL, this.onControlMessage);
      await subscriber.subscribe(this.heartbeatChannel, this.onHeartbeatMessage);
      if (subscriber === this.subscriber && subscriber.isReady) this.subscribed = subscriber;
    } catch (error) {
      this.logger.warn(`Redis subscribe failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private dispatch(raw: string): void {
    let message: ControlMessage;
    try {
      message = JSON.parse(raw) as ControlMessage;
    } catch {
      return;
    }
    if (message.from === this.replicaId) return;
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch (error) {
        this.logger.warn(
          `control message handler failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}

/**
 * One blocking reader's own connection (see `RedisService.blockingConnection`). A reply overdue, an error
 * or an abort destroys the connection (a blocked command cannot be taken back otherwise); the next `send`
 * opens a new one.
 */
export class BlockingConnection {
  private client: RedisCommands | undefined;
  private closed = false;

  constructor(
    private readonly pool: {
      open(): RedisCommands | undefined;
      release(client: RedisCommands): void;
      measure<T>(name: string, deadlineMs: number, work: () => Promise<T>): Promise<T>;
    },
  ) {}

  /**
   * Sends one blocking command (blob strings as Buffers) that Redis answers within `blockMs`. Resolves
   * `{ reply }`, or undefined when this replica has no blocking connection to spare (the caller polls).
   */
  async send(
    name: string,
    args: Array<string | Buffer>,
    blockMs: number,
    signal: AbortSignal,
  ): Promise<{ reply: unknown } | undefined> {
    signal.throwIfAborted();
    if (this.closed) return undefined;
    const client = (this.client ??= this.pool.open());
    if (!client) return undefined;
    const onAbort = () => this.drop(client);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await this.pool.measure(name, blockMs + COMMAND_TIMEOUT_MS, async () => {
        if (!client.isOpen) await client.connect();
        return binary(client).sendCommand(args);
      });
      return { reply };
    } catch (error) {
      this.drop(client);
      signal.throwIfAborted();
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  close(): void {
    this.closed = true;
    if (this.client) this.drop(this.client);
  }

  private drop(client: RedisCommands): void {
    if (this.client === client) this.client = undefined;
    this.pool.release(client);
  }
}

/** Whether a Redis `redis_version` is at least REQUIRED_VERSION (6.2: XADD MINID, SET PXAT, GETDEL). */
export function supportsRedisVersion(version: string): boolean {
  const parts = /^(\d+)\.(\d+)/.exec(version);
  if (!parts) return false;
  const [major, minor] = [Number(parts[1]), Number(parts[2])];
  return major > REQUIRED_VERSION[0] || (major === REQUIRED_VERSION[0] && minor >= REQUIRED_VERSION[1]);
}

const REQUIRED_VERSION = [6, 2] as const;
const REQUIRED_VERSION_TEXT = REQUIRED_VERSION.join('.');

const COMMAND_TIMEOUT_MS = 1000;
const PING_EVERY_MS = 1000;
/** A PING unanswered this long means Redis hangs: readiness fails within PING_EVERY_MS + HUNG_AFTER_MS. */
const HUNG_AFTER_MS = 2000;
/**
 * Blocking readers (resumes served from another replica's stream) with a connection of their own; past
 * this, a reader polls on the shared connection instead (never blocking it). Each is one Redis client
 * connection, against Redis's `maxclients` (10000 by default) for all replicas together.
 */
export const MAX_BLOCKING_CONNECTIONS = 64;

class NoReplyError extends Error {
  constructor(ms: number) {
    super(`no reply from Redis within ${ms} ms`);
    this.name = 'NoReplyError';
  }
}

/** `promise`, or a NoReplyError after `ms` (the work itself is not stopped: its late outcome is ignored). */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoReplyError(ms)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function binary(client: RedisCommands): RedisBinaryCommands {
  return client.withTypeMapping({
    [nodeRedis().RESP_TYPES.BLOB_STRING]: Buffer,
  });
}

function redactedUrl(url: string | undefined): string {
  return (url ?? '').replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * node-redis, loaded when Redis is configured: the client and its bundled modules are about 4 MiB of heap,
 * which a single replica with in-process state should not hold at rest.
 */
let redisLibrary: typeof import('redis') | undefined;
function nodeRedis(): typeof import('redis') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (redisLibrary ??= require('redis') as typeof import('redis'));
}
/** One channel for every control message: Cluster-safe (no pattern subscriptions) and one SUBSCRIBE per replica. */
export const CONTROL_CHANNEL = 'tts:control';

export type RedisCommands = RedisClientType;
/** Replies with Buffers for blob strings. */
export type RedisBinaryCommands = { sendCommand(args: Array<string | Buffer>): Promise<unknown> };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Messages between replicas on the control channel. */
export type ControlMessage =
  | { t: 'cancel'; s: string; message: string; from: string }
  | { t: 'takeover'; s: string; from: string }
  | { t: 'progress'; s: string; index: number; from: string }
  | { t: 'circuit'; p: string; open: boolean; until: number; from: string };

/** A Redis command failed (down, timed out): the caller answers 503 `state_unavailable`. */
export class StateUnavailableError extends GatewayException {
  constructor(command: string, cause: unknown) {
    super(ErrorCode.StateUnavailable, 'shared state (Redis) is unavailable; retry shortly', {
      retryAfterSeconds: 2,
    });
    this.name = 'StateUnavailableError';
    this.cause = { command, error: cause instanceof Error ? cause.message : String(cause) };
  }
}
