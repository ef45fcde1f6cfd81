import { BeforeApplicationShutdown, Inject } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { WebSocket } from 'ws';
import {
  limitsConfig,
  streamingConfig,
  type LimitsConfig,
  type StreamingConfig,
} from '../config/configuration';
import { sleep } from '../common/abort';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { METRIC } from '../metrics/metric-names';
import { SessionsService } from '../sessions/sessions.service';
import { StreamRegistry } from '../sessions/stream-registry';
import { AudioStreamConnection, type StreamDeps } from './audio-stream.connection';
import { TtsService } from './tts.service';

/** How long shutdown waits for streams to send their last frames. */
const SHUTDOWN_FLUSH_MS = 2000;

/** Prefix of the stream route; the adapter routes `/v1/tts/stream/<session_id>` here. */
export const STREAM_PATH = '/v1/tts/stream';

@WebSocketGateway({ path: STREAM_PATH })
export class StreamingGateway implements OnGatewayConnection, BeforeApplicationShutdown {
  private readonly deps: StreamDeps;

  constructor(
    sessions: SessionsService,
    tts: TtsService,
    private readonly streams: StreamRegistry,
    @Inject(streamingConfig.KEY) config: StreamingConfig,
    @Inject(limitsConfig.KEY) limits: LimitsConfig,
    @InjectMetric(METRIC.activeStreams) activeStreams: Gauge<string>,
    @InjectMetric(METRIC.streamsTotal) streamsTotal: Counter<string>,
    @InjectMetric(METRIC.streamBytesTotal) streamBytes: Counter<string>,
    @InjectMetric(METRIC.timeToFirstAudio) timeToFirstAudio: Histogram<string>,
    @InjectPinoLogger(StreamingGateway.name) logger: PinoLogger,
  ) {
    this.deps = {
      sessions,
      tts,
      streams,
      config,
      maxConcurrentStreams: limits.maxConcurrentStreams,
      metrics: { activeStreams, streamsTotal, streamBytes, timeToFirstAudio },
      logger,
    };
  }

  /**
   * Nothing a client puts in the URL may throw out of here: this runs inside the `connection` event, where an
   * exception would reach the process. A path that is not a valid percent-encoding is simply not a session.
   */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    let sessionId = '';
    let binary = false;
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      sessionId = safeDecode(url.pathname.slice(STREAM_PATH.length + 1).replace(/\/+$/, ''));
      binary = ['1', 'true'].includes(url.searchParams.get('binary') ?? '');
    } catch {
      sessionId = '';
    }
    new AudioStreamConnection(socket, sessionId, binary, this.deps).run().catch((error: unknown) => {
      this.deps.logger.error({ err: error }, 'stream connection failed');
      socket.terminate();
    });
  }

  /**
   * Before Nest closes the sockets (it terminates them), end running streams with a `shutting_down` error
   * frame and close handshake, giving them a moment to flush. Readiness is already 503 (ShutdownState).
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.streams.size === 0) return;
    this.streams.abortAll(
      new GatewayException(ErrorCode.ShuttingDown, 'the gateway is shutting down; create a new session'),
    );
    const deadline = performance.now() + SHUTDOWN_FLUSH_MS;
    while (this.streams.size > 0 && performance.now() < deadline) await sleep(20);
    await sleep(50); // let the error frames and close frames leave the kernel buffers
  }
}

/** `decodeURIComponent`, or the raw text when it is not a valid percent-encoding (`%E0%A4%A`). */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
