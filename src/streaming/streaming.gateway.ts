import { Inject } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { IncomingMessage } from 'node:http';
import type { Counter } from 'prom-client';
import type { WebSocket } from 'ws';
import { streamingConfig, type StreamingConfig } from '../config/configuration';
import type { AuthenticatedUpgrade } from '../auth/caller';
import { METRIC } from '../metrics/metric-names';
import { SessionStreams } from '../sessions/session-streams';
import { SessionsService } from '../sessions/sessions.service';
import { ReplayStore } from '../synthesis/replay/replay-store';
import { AudioStreamConnection, type StreamDeps } from './audio-stream.connection';

/** Prefix of the stream route; the adapter routes `/v1/tts/stream/<session_id>` here. */
export const STREAM_PATH = '/v1/tts/stream';

/** The WebSocket transport of session streams: one `AudioStreamConnection` per socket. */
@WebSocketGateway({ path: STREAM_PATH })
export class StreamingGateway implements OnGatewayConnection {
  private readonly deps: StreamDeps;

  constructor(
    sessions: SessionsService,
    streams: SessionStreams,
    replay: ReplayStore,
    @Inject(streamingConfig.KEY) config: StreamingConfig,
    @InjectMetric(METRIC.resumesTotal) resumes: Counter<string>,
    @InjectMetric(METRIC.clientMessagesRejectedTotal) rejectedMessages: Counter<string>,
    @InjectPinoLogger(StreamingGateway.name) logger: PinoLogger,
  ) {
    this.deps = { sessions, streams, replay, config, metrics: { resumes, rejectedMessages }, logger };
  }

  /**
   * Nothing a client puts in the URL may throw out of here: this runs inside the `connection` event, where an
   * exception would reach the process. A path that is not a valid percent-encoding is simply not a session.
   */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    let sessionId = '';
    let binary = false;
    let fromSeq: string | undefined;
    let timings = false;
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      sessionId = safeDecode(url.pathname.slice(STREAM_PATH.length + 1).replace(/\/+$/, ''));
      binary = ['1', 'true'].includes(url.searchParams.get('binary') ?? '');
      fromSeq = url.searchParams.get('from_seq') ?? undefined;
      timings = url.searchParams.get('timings') === 'words';
    } catch {
      sessionId = '';
    }
    const caller = (request as AuthenticatedUpgrade).caller;
    new AudioStreamConnection(
      socket,
      { sessionId, binary, fromSeq, timings, callerId: caller?.id, transport: request.socket },
      this.deps,
    )
      .run()
      .catch((error: unknown) => {
        this.deps.logger.error({ err: error }, 'stream connection failed');
        socket.terminate();
      });
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
