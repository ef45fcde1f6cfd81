import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { VoiceGender } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import type { SynthesisPlan } from '../streaming/tts.service';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { VoicesService, type ResolvedVoice } from '../voices/voices.service';
import { OPENAI_VOICE_NAMES, type CreateSpeechDto, type SpeechFormat } from './speech.dto';

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
  ) {}

  async plan(dto: CreateSpeechDto, maxChars: number): Promise<{ plan: SynthesisPlan; voice: ResolvedVoice }> {
    if ([...dto.input].length > maxChars) {
      throw GatewayException.invalidField(
        'input',
        `input is longer than ${maxChars} characters (MAX_TEXT_CHARS)`,
      );
    }
    const format = speechAudioFormat(dto.response_format ?? 'mp3');
    this.transcode.assertSupported(format, 'response_format');
    const voice = await this.resolveVoice(dto);
    const plan: SynthesisPlan = {
      attempts: [
        {
          providerId: voice.provider.id,
          request: { text: dto.input, voice: voice.voice, language: voice.language, speed: dto.speed ?? 1 },
        },
      ],
      format,
      sampleRate: SPEECH_SAMPLE_RATE,
    };
    return { plan, voice };
  }

  private async resolveVoice(dto: CreateSpeechDto): Promise<ResolvedVoice> {
    const provider = dto.provider ?? (this.registry.has(dto.model) ? dto.model : undefined);
    const language = dto.language ?? (dto.lang_code && dto.lang_code.length >= 2 ? dto.lang_code : undefined);
    const defaultProvider = () => this.registry.defaultProviderId();
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
      return this.voices.resolve({ provider, language, gender: OPENAI_VOICE_GENDER[name] }, defaultProvider);
    }
  }
}
