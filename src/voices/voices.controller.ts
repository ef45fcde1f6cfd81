import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TranscodeService } from '../transcode/transcode.service';
import { isStreamFormat } from '../transcode/audio-format';
import { ApiErrorResponses } from '../common/openapi/api-errors';
import { ListVoicesQueryDto, VoiceListDto } from './voices.dto';
import { VoicesService } from './voices.service';

@ApiTags('voices')
@Controller('v1/voices')
export class VoicesController {
  constructor(
    private readonly voices: VoicesService,
    private readonly transcode: TranscodeService,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'listVoices',
    summary: 'List the voices of every enabled provider, filtered by provider and language.',
  })
  @ApiOkResponse({ type: VoiceListDto })
  @ApiErrorResponses(400, 401)
  async list(@Query() query: ListVoicesQueryDto): Promise<VoiceListDto> {
    const entries = await this.voices.catalog(query);
    const formats = this.transcode.supportedFormats().filter(isStreamFormat);
    return {
      voices: entries.flatMap(({ provider, voices }) =>
        voices.map((v) => ({
          id: v.id,
          name: v.name,
          provider: v.provider,
          language: v.language,
          languages: [...v.languages],
          ...(v.gender ? { gender: v.gender } : {}),
          sample_rate_hz: v.sampleRateHz,
          supported_formats: formats,
          capabilities: {
            streaming: provider.capabilities.streaming,
            ssml: provider.capabilities.ssml !== false,
            word_timings: provider.capabilities.wordTimings,
          },
          ...(v.extra ? { extra: v.extra } : {}),
        })),
      ),
      providers: entries.map(({ provider, voices, unavailableReason }) => ({
        id: provider.id,
        name: provider.displayName,
        status: unavailableReason ? 'down' : 'up',
        ...(unavailableReason ? { reason: unavailableReason } : {}),
        voice_count: voices.length,
      })),
    };
  }
}
