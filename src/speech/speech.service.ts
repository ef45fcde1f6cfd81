import { Inject, Injectable } from '@nestjs/common';
import { resilienceConfig, type ResilienceConfig } from '../config/configuration';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { VoiceGender } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import type { SynthesisAttempt, SynthesisPlan } from '../synthesis/synthesis.types';
import { sourceOf } from '../sessions/sessions.service';
import { prepareText } from '../text/prepare';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { VoicesService, type ResolvedVoice } from '../voices/voices.service';
import { ModelListDto, SpeechVoiceListDto } from './speech-extras.dto';
import { OPENAI_VOICE_NAMES, type CreateSpeechDto, type SpeechFormat } from './speech.dto';

/** Model names OpenAI clients send; all are served by the default provider (a provider id picks one). */
export const OPENAI_MODEL_NAMES = ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts'] as const;

/** OpenAI's `pcm` (and every format of this route) is 24 kHz mono, whatever the engine's native rate. */
export const SPEECH_SAMPLE_RATE = 24000;

/** OpenAI voices by the gender they are usually heard as; `alloy` is left neutral. */
const OPENAI_VOICE_GENDER: Partial<Record<string, VoiceGender>> = {
  ash: 'male',
  ballad: 'male',
  cedar: 'male',
  echo: 'male',
  fable: 'male',
  onyx: 'male',
  verse: 'male',
  coral: 'female',
  marin: 'female',
  nova: 'female',
  sage: 'female',
  shimmer: 'female',
};

/**
 * Which of the engine's voices of that gender each OpenAI name gets (0 = the best match): the names of one
 * gender land on different voices, so `nova` and `shimmer` do not sound alike (espeak: its variants).
 */
const OPENAI_VOICE_RANK: Partial<Record<string, number>> = {
  // alloy (no gender) takes the engine's best voice, which is often male: the male names start at 1.
  alloy: 0,
  echo: 1,
  fable: 2,
  onyx: 3,
  ash: 4,
  ballad: 5,
  verse: 6,
  cedar: 7,
  nova: 0,
  shimmer: 1,
  coral: 2,
  sage: 3,
  marin: 4,
};

export function speechAudioFormat(format: SpeechFormat): AudioFormat {
  return format === 'pcm' ? 'pcm16' : format;
}

/**
 * Maps an OpenAI speech request onto the gateway: the provider comes from `provider`, else from `model` when
 * it names one, else the default; the voice is a gateway voice id when one matches, else an OpenAI voice name
 * mapped to the provider's voice of that gender (engines that have the name natively, such as an
 * OpenAI-compatible server, keep it).
 */
@Injectable()
export class SpeechService {
  constructor(
    private readonly voices: VoicesService,
    private readonly registry: ProviderRegistry,
    private readonly transcode: TranscodeService,
    @Inject(resilienceConfig.KEY) private readonly resilience: ResilienceConfig,
  ) {}

  async plan(
    dto: CreateSpeechDto,
    limits: { maxChars: number; maxAudioSeconds: number; providers?: readonly string[] },
    client: string,
  ): Promise<{ plan: SynthesisPlan; voice: ResolvedVoice }> {
    const maxChars = limits.maxChars;
    if ([...dto.input].length > maxChars) {
      throw GatewayException.invalidField(
        'input',
        `input is longer than ${maxChars} characters (MAX_TEXT_CHARS)`,
      );
    }
    const format = speechAudioFormat(dto.response_format ?? 'mp3');
    this.transcode.assertSupported(format, 'response_format');
    const voice = await this.resolveVoice(dto, limits.providers);
    const prepared = prepareText(dto.input, dto.text_format ?? 'text', voice.language);
    const request = (v: ResolvedVoice) => ({
      text: prepared.spokenText,
      voice: v.voice,
      language: voice.language,
      speed: dto.speed ?? 1,
    });
    const fallbacks = await this.defaultFallbacks(dto, voice, limits.providers);
    const plan: SynthesisPlan = {
      attempts: [
        { providerId: voice.provider.id, request: request(voice) },
        ...fallbacks.map((f): SynthesisAttempt => ({ providerId: f.provider.id, request: request(f) })),
      ],
      format,
      sampleRate: SPEECH_SAMPLE_RATE,
      source: sourceOf(client, dto.input, voice.voice.id),
      maxAudioSeconds: limits.maxAudioSeconds,
      ...(prepared.segments ? { segments: prepared.segments } : {}),
      cache: dto.cache ?? true,
    };
    return { plan, voice };
  }

