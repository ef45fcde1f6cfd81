import { Controller, Get, HttpCode, Inject, Post, Req } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiErrorResponses } from '../common/openapi/api-errors';
import { publicUrls } from '../common/request-origin';
import { appConfig, type AppConfig } from '../config/configuration';
import { ApiKeysService } from './api-keys.service';
import { callerOf } from './caller';
import { UsageService } from './usage.service';
import { WsTokens } from './ws-tokens';

class KeyUsageDto {
  @ApiProperty() sessions: number;
  @ApiProperty() characters: number;
  @ApiProperty() audio_seconds: number;
  @ApiProperty() bytes: number;
}

class UsageListDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(KeyUsageDto) },
    description: 'Usage by key name.',
    example: { alice: { sessions: 3, characters: 120, audio_seconds: 9.5, bytes: 456000 } },
  })
  keys: Record<string, KeyUsageDto>;
}

class LiveTokenDto {
  @ApiProperty({ example: 'wss://tts.example.com/v1/tts/live?token=…' }) ws_url: string;
  @ApiProperty({ example: 60, description: 'Seconds the single-use token stays valid.' }) expires_in: number;
}

@ApiTags('operations')
@ApiExtraModels(KeyUsageDto)
@Controller('v1')
export class AuthController {
  constructor(
    private readonly usage: UsageService,
    private readonly keys: ApiKeysService,
    private readonly tokens: WsTokens,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
  ) {}

  @Get('admin/usage')
  @ApiOperation({
    operationId: 'adminUsage',
    summary: "Every key's usage (admin key required)",
    description:
      'Sessions, characters, audio seconds and bytes per key name, since start (shared across replicas with Redis).',
  })
  @ApiOkResponse({ type: UsageListDto })
  @ApiErrorResponses(401)
  async adminUsage(): Promise<UsageListDto> {
    const usage = await this.usage.usage();
    for (const name of this.keys.names())
      usage[name] ??= { sessions: 0, characters: 0, audio_seconds: 0, bytes: 0 };
    return { keys: usage };
  }

  @Post('tts/live/token')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'createLiveToken',
    summary: 'A WebSocket URL for /v1/tts/live carrying a short-lived single-use token (for browsers)',
  })
  @ApiOkResponse({ type: LiveTokenDto })
  @ApiErrorResponses(401)
  async liveToken(@Req() req: FastifyRequest): Promise<LiveTokenDto> {
    const token = await this.tokens.forLive(callerOf(req));
    const urls = publicUrls(req, this.app.publicBaseUrl);
    return {
      ws_url: `${urls.ws}/v1/tts/live${token ? `?token=${token}` : ''}`,
      expires_in: this.tokens.ttlSeconds,
    };
  }
}
