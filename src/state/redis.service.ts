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
 * client library serves everything. Two connections: commands, and a subscriber for the control channel.
 *
 * Behaviour when Redis is down (the documented policy): commands fail at once (no offline queue, a 1 s
 * timeout) and callers turn that into `503 state_unavailable`; readiness reports Redis down; running streams
 * go on from memory; node-redis reconnects with backoff and the gateway recovers without a restart.
 * Latency, errors and the connection state are metrics.
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
  private wasReady = false;

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

  get ready(): boolean {
    return !!this.commands?.isReady;
  }

  onModuleInit(): void {
    if (!this.url) return;
    this.commands = this.connect('commands');
    this.subscriber = this.connect('subscriber');
    this.subscriber.on('ready', () => void this.subscribe());
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.commands?.close(), this.subscriber?.close()]);
  }

  /** Runs one round trip of commands (a pipeline or a single command), timed and counted. */
  async run<T>(name: string, work: (client: RedisCommands) => Promise<T>): Promise<T> {
    const client = this.commands;
    if (!client) throw new Error('Redis is not configured');
    const started = performance.now();
    try {
      const result = await work(client.withCommandOptions({ timeout: COMMAND_TIMEOUT_MS }));
      this.commandsTotal.inc({ command: name, outcome: 'ok' });
      return result;
    } catch (error) {
      this.commandsTotal.inc({ command: name, outcome: 'error' });
      throw new StateUnavailableError(name, error);
    } finally {
      this.commandDuration.observe({ command: name }, (performance.now() - started) / 1000);
    }
  }

  /** The same, with binary replies (audio frames come back as Buffers). */
  runBinary<T>(name: string, work: (client: RedisBinaryCommands) => Promise<T>): Promise<T> {
    return this.run(name, (client) =>
      work(
        client.withTypeMapping({
          [nodeRedis().RESP_TYPES.BLOB_STRING]: Buffer,
        }) as unknown as RedisBinaryCommands,
      ),
    );
  }

  /** Publishes on the control channel that every replica listens to (cancel, takeover, progress, circuits). */
  async publish(message: DistributiveOmit<ControlMessage, 'from'>): Promise<void> {
    if (!this.commands) return;
    await this.run('publish', (c) =>
      c.publish(CONTROL_CHANNEL, JSON.stringify({ ...message, from: this.replicaId })),
    );
  }

  /** Control messages from other replicas. */
  onControl(listener: (message: ControlMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private connect(role: string): RedisCommands {
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
      if (role !== 'commands') return;
      if (!this.wasReady) this.logger.log('Redis connected');
      else this.logger.log('Redis reconnected');
      this.wasReady = true;
      this.up.set(1);
    });
    client.on('end', () => role === 'commands' && this.up.set(0));
    client.on('reconnecting', () => role === 'commands' && this.up.set(0));
    this.up.set(0);
    client
      .connect()
      .catch((error: Error) => this.logger.warn(`Redis (${role}) not reachable yet: ${error.message}`));
    return client;
  }

  private async subscribe(): Promise<void> {
    try {
      // node-redis re-subscribes by itself after a reconnect; subscribing twice is harmless.
      await this.subscriber?.subscribe(CONTROL_CHANNEL, (raw) => this.dispatch(raw));
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

const COMMAND_TIMEOUT_MS = 1000;

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
