import { Inject, Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { limitsConfig, type LimitsConfig } from '../config/configuration';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { countCharacters, utf8ByteLength } from '../common/text/normalize-text';
import { METRIC } from '../metrics/metric-names';
import type { ProviderId, SynthesisRequest } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProviderResilienceService } from '../streaming/provider-resilience.service';
import type { SynthesisAttempt, SynthesisPlan } from '../streaming/tts.service';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { VoicesService } from '../voices/voices.service';
import type { CreateSessionDto } from './dto/create-session.dto';
import type { SessionDto } from './dto/session-response.dto';
import { FINAL_STATUSES, type Session, type SessionFallback } from './session.model';
import { SessionStore } from './session.store';
import { StreamRegistry } from './stream-registry';

/** Where the client reached us, for absolute URLs in responses. */
export interface RequestOrigin {
  host: string;
  secure: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class SessionsService {
  constructor(
    private readonly store: SessionStore,
    private readonly voices: VoicesService,
    private readonly registry: ProviderRegistry,
    private readonly resilience: ProviderResilienceService,
    private readonly transcode: TranscodeService,
    private readonly streams: StreamRegistry,
    @Inject(limitsConfig.KEY) private readonly limits: LimitsConfig,
    @InjectMetric(METRIC.sessionsTotal) private readonly sessionsTotal: Counter<string>,
  ) {}

  async create(dto: CreateSessionDto, origin: RequestOrigin): Promise<SessionDto> {
    this.checkTextLimits(dto.text);
    this.transcode.assertSupported(dto.target_format);
    const sampleRateHz = this.transcode.resolveSampleRate(dto.target_format, dto.sample_rate_hz);

    const resolved = await this.voices.resolve(dto, () => this.registry.defaultProviderId());
    await this.assertAvailable(resolved.provider.id, 'provider');
    const fallbacks = await this.resolveFallbacks(
      dto.fallback_providers ?? [],
      resolved.provider.id,
      resolved.language,
    );

    const now = new Date();
    const session: Session = {
      id: randomUUID(),
      status: 'pending',
      text: dto.text,
      provider: resolved.provider.id,
      voice: resolved.voice.id,
      language: resolved.language,
      targetFormat: dto.target_format,
      sampleRateHz,
      speed: dto.speed ?? 1,
      fallbacks,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      expiresAt: now.getTime() + this.limits.sessionTtlSeconds * 1000,
      chunksSent: 0,
      bytesSent: 0,
      audioMs: 0,
    };
    await this.store.insert(session);
    this.sessionsTotal.inc({ provider: session.provider, format: session.targetFormat });
    return this.toDto(session, origin);
  }

  async get(id: string): Promise<Session> {
    const session = UUID.test(id) ? await this.store.get(id) : undefined;
    if (!session)
      throw new GatewayException(ErrorCode.SessionNotFound, `session "${id}" does not exist or has expired`);
    return session;
  }

  /** Cancels a session: a running stream is stopped (its client gets `cancelled`), a pending one never starts. */
  async cancel(id: string): Promise<void> {
    const session = await this.get(id);
    if (FINAL_STATUSES.includes(session.status)) return;
    const cancelled = new GatewayException(ErrorCode.Cancelled, 'the session was cancelled (DELETE)');
    if (!this.streams.abort(id, cancelled)) {
      await this.store.transition(id, ['pending', 'streaming'], {
        status: 'cancelled',
        finishedAt: new Date().toISOString(),
        error: { code: cancelled.code, message: cancelled.message },
      });
    }
  }

  /** Marks a pending session as streaming; undefined when it is not pending (already streamed, cancelled). */
  claimForStreaming(id: string): Promise<Session | undefined> {
    return this.store.transition(id, ['pending'], {
      status: 'streaming',
      startedAt: new Date().toISOString(),
    });
  }

  recordProgress(
    id: string,
    progress: Pick<Session, 'chunksSent' | 'bytesSent' | 'audioMs'> & Partial<Session>,
  ) {
    return this.store.update(id, progress);
  }

  finish(id: string, status: 'completed' | 'failed' | 'cancelled', patch: Partial<Session>) {
    return this.store.transition(id, ['streaming'], {
      ...patch,
      status,
      finishedAt: new Date().toISOString(),
    });
  }

  /** The plan the TTS pipeline runs for this session (its provider, then its fallbacks). */
  async planFor(
    session: Session,
    format: AudioFormat = session.targetFormat,
    wholeFile = false,
  ): Promise<SynthesisPlan> {
    const attempts: SynthesisAttempt[] = [];
    for (const { provider, voice } of [
      { provider: session.provider, voice: session.voice },
      ...session.fallbacks,
    ]) {
      const resolved = await this.voices.resolve({ provider, voice }, () => Promise.resolve(provider));
      const request: SynthesisRequest = {
        text: session.text,
        voice: resolved.voice,
        language: session.language,
        speed: session.speed,
        sessionId: session.id,
      };
      attempts.push({ providerId: provider, request });
    }
    const sampleRate =
      format === session.targetFormat
        ? session.sampleRateHz
        : this.transcode.resolveSampleRate(format, undefined, 'format');
    return { attempts, format, sampleRate, wholeFile };
  }

  toDto(session: Session, origin: RequestOrigin): SessionDto {
    const http = `${origin.secure ? 'https' : 'http'}://${origin.host}`;
    const ws = `${origin.secure ? 'wss' : 'ws'}://${origin.host}`;
    return {
      session_id: session.id,
      status: session.status,
      text: session.text,
      provider: session.provider,
      voice: session.voice,
      language: session.language,
      target_format: session.targetFormat,
      sample_rate_hz: session.sampleRateHz,
      speed: session.speed,
      fallback_providers: session.fallbacks.map((f) => f.provider),
      content_type: this.transcode.spec(session.targetFormat).contentType,
      ws_url: `${ws}/v1/tts/stream/${session.id}`,
      file_url: `${http}/v1/tts/sessions/${session.id}/file`,
      created_at: session.createdAt,
      updated_at: session.updatedAt,
      ...(session.startedAt ? { started_at: session.startedAt } : {}),
      ...(session.finishedAt ? { finished_at: session.finishedAt } : {}),
      expires_at: new Date(session.expiresAt).toISOString(),
      chunks_sent: session.chunksSent,
      bytes_sent: session.bytesSent,
      audio_duration_ms: Math.round(session.audioMs),
      ...(session.timeToFirstAudioMs !== undefined
        ? { time_to_first_audio_ms: session.timeToFirstAudioMs }
        : {}),
      ...(session.servedBy ? { served_by: session.servedBy } : {}),
      ...(session.error ? { error: session.error } : {}),
    };
  }

  private checkTextLimits(text: string): void {
    const chars = countCharacters(text);
    if (chars > this.limits.maxTextChars) {
      throw GatewayException.invalidField(
        'text',
        `text is ${chars} characters long; the limit is ${this.limits.maxTextChars} (MAX_TEXT_CHARS)`,
      );
    }
    const bytes = utf8ByteLength(text);
    if (bytes > this.limits.maxTextBytes) {
      throw GatewayException.invalidField(
        'text',
        `text is ${bytes} bytes of UTF-8; the limit is ${this.limits.maxTextBytes} (MAX_TEXT_BYTES)`,
      );
    }
  }

  private async assertAvailable(providerId: ProviderId, field: string): Promise<void> {
    const retryAfter = this.resilience.retryAfterSeconds(providerId);
    if (retryAfter !== undefined) {
      throw new GatewayException(
        ErrorCode.ProviderUnavailable,
        `provider "${providerId}" is temporarily unavailable after repeated failures; retry in ${retryAfter} s or choose another provider`,
        { field, retryAfterSeconds: retryAfter },
      );
    }
    const health = await this.registry.checkHealth(providerId);
    if (!health.up) {
      throw new GatewayException(
        ErrorCode.ProviderUnavailable,
        `provider "${providerId}" is unavailable: ${health.reason ?? 'health check failed'}`,
        { field, retryAfterSeconds: 30 },
      );
    }
  }

  private async resolveFallbacks(
    ids: string[],
    primary: ProviderId,
    language: string,
  ): Promise<SessionFallback[]> {
    const fallbacks: SessionFallback[] = [];
    for (const [index, id] of ids.entries()) {
      const field = `fallback_providers[${index}]`;
      const provider = this.registry.get(id, field);
      if (provider.id === primary || fallbacks.some((f) => f.provider === provider.id)) continue;
      try {
        const resolved = await this.voices.resolve({ provider: provider.id, language }, () =>
          Promise.resolve(provider.id),
        );
        fallbacks.push({ provider: provider.id, voice: resolved.voice.id });
      } catch (error) {
        if (error instanceof GatewayException) {
          throw new GatewayException(error.code, `${field}: ${error.message}`, { ...error.details, field });
        }
        throw error;
      }
    }
    return fallbacks;
  }
}
