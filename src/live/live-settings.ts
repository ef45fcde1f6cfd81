import { Inject, Injectable } from '@nestjs/common';
import type { Caller } from '../auth/caller';
import { UsageService } from '../auth/usage.service';
import { GatewayException } from '../common/errors/gateway.exception';
import { resilienceConfig, type ResilienceConfig } from '../config/configuration';
import type { ProviderId, SynthesisRequest, Voice } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import { assertSomeoneCanServe } from '../synthesis/provider-availability';
import { ProviderResilienceService } from '../synthesis/provider-resilience.service';
import type { SynthesisAttempt } from '../synthesis/synthesis.types';
import { TEXT_FORMATS, type TextFormat } from '../text/prepare';
import {
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  STREAM_FORMATS,
  isStreamFormat,
  type StreamFormat,
} from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { VoicesService } from '../voices/voices.service';

/** What a client may set for a context: in the socket's query (defaults) or in `start`. */
export interface LiveSettingsInput {
  provider?: string;
  voice?: string;
  language?: string;
  target_format?: StreamFormat;
  sample_rate_hz?: number;
  speed?: number;
  timings?: 'words' | 'none';
  /** "text" (default), "ssml" or "markdown": read incrementally (`live-text-filter.ts`). */
  text_format?: TextFormat;
  fallback_providers?: string[];
}

export const LIVE_SETTING_FIELDS = [
  'provider',
  'voice',
  'language',
  'target_format',
  'sample_rate_hz',
  'speed',
  'timings',
  'text_format',
  'fallback_providers',
] as const;

/** A context's settings once resolved: who speaks, in which format, and the attempts of every sentence. */
export interface ContextSettings {
  readonly provider: ProviderId;
  readonly voice: string;
  readonly language: string;
  readonly format: StreamFormat;
  readonly sampleRate: number;
  readonly speed: number;
  readonly timings: boolean;
  /** The provider then its fallbacks; each sentence's request is one of these with its text. */
  readonly attempts: readonly SynthesisAttempt[];
}

const MAX_FALLBACKS = 5;
const numeric = /^\s*-?\d+(\.\d+)?\s*$/;

/**
 * Reads settings from the query (strings) or a `start` message (JSON values), with the session API's rules
 * and messages: numeric strings are accepted for `sample_rate_hz` and `speed`, unknown `start` fields are
 * refused so typos do not pass silently. Throws `validation_failed` naming the field.
 */
export function parseLiveSettings(
  raw: Record<string, unknown>,
  origin: 'query' | 'start',
): LiveSettingsInput {
  const out: LiveSettingsInput = {};
  const string = (field: string, max: number): string | undefined => {
    const value = raw[field];
    if (value === undefined || value === null || (origin === 'query' && value === '')) return undefined;
    if (typeof value !== 'string') throw GatewayException.invalidField(field, `${field} must be a string`);
    if (value.length > max)
      throw GatewayException.invalidField(field, `${field} must be at most ${max} characters`);
    return value;
  };
  const number = (field: string): number | undefined => {
    const value = raw[field];
    if (value === undefined || value === null || (origin === 'query' && value === '')) return undefined;
    if (typeof value === 'number') return value;
    if (typeof value === 'string' && numeric.test(value)) return Number(value);
    return NaN;
  };

  out.provider = string('provider', 64);
  out.voice = string('voice', 200);
  out.language = string('language', 64);
  const format = string('target_format', 16);
  if (format !== undefined) {
    if (!isStreamFormat(format))
      throw GatewayException.invalidField(
        'target_format',
        `target_format must be one of: ${STREAM_FORMATS.join(', ')}`,
        STREAM_FORMATS,
      );
    out.target_format = format;
  }
  const rate = number('sample_rate_hz');
  if (rate !== undefined) {
    if (!Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE)
      throw GatewayException.invalidField(
        'sample_rate_hz',
        `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`,
      );
    out.sample_rate_hz = rate;
  }
  const speed = number('speed');
  if (speed !== undefined) {
    if (!Number.isFinite(speed) || speed < 0.25 || speed > 4)
      throw GatewayException.invalidField('speed', 'speed must be a number from 0.25 to 4');
    out.speed = speed;
  }
  const timings = string('timings', 16);
  if (timings !== undefined) {
    if (timings !== 'words' && timings !== 'none')
      throw GatewayException.invalidField('timings', 'timings must be "words" or "none"', ['words', 'none']);
    out.timings = timings;
  }
  const textFormat = string('text_format', 16);
  if (textFormat !== undefined) {
    if (!(TEXT_FORMATS as readonly string[]).includes(textFormat))
      throw GatewayException.invalidField(
        'text_format',
        `text_format must be one of: ${TEXT_FORMATS.join(', ')}`,
        TEXT_FORMATS,
      );
    out.text_format = textFormat as TextFormat;
  }
  const fallbacks = raw.fallback_providers;
  if (fallbacks !== undefined && fallbacks !== null && fallbacks !== '') {
    const list =
      origin === 'query' && typeof fallbacks === 'string'
        ? fallbacks
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : fallbacks;
    if (!Array.isArray(list) || list.some((p) => typeof p !== 'string'))
      throw GatewayException.invalidField(
        'fallback_providers',
        'fallback_providers must be an array of provider ids',
      );
    if (list.length > MAX_FALLBACKS)
      throw GatewayException.invalidField(
        'fallback_providers',
        `fallback_providers may list at most ${MAX_FALLBACKS} providers`,
      );
    out.fallback_providers = list as string[];
  }
  return out;
}

