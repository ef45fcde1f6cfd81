import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { streamingConfig, type StreamingConfig } from '../../config/configuration';
import { METRIC } from '../../metrics/metric-names';
import { MemoryReplayLog } from './memory-replay-log';
import type { ReplayLog } from './replay-log';
import { RetainedLogs } from './retained-logs';

/**
 * Where replay logs live, by session id. The in-memory store keeps each log while its stream runs and for
 * RESUME_WINDOW_SECONDS after it ended (so a finished session can still be replayed, within
 * RESUME_RETAINED_BYTES for all ended streams together), then frees it; bytes held are visible as
 * `tts_resume_buffer_bytes`. A Redis store provides logs any replica can read.
 */
export abstract class ReplayStore {
  /** A new log for a stream that starts now (replacing any old one of that session). */
  abstract create(sessionId: string): ReplayLog;
  /** The session's log if it is still retained. */
  abstract get(sessionId: string): Promise<ReplayLog | undefined>;
  /**
   * The stream ended: keep the log for the resume window, then free it. A stream abandoned because nobody
   * resumed within the window is not retired but dropped: its window is over.
   */
  abstract retire(sessionId: string, log: ReplayLog): void;
  /** Frees the log now (DELETE purges the audio). */
  abstract drop(sessionId: string): void;
}

@Injectable()
export class MemoryReplayStore extends ReplayStore implements OnApplicationShutdown {
  private readonly logs = new Map<string, { log: ReplayLog; expiry?: NodeJS.Timeout }>();
  private readonly retained: RetainedLogs;

  constructor(
    @Inject(streamingConfig.KEY) private readonly config: StreamingConfig,
    @InjectMetric(METRIC.resumeBufferBytes) private readonly gauge: Gauge<string>,
  ) {
    super();
    this.retained = new RetainedLogs(config.resumeRetainedBytes);
  }

  create(sessionId: string): ReplayLog {
    this.drop(sessionId);
    // RESUME_BUFFER_BYTES=0 turns resume off: the log then only holds what is in flight to the socket.
    const maxBytes = this.config.resumeBufferBytes || this.config.sendHighWaterBytes;
    const log = new MemoryReplayLog(sessionId, {
      maxBytes,
      followLagBytes: Math.min(this.config.sendHighWaterBytes, maxBytes),
      onBytes: (delta) => this.gauge.inc(delta),
    });
    this.logs.set(sessionId, { log });
    return log;
  }

  get(sessionId: string): Promise<ReplayLog | undefined> {
    return Promise.resolve(this.logs.get(sessionId)?.log);
  }

  retire(sessionId: string, log: ReplayLog): void {
    const entry = this.logs.get(sessionId);
    if (!entry || entry.log !== log) {
      log.dispose();
      return;
    }
    clearTimeout(entry.expiry);
    const windowMs = this.config.resumeWindowSeconds * 1000;
    if (windowMs <= 0) {
      this.drop(sessionId);
      return;
    }
    entry.expiry = setTimeout(() => this.drop(sessionId), windowMs).unref();
    for (const evicted of this.retained.add(sessionId, log.bytes)) this.drop(evicted);
  }

  drop(sessionId: string): void {
    const entry = this.logs.get(sessionId);
    if (!entry) return;
    this.retained.remove(sessionId);
    clearTimeout(entry.expiry);
    entry.log.dispose();
    this.logs.delete(sessionId);
  }

  /** Logs held right now (tests count them to prove nothing outlives its session). */
  get size(): number {
    return this.logs.size;
  }

  /** After the sockets are closed (streams read their final frames during beforeApplicationShutdown). */
  onApplicationShutdown(): void {
    for (const id of [...this.logs.keys()]) this.drop(id);
  }
}
