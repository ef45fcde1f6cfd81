import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { PROVIDER_IDS } from '../../providers/provider.contract';
import {
  AUDIO_FORMATS,
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  STREAM_FORMATS,
} from '../../transcode/audio-format';
import { SESSION_STATUSES } from '../session.model';

export class SessionErrorDto {
  @ApiProperty({ example: 'provider_timeout' }) code: string;
  @ApiProperty() message: string;
}

export class SessionDto {
  @ApiProperty({ format: 'uuid' }) session_id: string;
  @ApiProperty({ enum: SESSION_STATUSES }) status: string;
  @ApiProperty() text: string;
  @ApiProperty({ enum: PROVIDER_IDS }) provider: string;
  @ApiProperty() voice: string;
  @ApiProperty({ example: 'en-US' }) language: string;
  @ApiProperty({ enum: STREAM_FORMATS }) target_format: string;
  @ApiProperty({ example: 24000 }) sample_rate_hz: number;
  @ApiProperty({ example: 1 }) speed: number;
  @ApiProperty({ type: [String] }) fallback_providers: string[];
  @ApiProperty({ enum: ['before_audio', 'mid_stream'] }) failover: string;
  @ApiProperty({ enum: ['text', 'ssml', 'markdown'] }) text_format: string;
  @ApiProperty({ type: [String], description: 'Ignored SSML elements and values.' }) warnings: string[];
  @ApiProperty({ description: 'Whether the audio cache may serve this session.' }) cache: boolean;
  @ApiPropertyOptional({ description: 'Fixed framing in ms, when asked for.' }) frame_ms?: number;
  @ApiProperty({ enum: ['asap', 'realtime'] }) pace: string;
  @ApiPropertyOptional({ enum: ['cache', 'engine'], description: 'Where the streamed audio came from.' })
  served_from?: string;
  @ApiProperty({ example: 'audio/pcm' }) content_type: string;
  @ApiProperty({ example: 'ws://localhost:8080/v1/tts/stream/3b9a…' }) ws_url: string;
  @ApiProperty({ example: 'http://localhost:8080/v1/tts/sessions/3b9a…/file' }) file_url: string;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
  @ApiPropertyOptional() started_at?: string;
  @ApiPropertyOptional() finished_at?: string;
  @ApiProperty({ description: 'When the session will be forgotten.' }) expires_at: string;
  @ApiProperty({ description: 'Audio messages sent.' }) chunks_sent: number;
  @ApiProperty({ description: 'Encoded audio bytes sent.' }) bytes_sent: number;
  @ApiProperty({ description: 'Milliseconds of audio sent.' }) audio_duration_ms: number;
  @ApiPropertyOptional() time_to_first_audio_ms?: number;
  @ApiPropertyOptional({
    enum: PROVIDER_IDS,
    description: 'Provider that produced the audio (after failover).',
  })
  served_by?: string;
  @ApiPropertyOptional({ type: SessionErrorDto }) error?: SessionErrorDto;
}

export class SessionFileQueryDto {
  @ApiPropertyOptional({ enum: AUDIO_FORMATS, description: "Default: the session's target_format." })
  @IsOptional()
  @IsIn(AUDIO_FORMATS, { message: `format must be one of: ${AUDIO_FORMATS.join(', ')}` })
  format?: (typeof AUDIO_FORMATS)[number];

  @ApiPropertyOptional({
    minimum: MIN_SAMPLE_RATE,
    maximum: MAX_SAMPLE_RATE,
    description:
      "Output rate; default: the session's rate when the format allows it, else the format's default.",
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value,
  )
  @IsInt({ message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}` })
  @Min(MIN_SAMPLE_RATE, {
    message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`,
  })
  @Max(MAX_SAMPLE_RATE, {
    message: `sample_rate_hz must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE}`,
  })
  sample_rate_hz?: number;
}

export { ErrorResponseDto } from '../../common/openapi/api-errors';
