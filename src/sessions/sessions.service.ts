import { Inject, Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { createHash, randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import {
  appConfig,
  limitsConfig,
  resilienceConfig,
  type AppConfig,
  type LimitsConfig,
  type ResilienceConfig,
} from '../config/configuration';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { PublicUrls } from '../common/request-origin';
import type { Caller } from '../auth/caller';
import { UsageService } from '../auth/usage.service';
import { WsTokens } from '../auth/ws-tokens';
import { countCharacters, utf8ByteLength } from '../common/text/normalize-text';
import { ShutdownState } from '../health/shutdown.state';
import { METRIC } from '../metrics/metric-names';
import type { ProviderId, SynthesisRequest, Voice } from '../providers/provider.contract';
import { engineSsmlWarnings, prepareText, type PreparedText } from '../text/prepare';
import { ProviderRegistry } from '../providers/provider.registry';
import { assertSomeoneCanServe } from '../synthesis/provider-availability';
import { ProviderResilienceService } from '../synthesis/provider-resilience.service';
import { ReplayStore } from '../synthesis/replay/replay-store';
import type { SynthesisAttempt, SynthesisPlan, SynthesisSource } from '../synthesis/synthesis.types';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { VoicesService } from '../voices/voices.service';
import type { CreateSessionDto } from './dto/create-session.dto';
import type { SessionDto } from './dto/session-response.dto';
import { FINAL_STATUSES, type Session, type SessionFallback } from './session.model';
import { SessionStore } from './session.store';
import { SessionStreams } from './session-streams';

/** Who is asking and where they reached us. */
export interface RequestContext {
  caller: Caller;
  urls: PublicUrls;
  /** The `text` exactly as sent (before normalization), for word-timing offsets. */
  rawText?: unknown;
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
    private readonly streams: SessionStreams,
    private readonly replay: ReplayStore,
    private readonly shutdown: ShutdownState,
    private readonly usage: UsageService,
    private readonly tokens: WsTokens,
    @Inject(limitsConfig.KEY) private readonly limits: LimitsConfig,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
    @Inject(resilienceConfig.KEY) private readonly resilienceSettings: ResilienceConfig,
    @InjectMetric(METRIC.sessionsTotal) private readonly sessionsTotal: Counter<string>,
  ) {}

  async create(dto: CreateSessionDto, context: RequestContext): Promise<SessionDto> {
    this.refuseWhileDraining();
    this.checkTextLimits(dto.text);
    this.transcode.assertSupported(dto.target_format);
    const sampleRateHz = this.transcode.resolveSampleRate(dto.target_format, dto.sample_rate_hz);

    const caller = context.caller;
    // A key limited to some providers gets its default among them.
    const resolved = await this.voices.resolve(dto, () =>
      this.registry.defaultProviderId(caller.key?.limits.providers),
    );
    const textFormat = dto.text_format ?? 'text';
    const prepared = prepareText(dto.text, textFormat, resolved.language);
    if (prepared.spokenText === '' && !prepared.segments?.some((s) => s.breakAfterMs > 0)) {
      throw GatewayException.invalidField(
        'text',
        `text has nothing to say once its ${textFormat} markup is removed`,
      );
    }
    const warnings = [
      ...prepared.warnings,
      ...engineSsmlWarnings(prepared, resolved.provider.id),
      ...(await this.unknownSsmlVoices(prepared, resolved.provider.id)),
    ];
    this.usage.assertAllowed(caller, {
      provider: resolved.provider.id,
      voice: resolved.voice.id,
      textChars: countCharacters(dto.text),
    });
    const requested = dto.fallback_providers ?? this.resilienceSettings.defaultFallbacks;
    const fallbacks = await this.resolveFallbacks(
      requested,
      resolved.provider.id,
      resolved.language,
      !dto.fallback_providers,
      (fallback) => this.usage.assertAllowed(caller, { ...fallback, textChars: countCharacters(dto.text) }),
    );
    // The primary may be down or its circuit open, as long as a fallback can serve: that is the moment
    // fallbacks exist for.
    await assertSomeoneCanServe(
      { registry: this.registry, resilience: this.resilience },
      resolved.provider.id,
      fallbacks.map((f) => f.provider),
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
      failover: dto.failover ?? 'before_audio',
      client: caller.id,
      textFormat,
      ...(typeof context.rawText === 'string' && context.rawText !== dto.text && textFormat === 'text'
        ? { sourceText: context.rawText }
        : {}),
      warnings,
      cache: dto.cache ?? true,
      ...(dto.frame_ms !== undefined ? { frameMs: dto.frame_ms } : {}),
      pace: dto.pace ?? 'asap',
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      expiresAt: now.getTime() + this.limits.sessionTtlSeconds * 1000,
      chunksSent: 0,
      bytesSent: 0,
      audioMs: 0,
    };
    await this.usage.spendCharacters(caller, countCharacters(dto.text));
    await this.store.insert(session);
    // MP3/Opus: the codec threads start while the client opens its WebSocket, not after.
    this.transcode.prepare(session.targetFormat);
    this.sessionsTotal.inc({ provider: session.provider, format: session.targetFormat });
    this.usage.record(caller.id, { sessions: 1, characters: countCharacters(dto.text) });
    return this.toDto(session, context.urls, await this.tokens.forSession(session.id, caller));
  }

  /**
   * The session, if it exists and — with API keys — belongs to `callerId`. Another key's session answers
   * exactly like an unknown one (no existence oracle). Without `callerId` (internal use) no check.
   */
  async get(id: string, callerId?: string): Promise<Session> {
    const session = UUID.test(id) ? await this.store.get(id) : undefined;
    if (!session || (callerId !== undefined && this.tokens.enabled && session.client !== callerId))
      throw new GatewayException(ErrorCode.SessionNotFound, `session "${id}" does not exist or has expired`);
    return session;
  }

  /** The session as its owner sees it, with a fresh single-use stream token in `ws_url` when keys are on. */
  async dtoFor(session: Session, caller: Caller, urls: PublicUrls): Promise<SessionDto> {
    return this.toDto(session, urls, await this.tokens.forSession(session.id, caller));
  }

  /**
   * Cancels a session: a running stream is stopped (its client gets `cancelled`), a pending one never
   * starts, and the text and any retained audio are purged (the session stays visible as `cancelled`).
   */
  async cancel(id: string, callerId?: string): Promise<void> {
    const session = await this.get(id, callerId);
    const cancelled = new GatewayException(ErrorCode.Cancelled, 'the session was cancelled (DELETE)');
    const running = this.streams.get(id);
    await this.streams.cancel(id, cancelled);
    const purge = { text: '', purged: true } as const;
    if (FINAL_STATUSES.includes(session.status)) {
      await this.store.update(id, purge);
    } else {
      await this.store.transition(id, ['pending', 'streaming'], {
        ...purge,
        status: 'cancelled',
        finishedAt: new Date().toISOString(),
        error: { code: cancelled.code, message: cancelled.message },
      });
      // A stream that was still ending may have written its own final status; the purge holds regardless.
      await this.store.update(id, purge);
    }
    // A running stream's reader still has to relay its `cancelled` frame: drop the audio once it settled.
    if (running) void running.done.then(() => setTimeout(() => this.replay.drop(id), 2000).unref());
    else this.replay.drop(id);
  }

  /** Marks a pending session as streaming; undefined when it is not pending (already streamed, cancelled). */
  claimForStreaming(id: string): Promise<Session | undefined> {
    return this.store.transition(id, ['pending'], {
      status: 'streaming',
      startedAt: new Date().toISOString(),
    });
  }

  /**
   * The plan the synthesis runs for this session: its provider, then its fallbacks; the session's format
   * and rate unless the caller (the file route) asks for others.
   */
  async planFor(
    session: Session,
    options: { format?: AudioFormat; sampleRateHz?: number; wholeFile?: boolean; timings?: boolean } = {},
  ): Promise<SynthesisPlan> {
    const format = options.format ?? session.targetFormat;
    const prepared = prepareText(session.text, session.textFormat ?? 'text', session.language);
    const attempts: SynthesisAttempt[] = [];
    for (const { provider, voice } of [
      { provider: session.provider, voice: session.voice },
      ...session.fallbacks,
    ]) {
      const resolved = await this.voices.resolve({ provider, voice }, () => Promise.resolve(provider));
      const request: SynthesisRequest = {
        text: prepared.spokenText,
        voice: resolved.voice,
        language: session.language,
        speed: session.speed,
        sessionId: session.id,
      };
      const segmentVoices = prepared.segments ? await this.ssmlVoices(prepared, provider) : undefined;
      attempts.push({ providerId: provider, request, ...(segmentVoices ? { segmentVoices } : {}) });
    }
    return {
      attempts,
      format,
      sampleRate: this.fileSampleRate(session, format, options.sampleRateHz),
      wholeFile: options.wholeFile,
      failover: session.failover,
      source: sourceOf(session.client, session.text, session.voice),
      maxAudioSeconds: this.limits.maxAudioSeconds,
      ...(prepared.segments ? { segments: prepared.segments } : {}),
      cache: session.cache ?? true,
      ...(options.timings ? { timings: true } : {}),
    };
  }

  toDto(session: Session, urls: PublicUrls, token?: string): SessionDto {
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
      failover: session.failover,
      text_format: session.textFormat ?? 'text',
      warnings: session.warnings ?? [],
      cache: session.cache ?? true,
      ...(session.frameMs !== undefined ? { frame_ms: session.frameMs } : {}),
      pace: session.pace ?? 'asap',
      ...(session.servedFrom ? { served_from: session.servedFrom } : {}),
      content_type: this.transcode.spec(session.targetFormat).contentType,
      ws_url: `${urls.ws}/v1/tts/stream/${session.id}${token ? `?token=${token}` : ''}`,
      file_url: `${urls.http}/v1/tts/sessions/${session.id}/file`,
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

  /** SSML `<voice name>` values as voices of `provider` (by id, else by name); unknown names are left out. */
  private async ssmlVoices(prepared: PreparedText, provider: ProviderId): Promise<Record<string, Voice>> {
    const names = [...new Set((prepared.segments ?? []).map((s) => s.voice).filter((v): v is string => !!v))];
    const out: Record<string, Voice> = {};
    if (names.length === 0) return out;
    const [{ voices }] = await this.voices.catalog({ provider });
    for (const name of names) {
      const lower = name.toLowerCase();
      const voice =
        voices.find((v) => v.id === name) ?? voices.find((v) => v.name.toLowerCase().includes(lower));
      if (voice) out[name] = voice;
    }
    return out;
  }

  private async unknownSsmlVoices(prepared: PreparedText, provider: ProviderId): Promise<string[]> {
    if (!prepared.segments) return [];
    const known = await this.ssmlVoices(prepared, provider);
    const names = [...new Set(prepared.segments.map((s) => s.voice).filter((v): v is string => !!v))];
    return names
      .filter((n) => !known[n])
      .map((n) => `voice "${n}" is not a voice of provider "${provider}"; the session's voice is used`);
  }

  /** During a drain new work goes elsewhere: 503 `shutting_down` with Retry-After. */
  refuseWhileDraining(): void {
    if (this.shutdown.draining) {
      throw new GatewayException(
        ErrorCode.ShuttingDown,
        'this gateway replica is shutting down; retry (another replica will take the request)',
        { retryAfterSeconds: 1 },
      );
    }
  }

  /**
   * A file keeps the session's rate when its format allows it (`?format=` alone does not reset it), takes
   * `sample_rate_hz` when given, and otherwise the format's default.
   */
  private fileSampleRate(session: Session, format: AudioFormat, requested: number | undefined): number {
    if (requested !== undefined) return this.transcode.resolveSampleRate(format, requested);
    try {
      return this.transcode.resolveSampleRate(format, session.sampleRateHz, 'format');
    } catch {
      return this.transcode.resolveSampleRate(format, undefined, 'format');
    }
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

  /**
   * Each fallback with its best voice for the session language. Asked-for fallbacks must exist and speak
   * the language (400 naming the entry); configured defaults (DEFAULT_FALLBACK_PROVIDERS) that do not fit
   * this session are skipped.
   */
  private async resolveFallbacks(
    ids: readonly string[],
    primary: ProviderId,
    language: string,
    lenient: boolean,
    /** Throws when the caller's API key may not use this provider or voice (its `providers`, `voices`). */
    assertAllowed: (fallback: { provider: string; voice: string }) => void,
  ): Promise<SessionFallback[]> {
    const fallbacks: SessionFallback[] = [];
    for (const [index, id] of ids.entries()) {
      const field = `fallback_providers[${index}]`;
      if (lenient && !this.registry.has(id)) continue;
      const provider = this.registry.get(id, field);
      if (provider.id === primary || fallbacks.some((f) => f.provider === provider.id)) continue;
      try {
        const resolved = await this.voices.resolve({ provider: provider.id, language }, () =>
          Promise.resolve(provider.id),
        );
        // A key limited to some providers or voices gets fallbacks within them only: named ones are refused
        // (400 naming the entry), default ones (DEFAULT_FALLBACK_PROVIDERS) skipped.
        assertAllowed({ provider: provider.id, voice: resolved.voice.id });
        fallbacks.push({ provider: provider.id, voice: resolved.voice.id });
      } catch (error) {
        if (lenient) continue;
        if (error instanceof GatewayException) {
          throw new GatewayException(error.code, `${field}: ${error.message}`, { ...error.details, field });
        }
        throw error;
      }
    }
    return fallbacks;
  }
}

/** The breaker's view of who asked what: the client, and a digest of the text and voice. */
export function sourceOf(client: string, text: string, voice: string): SynthesisSource {
  return {
    client,
    input: createHash('sha256').update(voice).update('\0').update(text).digest('base64url').slice(0, 22),
  };
}