  /** `GET /v1/models`: OpenAI's model names (served by the default provider) and one per provider id. */
  models(): ModelListDto {
    const created = Math.floor(Date.parse('2026-01-01T00:00:00Z') / 1000);
    const ids = [...OPENAI_MODEL_NAMES, ...this.registry.ids()];
    return {
      object: 'list',
      data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'tts-gateway' })),
    };
  }

  /** `GET /v1/audio/voices`: OpenAI's names and every gateway voice id, as Kokoro-FastAPI lists them. */
  async voiceList(): Promise<SpeechVoiceListDto> {
    const catalog = await this.voices.catalog();
    const ids = catalog.flatMap((entry) => entry.voices.map((v) => v.id));
    return { voices: [...new Set([...OPENAI_VOICE_NAMES, ...ids])] };
  }

  /**
   * DEFAULT_FALLBACK_PROVIDERS, as sessions use them when they name none: tried in order before the first
   * audio (the response is held until then, so a failover is invisible to the client). Each gets its voice
   * for the request's language (an OpenAI voice name: its voice of that gender); a default that is not
   * enabled, not allowed for the key or has no such voice is skipped.
   */
  private async defaultFallbacks(
    dto: CreateSpeechDto,
    primary: ResolvedVoice,
    allowedProviders?: readonly string[],
  ): Promise<ResolvedVoice[]> {
    const name = dto.voice.toLowerCase();
    const openaiName = (OPENAI_VOICE_NAMES as readonly string[]).includes(name);
    const fallbacks: ResolvedVoice[] = [];
    for (const id of this.resilience.defaultFallbacks) {
      if (id === primary.provider.id || fallbacks.some((f) => f.provider.id === id)) continue;
      if (!this.registry.has(id) || (allowedProviders && !allowedProviders.includes(id))) continue;
      const self = () => Promise.resolve(id);
      try {
        fallbacks.push(
          openaiName
            ? await this.voices.pickRanked(
                { provider: id, language: primary.language, gender: OPENAI_VOICE_GENDER[name] },
                OPENAI_VOICE_RANK[name] ?? 0,
                self,
              )
            : await this.voices.resolve({ provider: id, language: primary.language }, self),
        );
      } catch (error) {
        // A configured default that does not fit this request is skipped, as for sessions.
        if (!(error instanceof GatewayException)) throw error;
      }
    }
    return fallbacks;
  }

  private async resolveVoice(
    dto: CreateSpeechDto,
    allowedProviders?: readonly string[],
  ): Promise<ResolvedVoice> {
    const provider = dto.provider ?? (this.registry.has(dto.model) ? dto.model : undefined);
    const language = dto.language ?? (dto.lang_code && dto.lang_code.length >= 2 ? dto.lang_code : undefined);
    const defaultProvider = () => this.registry.defaultProviderId(allowedProviders);
    try {
      return await this.voices.resolve({ provider, voice: dto.voice, language }, defaultProvider);
    } catch (error) {
      const name = dto.voice.toLowerCase();
      if (!(error instanceof GatewayException) || error.code !== ErrorCode.VoiceNotFound) throw error;
      if (!(OPENAI_VOICE_NAMES as readonly string[]).includes(name)) {
        throw new GatewayException(
          ErrorCode.VoiceNotFound,
          `${error.message}; OpenAI voice names are accepted too: ${OPENAI_VOICE_NAMES.join(', ')}`,
          { field: 'voice' },
        );
      }
      return this.voices.pickRanked(
        { provider, language, gender: OPENAI_VOICE_GENDER[name] },
        OPENAI_VOICE_RANK[name] ?? 0,
        defaultProvider,
      );
    }
  }
}
