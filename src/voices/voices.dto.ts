import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { PROVIDER_IDS } from '../providers/provider.contract';
import { STREAM_FORMATS } from '../transcode/audio-format';

export class ListVoicesQueryDto {
  @ApiPropertyOptional({ enum: PROVIDER_IDS, description: 'Only voices of this provider.' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  provider?: string;

  @ApiPropertyOptional({
    example: 'en',
    description: 'BCP-47 tag; a bare language finds every region (`en` finds `en-US` and `en-GB`).',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  language?: string;
}

export class VoiceCapabilitiesDto {
  @ApiProperty() streaming: boolean;
  @ApiProperty() ssml: boolean;
  @ApiProperty() word_timings: boolean;
}

export class VoiceDto {
  @ApiProperty({ example: 'en-US-mock-1' }) id: string;
  @ApiProperty({ example: 'Mock Tone (en-US, high)' }) name: string;
  @ApiProperty({ enum: PROVIDER_IDS }) provider: string;
  @ApiProperty({ example: 'en-US', description: 'Primary BCP-47 language.' }) language: string;
  @ApiProperty({ type: [String], example: ['en-US'], description: 'Every language the voice speaks.' })
  languages: string[];
  @ApiPropertyOptional({ enum: ['female', 'male', 'neutral'] }) gender?: string;
  @ApiProperty({ example: 24000, description: 'Native rate of the engine; any target rate is resampled.' })
  sample_rate_hz: number;
  @ApiProperty({ enum: STREAM_FORMATS, isArray: true }) supported_formats: string[];
  @ApiProperty({ type: VoiceCapabilitiesDto }) capabilities: VoiceCapabilitiesDto;
}

export class ProviderStatusDto {
  @ApiProperty({ enum: PROVIDER_IDS }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['up', 'down'] }) status: 'up' | 'down';
  @ApiPropertyOptional({ description: 'Why the provider is down.' }) reason?: string;
  @ApiProperty() voice_count: number;
}

export class VoiceListDto {
  @ApiProperty({ type: [VoiceDto] }) voices: VoiceDto[];
  @ApiProperty({ type: [ProviderStatusDto], description: 'Each queried provider with its state.' })
  providers: ProviderStatusDto[];
}

export class ProviderDetailDto extends ProviderStatusDto {
  @ApiProperty({ enum: ['closed', 'open', 'half_open'], description: 'The circuit breaker of this replica.' })
  circuit: 'closed' | 'open' | 'half_open';
  @ApiPropertyOptional({
    description: 'Seconds until an open circuit (or an upstream 429 cool-down) lets a request through.',
  })
  retry_after_s?: number;
  @ApiProperty({ description: 'Requests running on the engine now.' }) in_flight: number;
  @ApiProperty({ description: 'Requests waiting for its concurrency cap.' }) queued: number;
  @ApiPropertyOptional({
    description: 'Concurrent requests allowed (PROVIDER_<ID>_CONCURRENCY); absent = unbounded.',
  })
  concurrency?: number;
}

export class ProviderListDto {
  @ApiProperty({ type: [ProviderDetailDto] }) providers: ProviderDetailDto[];
}
