import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { normalizeForFormat, TEXT_FORMATS, type TextFormat } from '../text/prepare';
import { OPENAI_BUILTIN_VOICES } from '../providers/openai/openai-voices';

export const SPEECH_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
export type SpeechFormat = (typeof SPEECH_FORMATS)[number];

/** OpenAI's voice names (the tts-1 set plus the newer gpt-4o-mini-tts ones), mapped onto gateway voices. */
export const OPENAI_VOICE_NAMES = [...OPENAI_BUILTIN_VOICES, 'marin', 'cedar'] as const;

/**
 * Body of `POST /v1/audio/speech`, field for field OpenAI's, plus two gateway extensions (`provider`,
 * `language`) and the extension fields other compatible servers accept (`stream`, `lang_code`), which are
 * taken and ignored where they mean nothing here.
 */
export class CreateSpeechDto {
  @ApiProperty({
    example: 'tts-1',
    description:
      'Opaque model name (tts-1, gpt-4o-mini-tts, ...); a gateway provider id (espeak, mock_tone, ...) selects that provider.',
  })
  @IsDefined({ message: 'model is required (for example "tts-1", or a provider id such as "espeak")' })
  @IsString({ message: 'model must be a string' })
  @IsNotEmpty({ message: 'model must not be empty' })
  @MaxLength(200, { message: 'model must be at most 200 characters' })
  model: string;

  @ApiProperty({ example: 'The quick brown fox jumped over the lazy dog.', description: 'Text to speak.' })
  @Transform(({ value, obj }: { value: unknown; obj: { text_format?: unknown } }) =>
    normalizeForFormat(value, obj.text_format),
  )
  @IsString({ message: 'input must be a string' })
  @IsNotEmpty({ message: 'input must not be empty' })
  input: string;

  @ApiProperty({
    example: 'alloy',
    description: `An OpenAI voice name (${OPENAI_VOICE_NAMES.join(', ')}), a gateway voice id (GET /v1/voices), or {"id": "..."}.`,
    oneOf: [{ type: 'string' }, { type: 'object', properties: { id: { type: 'string' } } }],
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string'
      ? (value as { id: string }).id
      : value,
  )
  @IsString({ message: 'voice must be a voice name or {"id": "<voice id>"}' })
  @IsNotEmpty({ message: 'voice must not be empty' })
  voice: string;

  @ApiPropertyOptional({ enum: SPEECH_FORMATS, default: 'mp3' })
  @IsOptional()
  @IsIn(SPEECH_FORMATS, { message: `response_format must be one of: ${SPEECH_FORMATS.join(', ')}` })
  response_format?: SpeechFormat;

  @ApiPropertyOptional({ minimum: 0.25, maximum: 4, default: 1 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'speed must be a number from 0.25 to 4' })
  @Min(0.25, { message: 'speed must be a number from 0.25 to 4' })
  @Max(4, { message: 'speed must be a number from 0.25 to 4' })
  speed?: number;

  @ApiPropertyOptional({ enum: ['audio', 'sse'], default: 'audio' })
  @IsOptional()
  @IsIn(['audio', 'sse'], { message: 'stream_format must be one of: audio, sse' })
  stream_format?: 'audio' | 'sse';

  @ApiPropertyOptional({
    description: 'Accepted for compatibility; the gateway engines do not take style instructions.',
  })
  @IsOptional()
  @IsString({ message: 'instructions must be a string' })
  @MaxLength(4096, { message: 'instructions must be at most 4096 characters' })
  instructions?: string;

  @ApiPropertyOptional({
    description: 'Gateway extension: the provider to use (default: from model, else DEFAULT_PROVIDER).',
  })
  @IsOptional()
  @IsString({ message: 'provider must be a string' })
  provider?: string;

  @ApiPropertyOptional({ example: 'en-US', description: 'Gateway extension: BCP-47 language of the input.' })
  @IsOptional()
  @IsString({ message: 'language must be a string' })
  language?: string;

  @ApiPropertyOptional({
    description: 'Accepted for compatibility (Kokoro-FastAPI); responses always stream.',
  })
  @IsOptional()
  @IsBoolean({ message: 'stream must be a boolean' })
  stream?: boolean;

  @ApiPropertyOptional({
    description:
      'Accepted for compatibility (Kokoro-FastAPI): a language code, used when `language` is absent.',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString({ message: 'lang_code must be a string' })
  lang_code?: string;

  @ApiPropertyOptional({
    enum: TEXT_FORMATS,
    default: 'text',
    description: 'Gateway extension: `ssml` or `markdown` input (see POST /v1/tts/sessions).',
  })
  @IsOptional()
  @IsIn(TEXT_FORMATS, { message: `text_format must be one of: ${TEXT_FORMATS.join(', ')}` })
  text_format?: TextFormat;

  @ApiPropertyOptional({ default: true, description: 'Gateway extension: use the audio cache.' })
  @IsOptional()
  @IsBoolean({ message: 'cache must be true or false' })
  cache?: boolean;
}
