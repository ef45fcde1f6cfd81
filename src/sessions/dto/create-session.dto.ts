import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { normalizeForFormat, TEXT_FORMATS, type TextFormat } from '../../text/prepare';
import { PROVIDER_IDS } from '../../providers/provider.contract';
import { FAILOVER_MODES, type FailoverMode } from '../../synthesis/synthesis.types';
import {
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  STREAM_FORMATS,
  type StreamFormat,
} from '../../transcode/audio-format';

const numericString = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;

export class CreateSessionDto {
  @ApiProperty({
    description:
      'What to say. Normalized (NFC, control characters removed, white space collapsed, trimmed); 1..MAX_TEXT_CHARS characters (default 5000).',
    example: 'Hello from the TTS gateway.',
  })
  @Transform(({ value, obj }: { value: unknown; obj: { text_format?: unknown } }) =>
    normalizeForFormat(value, obj.text_format),
  )
  @IsString({ message: 'text must be a string' })
  @IsNotEmpty({ message: 'text must not be empty (after trimming white space and control characters)' })
  text: string;

  @ApiPropertyOptional({ enum: PROVIDER_IDS, description: 'An enabled provider; default: DEFAULT_PROVIDER.' })
  @IsOptional()
  @IsString({ message: 'provider must be a string' })
  @MaxLength(64, { message: 'provider must be at most 64 characters' })
  provider?: string;

  @ApiPropertyOptional({
    example: 'en-us',
    description:
      "A voice id of the provider (GET /v1/voices), e.g. `en-us` for espeak or `en-US-mock-1` for mock_tone; default: the provider's best voice for the language.",
  })
  @IsOptional()
  @IsString({ message: 'voice must be a string' })
  @MaxLength(200, { message: 'voice must be at most 200 characters' })
  voice?: string;

  @ApiPropertyOptional({
    example: 'en-US',
    description: 'BCP-47 tag, case-normalized (en-us → en-US); must be spoken by the voice.',
  })
  @IsOptional()
  @IsString({ message: 'language must be a string' })
  @MaxLength(64, { message: 'language must be at most 64 characters' })
  language?: string;

  @ApiProperty({ enum: STREAM_FORMATS, description: 'Encoding of the streamed audio.' })
  @IsIn(STREAM_FORMATS, { message: `target_format must be one of: ${STREAM_FORMATS.join(', ')}` })
  target_format: StreamFormat;

  @ApiPropertyOptional({
    minimum: MIN_SAMPLE_RATE,
    maximum: MAX_SAMPLE_RATE,
    example: 24000,
    description:
      'Output rate. Default 24000 (8000 for mulaw/alaw). opus: 8000, 12000, 16000, 24000 or 48000.',
  })
  @IsOptional()
  @Transform(numericString)
  @IsInt({ message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}` })
  @Min(MIN_SAMPLE_RATE, {
    message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`,
  })
  @Max(MAX_SAMPLE_RATE, {
    message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`,
  })
  sample_rate_hz?: number;

  @ApiPropertyOptional({ minimum: 0.25, maximum: 4, default: 1, description: 'Speaking rate; 1 is natural.' })
  @IsOptional()
  @Transform(numericString)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'speed must be a number from 0.25 to 4' })
  @Min(0.25, { message: 'speed must be a number from 0.25 to 4' })
  @Max(4, { message: 'speed must be a number from 0.25 to 4' })
  speed?: number;

  @ApiPropertyOptional({
    type: [String],
    enum: PROVIDER_IDS,
    description:
      'Providers to try, in order, when the chosen one fails or its circuit is open (each uses its best voice for the language). Default: DEFAULT_FALLBACK_PROVIDERS.',
    example: ['mock_tone'],
  })
  @IsOptional()
  @IsString({ each: true, message: 'fallback_providers must be an array of provider ids' })
  @ArrayMaxSize(5, { message: 'fallback_providers may list at most 5 providers' })
  @IsArray({ message: 'fallback_providers must be an array of provider ids' })
  fallback_providers?: string[];

  @ApiPropertyOptional({
    enum: FAILOVER_MODES,
    default: 'before_audio',
    description:
      '`before_audio`: fall back only before the first audio. `mid_stream`: also after audio started, restarting on the fallback at the beginning of the interrupted sentence (announced with a `provider_switched` message).',
  })
  @IsOptional()
  @IsIn(FAILOVER_MODES, { message: `failover must be one of: ${FAILOVER_MODES.join(', ')}` })
  failover?: FailoverMode;

  @ApiPropertyOptional({
    enum: TEXT_FORMATS,
    default: 'text',
    description:
      '`ssml`: speak, break, prosody (rate, volume, pitch), say-as, sub, emphasis, p, s, mark (reported as `mark` messages), voice — rendered by the gateway for every engine; unknown tags are ignored and listed in `warnings`. `markdown`: formatting, links, code, tables, list markers and emoji are not read aloud.',
  })
  @IsOptional()
  @IsIn(TEXT_FORMATS, { message: `text_format must be one of: ${TEXT_FORMATS.join(', ')}` })
  text_format?: TextFormat;

  @ApiPropertyOptional({
    minimum: 10,
    maximum: 1000,
    example: 20,
    description:
      'Fixed framing: every audio message carries exactly this many ms of audio (the last may be shorter); for telephony, 20. MP3/Opus messages carry whole codec frames of about that length. Without it, chunks ready together may be coalesced.',
  })
  @IsOptional()
  @IsInt({ message: 'frame_ms must be an integer from 10 to 1000' })
  @Min(10, { message: 'frame_ms must be an integer from 10 to 1000' })
  @Max(1000, { message: 'frame_ms must be an integer from 10 to 1000' })
  frame_ms?: number;

  @ApiPropertyOptional({
    enum: ['asap', 'realtime'],
    default: 'asap',
    description:
      '`realtime`: audio is sent no more than about 300 ms ahead of real time (for clients that cannot buffer).',
  })
  @IsOptional()
  @IsIn(['asap', 'realtime'], { message: 'pace must be one of: asap, realtime' })
  pace?: 'asap' | 'realtime';

  @ApiPropertyOptional({
    default: true,
    description: 'Use the audio cache (same text, voice and settings → the stored audio, no engine call).',
  })
  @IsOptional()
  @IsBoolean({ message: 'cache must be true or false' })
  cache?: boolean;
}

/** Every field a create request may carry, for the "unknown field" message. */
export const CREATE_SESSION_FIELDS = [
  'text',
  'provider',
  'voice',
  'language',
  'target_format',
  'sample_rate_hz',
  'speed',
  'fallback_providers',
  'failover',
  'text_format',
  'frame_ms',
  'pace',
  'cache',
] as const;
