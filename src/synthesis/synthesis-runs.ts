import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { keyNameOf } from '../auth/caller';
import { UsageService } from '../auth/usage.service';
import { METRIC } from '../metrics/metric-names';
import type { ProviderId } from '../providers/provider.contract';
import type { AudioFormat } from '../transcode/audio-format';
import type { EncodedAudio, SynthesisRoute } from './synthesis.types';

export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'disconnected';

export interface RunDescription {
  route: SynthesisRoute;
  provider: ProviderId;
  format: AudioFormat;
  sampleRateHz: number;
  voice: string;
  textChars: number;
  sessionId?: string;
  /** The caller (`key:<name>` or an IP): usage per key, and the key's name in the end line. */
  client?: string;
  /** Extra fields for the end line (binary, failover mode ...). */
  extra?: Record<string, unknown>;
}

/**
 * One synthesis as operations see it, whatever the route: `tts_active_streams`, bytes, time to first audio
 * and `tts_streams_total{outcome}` with a `route` label, and exactly one `stream ended` log line with the
 * totals. The WebSocket stream, `/file`, `/v1/audio/speech` and live contexts all report through here, so
 * no route is invisible to dashboards.
 */
export class SynthesisRun {
  private readonly startedAt = performance.now();
  private ended = false;
  chunks = 0;
  bytes = 0;
  audioMs = 0;
  ttfaMs: number | undefined;
  servedBy: ProviderId | undefined;
  switches = 0;

  /** This run's series of `tts_stream_bytes_total`, looked up once rather than per chunk. */
  private bytesCounter: { inc(value: number): void } | undefined;

  constructor(
    private readonly description: RunDescription,
    private readonly owner: SynthesisRuns,
  ) {
    owner.activeStreams.inc({ route: description.route });
  }

  get route(): SynthesisRoute {
    return this.description.route;
  }

  /** Records audio that reached the client (a frame sent, a body chunk written). */
  sent(audio: EncodedAudio, bytes = audio.data.length): void {
    this.chunks++;
    this.bytes += bytes;
    this.audioMs = audio.audioMs;
    this.servedBy = audio.providerId;
    if (audio.switched) this.switches++;
    const { format, route } = this.description;
    (this.bytesCounter ??= this.owner.streamBytes.labels({ format, route })).inc(bytes);
    if (this.ttfaMs === undefined && bytes > 0) {
      this.ttfaMs = performance.now() - this.startedAt;
      this.owner.timeToFirstAudio.observe(
        { provider: audio.providerId, format: this.description.format, route: this.description.route },
        this.ttfaMs / 1000,
      );
    }
  }

  end(outcome: RunOutcome, error?: { code: string; message: string }): void {
    if (this.ended) return;
    this.ended = true;
    const d = this.description;
    const key = d.client ? keyNameOf(d.client) : undefined;
    if (d.client)
      this.owner.usage.record(d.client, { audio_seconds: this.audioMs / 1000, bytes: this.bytes });
    this.owner.activeStreams.dec({ route: d.route });
    this.owner.streamsTotal.inc({ provider: d.provider, format: d.format, outcome, route: d.route });
    this.owner.logger.info(
      {
        route: d.route,
        ...(d.sessionId ? { sessionId: d.sessionId } : {}),
        ...(key ? { key } : {}),
        provider: d.provider,
        servedBy: this.servedBy,
        voice: d.voice,
        format: d.format,
        sampleRateHz: d.sampleRateHz,
        outcome,
        ...(error ? { errorCode: error.code } : {}),
        chunks: this.chunks,
        bytes: this.bytes,
        audioMs: Math.round(this.audioMs),
        timeToFirstAudioMs: this.ttfaMs === undefined ? undefined : Math.round(this.ttfaMs),
        durationMs: Math.round(performance.now() - this.startedAt),
        textChars: d.textChars,
        ...(this.switches > 0 ? { providerSwitches: this.switches } : {}),
        ...d.extra,
      },
      'stream ended',
    );
  }
}

@Injectable()
export class SynthesisRuns {
  constructor(
    @InjectMetric(METRIC.activeStreams) readonly activeStreams: Gauge<string>,
    @InjectMetric(METRIC.streamsTotal) readonly streamsTotal: Counter<string>,
    @InjectMetric(METRIC.streamBytesTotal) readonly streamBytes: Counter<string>,
    @InjectMetric(METRIC.timeToFirstAudio) readonly timeToFirstAudio: Histogram<string>,
    @InjectPinoLogger('Synthesis') readonly logger: PinoLogger,
    readonly usage: UsageService,
  ) {}

  start(description: RunDescription): SynthesisRun {
    return new SynthesisRun(description, this);
  }
}