/** `start` settings over the query's: a field given in `start` wins. */
export function mergeSettings(defaults: LiveSettingsInput, override: LiveSettingsInput): LiveSettingsInput {
  const merged: LiveSettingsInput = { ...defaults };
  for (const [key, value] of Object.entries(override) as [keyof LiveSettingsInput, unknown][])
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  return merged;
}

/**
 * Turns settings into what a context synthesizes with, by the rules of session creation: format and rate
 * checked by the transcoder, provider/voice/language bound together by `VoicesService`, fallbacks with
 * their best voice for the language (configured defaults that do not fit are skipped), the caller's API key
 * limits (providers, voices), and a 503 when neither the provider nor a fallback can serve now.
 */
@Injectable()
export class LiveSettingsResolver {
  constructor(
    private readonly voices: VoicesService,
    private readonly registry: ProviderRegistry,
    private readonly transcode: TranscodeService,
    private readonly resilience: ProviderResilienceService,
    private readonly usage: UsageService,
    @Inject(resilienceConfig.KEY) private readonly resilienceSettings: ResilienceConfig,
  ) {}

  /**
   * What can be checked without waiting (a socket's query, at connect): an enabled provider and fallbacks,
   * an available format and a rate it allows. Throws the error `resolve` would.
   */
  assertPlausible(input: LiveSettingsInput): void {
    if (input.provider !== undefined) this.registry.get(input.provider);
    for (const [index, id] of (input.fallback_providers ?? []).entries())
      this.registry.get(id, `fallback_providers[${index}]`);
    if (input.target_format) {
      this.transcode.assertSupported(input.target_format);
      this.transcode.resolveSampleRate(input.target_format, input.sample_rate_hz);
    }
  }

  async resolve(input: LiveSettingsInput, caller: Caller): Promise<ContextSettings> {
    const format = input.target_format;
    if (!format) {
      throw GatewayException.invalidField(
        'target_format',
        `target_format is required, in the query (?target_format=pcm16) or in "start"; one of: ${STREAM_FORMATS.join(', ')}`,
        STREAM_FORMATS,
      );
    }
    this.transcode.assertSupported(format);
    const sampleRate = this.transcode.resolveSampleRate(format, input.sample_rate_hz);
    // A key limited to some providers gets its default among them, and nothing it may not use.
    const resolved = await this.voices.resolve(
      { provider: input.provider, voice: input.voice, language: input.language },
      () => this.registry.defaultProviderId(caller.key?.limits.providers),
    );
    this.usage.assertAllowed(caller, {
      provider: resolved.provider.id,
      voice: resolved.voice.id,
      textChars: 0,
    });
    const speed = input.speed ?? 1;
    const language = resolved.language;
    const fallbacks = await this.fallbacks(
      input.fallback_providers ?? this.resilienceSettings.defaultFallbacks,
      resolved.provider.id,
      language,
      input.fallback_providers === undefined,
      caller,
    );
    await assertSomeoneCanServe(
      { registry: this.registry, resilience: this.resilience },
      resolved.provider.id,
      fallbacks.map((f) => f.providerId),
    );
    const request = (voice: SynthesisRequest['voice']): SynthesisRequest => ({
      text: '',
      voice,
      language,
      speed,
    });
    return {
      provider: resolved.provider.id,
      voice: resolved.voice.id,
      language,
      format,
      sampleRate,
      speed,
      timings: input.timings === 'words',
      attempts: [
        { providerId: resolved.provider.id, request: request(resolved.voice) },
        ...fallbacks.map((f) => ({ providerId: f.providerId, request: request(f.voice) })),
      ],
    };
  }

  /**
   * An SSML `<voice name>` as a voice of `provider`: by id, else by name, as for sessions; undefined when it
   * has none (the context's voice is used).
   */
  async segmentVoice(provider: ProviderId, name: string): Promise<Voice | undefined> {
    try {
      const [entry] = await this.voices.catalog({ provider });
      const voices = entry?.voices ?? [];
      const lower = name.toLowerCase();
      return voices.find((v) => v.id === name) ?? voices.find((v) => v.name.toLowerCase().includes(lower));
    } catch {
      // A catalog that cannot be listed now: the segment keeps the context's voice.
      return undefined;
    }
  }

  private async fallbacks(
    ids: readonly string[],
    primary: ProviderId,
    language: string,
    lenient: boolean,
    caller: Caller,
  ): Promise<{ providerId: ProviderId; voice: SynthesisRequest['voice'] }[]> {
    const out: { providerId: ProviderId; voice: SynthesisRequest['voice'] }[] = [];
    for (const [index, id] of ids.entries()) {
      const field = `fallback_providers[${index}]`;
      if (lenient && !this.registry.has(id)) continue;
      const provider = this.registry.get(id, field);
      if (provider.id === primary || out.some((f) => f.providerId === provider.id)) continue;
      try {
        const resolved = await this.voices.resolve({ provider: provider.id, language }, () =>
          Promise.resolve(provider.id),
        );
        // Within the key's providers and voices: a named fallback outside them is refused, a default skipped.
        this.usage.assertAllowed(caller, { provider: provider.id, voice: resolved.voice.id, textChars: 0 });
        out.push({ providerId: provider.id, voice: resolved.voice });
      } catch (error) {
        if (lenient) continue;
        if (error instanceof GatewayException)
          throw new GatewayException(error.code, `${field}: ${error.message}`, { ...error.details, field });
        throw error;
      }
    }
    return out;
  }
}
