import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PROVIDER_IDS } from '../../providers/provider.contract';
import { AUDIO_FORMATS, STREAM_FORMATS } from '../../transcode/audio-format';
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
}

export class ErrorResponseDto {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request' }) error: string;
  @ApiProperty({ example: 'target_format must be one of: pcm16, mulaw, alaw, wav, mp3, opus' })
  message: string;
  @ApiProperty({ example: 'validation_failed', description: 'Stable machine-readable code.' }) code: string;
  @ApiPropertyOptional({ example: 'target_format', description: 'The request field at fault.' })
  field?: string;
  @ApiPropertyOptional({ type: [String], description: 'Values the field accepts.' }) allowed?: string[];
}
