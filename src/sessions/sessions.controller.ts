import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBody,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiOkResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { SessionCreationLimit } from '../common/guards/rate-limit.decorator';
import { clientGoneSignal } from '../common/http/client-gone';
import { watchResponseStall } from '../common/http/response-stall';
import { ApiErrorResponses } from '../common/openapi/api-errors';
import { callerOf } from '../auth/caller';
import { clientOf, publicUrls } from '../common/request-origin';
import { appConfig, streamingConfig, type AppConfig, type StreamingConfig } from '../config/configuration';
import { AUDIO_FORMAT_SPECS } from '../transcode/audio-format';
import { CreateSessionDto } from './dto/create-session.dto';
import { SessionDto, SessionFileQueryDto } from './dto/session-response.dto';
import { SessionFiles } from './session-files';
import { SessionsService } from './sessions.service';

@ApiTags('sessions')
@Controller('v1/tts/sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly files: SessionFiles,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
    @Inject(streamingConfig.KEY) private readonly streaming: StreamingConfig,
  ) {}

  @Post()
  @SessionCreationLimit('create_session')
  @ApiOperation({
    operationId: 'createSession',
    summary: 'Create a synthesis session',
    description:
      'Validates the request and returns the WebSocket URL on which the audio will stream (`WS /v1/tts/stream/{session_id}`, described in the AsyncAPI document at /docs/asyncapi.json).',
  })
  // Examples for "Try it out" that any gateway serves: no provider, voice or fallback that may be off.
  @ApiBody({
    type: CreateSessionDto,
    examples: {
      minimal: {
        summary: 'The default provider and voice, as WAV',
        value: { text: 'Hello from the TTS gateway.', target_format: 'wav' },
      },
      telephony: {
        summary: 'G.711 mu-law at 8 kHz in 20 ms frames',
        value: {
          text: 'Hello from the TTS gateway.',
          target_format: 'mulaw',
          sample_rate_hz: 8000,
          frame_ms: 20,
        },
      },
      ssml: {
        summary: 'SSML with a pause',
        value: {
          text: '<speak>Hello <break time="300ms"/> from the TTS gateway.</speak>',
          text_format: 'ssml',
          target_format: 'opus',
        },
      },
    },
  })
  @ApiCreatedResponse({ type: SessionDto })
  @ApiErrorResponses(400, 401, 413, 415, 429, 503)
  create(@Body() dto: CreateSessionDto, @Req() req: FastifyRequest): Promise<SessionDto> {
    return this.sessions.create(dto, {
      caller: callerOf(req),
      rawText: (req.body as { text?: unknown } | undefined)?.text,
      urls: publicUrls(req, this.app.publicBaseUrl),
    });
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getSession',
    summary: 'Get a session: request fields, status, counters, error if any',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: SessionDto })
  @ApiErrorResponses(401, 404)
  async get(@Param('id') id: string, @Req() req: FastifyRequest): Promise<SessionDto> {
    const caller = callerOf(req);
    const session = await this.sessions.get(id, caller.id);
    return this.sessions.dtoFor(session, caller, publicUrls(req, this.app.publicBaseUrl));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteSession',
    summary: 'Cancel a session and its stream',
    description: 'A running stream ends with `cancelled`; the text and any retained audio are purged.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Cancelled (or already finished) and purged.' })
  @ApiErrorResponses(401, 404)
  async cancel(@Param('id') id: string, @Req() req: FastifyRequest): Promise<void> {
    await this.sessions.cancel(id, callerOf(req).id);
  }

  @Get(':id/file')
  @SessionCreationLimit('file')
  @ApiOperation({
    operationId: 'getSessionFile',
    summary: 'The whole utterance as one file',
    description:
      "Synthesizes the session text and streams one file of the format (default: the session's target_format) at the session's rate (or `sample_rate_hz`), with exact container sizes.",
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  // The audio types on the 200 alone (not @ApiProduces, which would list the JSON errors under them too).
  @ApiOkResponse({
    description: 'The audio file, streamed.',
    content: Object.fromEntries(
      [...new Set(Object.values(AUDIO_FORMAT_SPECS).map((s) => s.contentType))].map((type) => [
        type,
        { schema: { type: 'string', format: 'binary' } },
      ]),
    ),
    headers: {
      'Content-Disposition': {
        description: 'Names the file: `attachment; filename="<session_id>.<extension>"`.',
        schema: { type: 'string', example: 'attachment; filename="3f2b….wav"' },
      },
      'X-Sample-Rate': {
        description: "Sample rate of the audio in Hz (the session's, or `sample_rate_hz`).",
        schema: { type: 'integer', example: 24000 },
      },
      'Content-Length': {
        description: 'The exact body length, for pcm16, mulaw, alaw and wav (other formats are chunked).',
        schema: { type: 'integer' },
      },
    },
  })
  @ApiErrorResponses(400, 401, 404, 413, 429, 503)
  async file(
    @Param('id') id: string,
    @Query() query: SessionFileQueryDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const file = await this.files.render(
      id,
      { format: query.format, sampleRateHz: query.sample_rate_hz },
      clientOf(req),
      clientGoneSignal(req.raw),
    );
    watchResponseStall(reply.raw, this.streaming.httpStallTimeoutMs, () => reply.raw.destroy());
    void reply
      .header('content-type', file.spec.contentType)
      .header('content-disposition', `attachment; filename="${id}.${file.spec.extension}"`)
      .header('x-sample-rate', String(file.sampleRate));
    if (file.contentLength !== undefined) void reply.header('content-length', String(file.contentLength));
    void reply.send(Readable.from(toBuffers(file.body)));
  }
}

async function* toBuffers(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
