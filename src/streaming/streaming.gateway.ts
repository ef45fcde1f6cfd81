import { Inject, OnApplicationShutdown } from '@nestjs/common';
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
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { METRIC } from '../metrics/metric-names';
import { SessionsService } from '../sessions/sessions.service';
import { StreamRegistry } from '../sessions/stream-registry';
import { AudioStreamConnection, type StreamDeps } from './audio-stream.connection';
import { TtsService } from './tts.service';

/** Prefix of the stream route; the adapter routes `/v1/tts/stream/<session_id>` here. */
export const STREAM_PATH = '/v1/tts/stream';

@WebSocketGateway({ path: STREAM_PATH })
export class StreamingGateway implements OnGatewayConnection, OnApplicationShutdown {
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

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const sessionId = decodeURIComponent(url.pathname.slice(STREAM_PATH.length + 1).replace(/\/+$/, ''));
    const binary = ['1', 'true'].includes(url.searchParams.get('binary') ?? '');
    void new AudioStreamConnection(socket, sessionId, binary, this.deps).run();
  }

  /** On shutdown, running streams end with an error frame rather than a bare connection reset. */
  onApplicationShutdown(): void {
    this.streams.abortAll(
      new GatewayException(
        ErrorCode.ShuttingDown,
        'the gateway is shutting down; reconnect to another instance',
      ),
    );
  }
}
