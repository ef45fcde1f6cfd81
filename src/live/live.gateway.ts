import { BeforeApplicationShutdown, Inject } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { WebSocket } from 'ws';
import type { AuthenticatedUpgrade } from '../auth/caller';
import { UsageService } from '../auth/usage.service';
import { sleep } from '../common/abort';
import {
  appConfig,
  limitsConfig,
  streamingConfig,
  type AppConfig,
  type LimitsConfig,
  type StreamingConfig,
} from '../config/configuration';
import { ShutdownState } from '../health/shutdown.state';
import { METRIC } from '../metrics/metric-names';
import { SynthesisRuns } from '../synthesis/synthesis-runs';
import { SynthesisSlots } from '../synthesis/synthesis-slots';
import { TtsService } from '../synthesis/tts.service';
import { LiveCharBudget } from './char-budget';
import { liveConfig, type LiveConfig } from './live.config';
import { LiveConnection, type ConnectionDeps } from './live.connection';
import { upgradeClientResolver } from '../common/upgrade-client';
import { LIVE_METRIC } from './live.metrics';
import { LiveSettingsResolver } from './live-settings';

/** The live text socket's route (exact path; the REST `POST /v1/tts/live/token` is not a WebSocket). */
export const LIVE_PATH = '/v1/tts/live';

/**
 * `WS /v1/tts/live`: text in as a language model produces it, audio out per sentence, several contexts per
 * socket. One `LiveConnection` per socket; this class only wires them and ends them on shutdown.
 */
@WebSocketGateway({ path: LIVE_PATH })
export class LiveGateway implements OnGatewayConnection, BeforeApplicationShutdown {
  private readonly deps: ConnectionDeps;
  private readonly connections = new Set<LiveConnection>();
  private readonly clientOf: (request: IncomingMessage) => string;

  constructor(
    tts: TtsService,
    runs: SynthesisRuns,
    slots: SynthesisSlots,
    settings: LiveSettingsResolver,
    charBudget: LiveCharBudget,
    usage: UsageService,
    shutdown: ShutdownState,
    @Inject(liveConfig.KEY) config: LiveConfig,
    @Inject(limitsConfig.KEY) limits: LimitsConfig,
    @Inject(streamingConfig.KEY) streaming: StreamingConfig,
    @Inject(appConfig.KEY) app: AppConfig,
    @InjectMetric(LIVE_METRIC.activeContexts) activeContexts: Gauge<string>,
    @InjectMetric(LIVE_METRIC.sentenceTtfa) sentenceTtfa: Histogram<string>,
    @InjectMetric(LIVE_METRIC.clearLatency) clearLatency: Histogram<string>,
    @InjectMetric(LIVE_METRIC.sentencesTotal) sentences: Counter<string>,
    @InjectMetric(METRIC.rateLimitedTotal) rateLimited: Counter<string>,
    @InjectMetric(METRIC.clientMessagesRejectedTotal) rejectedMessages: Counter<string>,
    @InjectPinoLogger('LiveSocket') logger: PinoLogger,
  ) {
    this.clientOf = upgradeClientResolver(app.trustProxy);
    this.deps = {
      tts,
      runs,
      slots,
      settings,
      charBudget,
      usage,
      shutdown,
      config,
      limits,
      streaming,
      rejectedMessages,
      logger,
      metrics: { activeContexts, sentenceTtfa, clearLatency, sentences, rateLimited },
    };
  }

  /** Runs inside the `connection` event: nothing may throw out of here. */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    let query = new URLSearchParams();
    try {
      query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    } catch {
      // an unparseable target: no query, the defaults apply
    }
    // The adapter sets the caller of an authenticated upgrade (API keys); otherwise it is the address.
    const caller = (request as AuthenticatedUpgrade).caller ?? {
      id: this.clientOf(request),
    };
    const connection = new LiveConnection(socket, { query, caller }, this.deps);
    this.connections.add(connection);
    void connection.done.then(() => this.connections.delete(connection));
    try {
      connection.start();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'live connection failed');
      socket.terminate();
    }
  }

  /** Contexts open on this replica, over all sockets. */
  get openContexts(): number {
    let n = 0;
    for (const connection of this.connections) n += connection.openContexts;
    return n;
  }

  /**
   * Graceful drain (for the SIGTERM path): contexts may finish until `deadline` (performance.now() ms);
   * the rest then end with `shutting_down`.
   */
  async drain(deadline: number): Promise<void> {
    while (this.openContexts > 0 && performance.now() < deadline) await sleep(50);
    await this.beforeApplicationShutdown();
  }

  /**
   * The application is closing: open contexts end with `shutting_down`, each socket with 4503, and the
   * frames get a moment to leave before Nest terminates the sockets. New contexts are refused meanwhile
   * (ShutdownState is draining).
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.connections.size === 0) return;
    await Promise.allSettled([...this.connections].map((c) => c.shutdown()));
    await sleep(100);
  }
}
