import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SessionCreationLimit } from '../common/guards/rate-limit.decorator';
import { requestOrigin } from '../common/request-origin';
import { TtsService } from '../streaming/tts.service';
import { concatBytes } from '../transcode/bytes';
import { AUDIO_FORMAT_SPECS } from '../transcode/audio-format';
import { CreateSessionDto } from './dto/create-session.dto';
import { ErrorResponseDto, SessionDto, SessionFileQueryDto } from './dto/session-response.dto';
import { SessionsService } from './sessions.service';

@ApiTags('sessions')
@Controller('v1/tts/sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly tts: TtsService,
  ) {}

  @Post()
  @SessionCreationLimit('create_session')
  @ApiOperation({
    summary: 'Create a synthesis session',
    description: 'Validates the request and returns the WebSocket URL on which the audio will stream.',
  })
  @ApiCreatedResponse({ type: SessionDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'A field is invalid; `field` names it.' })
  @ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'Rate limited; see Retry-After.' })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description: 'Provider unavailable; see Retry-After.',
  })
  create(@Body() dto: CreateSessionDto, @Req() req: FastifyRequest): Promise<SessionDto> {
    return this.sessions.create(dto, requestOrigin(req));
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a session: request fields, status, counters, error if any' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: SessionDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  async get(@Param('id') id: string, @Req() req: FastifyRequest): Promise<SessionDto> {
    return this.sessions.toDto(await this.sessions.get(id), requestOrigin(req));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Cancel a session and its stream' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  async cancel(@Param('id') id: string): Promise<void> {
    await this.sessions.cancel(id);
  }

  @Get(':id/file')
  @ApiOperation({
    summary: 'The whole utterance as one file',
    description:
      'Synthesizes the session text again and returns one file of the format (default: the session target_format) with exact container sizes.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiProduces(...new Set(Object.values(AUDIO_FORMAT_SPECS).map((s) => s.contentType)))
  @ApiOkResponse({ description: 'Audio file', schema: { type: 'string', format: 'binary' } })
  @ApiNotFoundResponse({ type: ErrorResponseDto })
  async file(
    @Param('id') id: string,
    @Query() query: SessionFileQueryDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer> {
    const session = await this.sessions.get(id);
    const plan = await this.sessions.planFor(session, query.format ?? session.targetFormat, true);
    const spec = AUDIO_FORMAT_SPECS[plan.format];
    const clientGone = new AbortController();
    req.raw.once('close', () => clientGone.abort(new Error('client closed the connection')));

    const parts: Uint8Array[] = [];
    for await (const audio of this.tts.synthesize(plan, clientGone.signal)) parts.push(audio.data);
    const body = concatBytes(parts);
    void reply
      .header('content-type', spec.contentType)
      .header('content-disposition', `attachment; filename="${session.id}.${spec.extension}"`)
      .header('x-sample-rate', String(plan.sampleRate))
      .header('content-length', String(body.length));
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
}
