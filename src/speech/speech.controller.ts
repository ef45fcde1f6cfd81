import { Body, Controller, Get, Inject, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import { SessionCreationLimit } from '../common/guards/rate-limit.decorator';
import { clientGoneSignal } from '../common/http/client-gone';
import { watchResponseStall } from '../common/http/response-stall';
import { ApiOpenAiErrorResponses } from '../common/openapi/api-errors';
import { callerOf } from '../auth/caller';
import { UsageService } from '../auth/usage.service';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import {
  limitsConfig,
  streamingConfig,
  type LimitsConfig,
  type StreamingConfig,
} from '../config/configuration';
import { ShutdownState } from '../health/shutdown.state';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { SynthesisRuns } from '../synthesis/synthesis-runs';
import { SynthesisSlots } from '../synthesis/synthesis-slots';
import { TtsService } from '../synthesis/tts.service';
import type { EncodedAudio } from '../synthesis/synthesis.types';
import { AUDIO_FORMAT_SPECS } from '../transcode/audio-format';
import { OpenAiErrorFilter } from './openai-error.filter';
import { CreateSpeechDto, SPEECH_FORMATS } from './speech.dto';
import { SPEECH_SAMPLE_RATE, SpeechService, speechAudioFormat } from './speech.service';
import { ModelListDto, SpeechVoiceListDto } from './speech-extras.dto';

/**
 * `POST /v1/audio/speech`, compatible with OpenAI's TTS API: the official SDKs pointed at the gateway work
 * unchanged. Audio streams in the response body (chunked) as it is synthesized; `stream_format: "sse"` sends
 * OpenAI's `speech.audio.delta` / `speech.audio.done` events instead. Beside it, the list routes client
 * libraries expect (`GET /v1/models`, `GET /v1/audio/voices`).
 *
 * Each request is a synthesis like any other: it holds a slot of the global and per-client caps, shares
 * the per-client rate-limit budget with session creation, is counted in the metrics with `route="speech"`
 * and logged with one `stream ended` line; a client that stops reading is dropped after
 * HTTP_STALL_TIMEOUT_MS, which frees its engine and encoder.
 */
@ApiTags('openai-compatible')
@Controller('v1')
@UseFilters(OpenAiErrorFilter)
export class SpeechController {
  constructor(
    private readonly speech: SpeechService,
    private readonly tts: TtsService,
    private readonly slots: SynthesisSlots,
    private readonly runs: SynthesisRuns,
    private readonly shutdown: ShutdownState,
    private readonly usage: UsageService,
    @Inject(limitsConfig.KEY) private readonly limits: LimitsConfig,
    @Inject(streamingConfig.KEY) private readonly streaming: StreamingConfig,
  ) {}

  @Post('audio/speech')
  @SessionCreationLimit('speech')
  @ApiOperation({
    operationId: 'createSpeech',
    summary: 'Generate speech (OpenAI-compatible)',
    description:
      'Streams audio as it is synthesized. `pcm` is raw 24 kHz s16le mono; every format is 24 kHz. Errors use the OpenAI envelope `{"error":{"message","type","param","code"}}`. The response names the engine and voice used in `X-Provider` and `X-Voice`.',
  })
  // The audio types on the 200 alone (not @ApiProduces, which would list the JSON errors under them too).
  @ApiOkResponse({
    description:
      'Audio bytes, chunked, in the content type of `response_format`; with `stream_format: "sse"`, `speech.audio.delta` / `speech.audio.done` events.',
    content: {
      ...Object.fromEntries(
        SPEECH_FORMATS.map((format) => [
          AUDIO_FORMAT_SPECS[speechAudioFormat(format)].contentType,
          { schema: { type: 'string', format: 'binary' } },
        ]),
      ),
      'text/event-stream': {
        schema: {
          type: 'string',
          example: 'data: {"type":"speech.audio.delta","audio":"<base64>"}\n\n',
        },
      },
    },
    headers: {
      'X-Provider': { description: 'The provider that synthesized the audio.', schema: { type: 'string' } },
      'X-Voice': { description: 'The gateway voice id used.', schema: { type: 'string' } },
      'X-Sample-Rate': {
        description: 'Sample rate of the audio in Hz (always 24000).',
        schema: { type: 'integer', example: 24000 },
      },
      'X-Channels': {
        description: 'Channels of the audio (always 1).',
        schema: { type: 'integer', example: 1 },
      },
      'X-Accel-Buffering': {
        description: '`no`: tells a reverse proxy (nginx) to pass the chunks on as they come.',
        schema: { type: 'string', example: 'no' },
      },
      'Cache-Control': { description: '`no-store`.', schema: { type: 'string', example: 'no-store' } },
    },
  })
  @ApiOpenAiErrorResponses([400, 401, 413, 415, 429, 503])
  async create(
    @Body() dto: CreateSpeechDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (this.shutdown.draining) {
      throw new GatewayException(ErrorCode.ShuttingDown, 'this gateway replica is shutting down; retry', {
        retryAfterSeconds: 1,
      });
    }
    const caller = callerOf(req);
    const client = caller.id;
    const { plan, voice } = await this.speech.plan(
      dto,
      {
        maxChars: this.limits.maxTextChars,
        maxAudioSeconds: this.limits.maxAudioSeconds,
        providers: caller.key?.limits.providers,
      },
      client,
    );
    const chars = [...dto.input].length;
    this.usage.assertAllowed(caller, {
      provider: voice.provider.id,
      voice: voice.voice.id,
      textChars: chars,
    });
    await this.usage.spendCharacters(caller, chars);
    this.usage.record(client, { characters: chars });
    const release = await this.slots.acquireShared(client, 'speech');
    const run = this.runs.start({
      route: 'speech',
      provider: voice.provider.id,
      format: plan.format,
      sampleRateHz: plan.sampleRate,
      voice: voice.voice.id,
      textChars: dto.input.length,
      client,
      extra: { streamFormat: dto.stream_format ?? 'audio' },
    });
    const clientGone = clientGoneSignal(req.raw);

    // Hold the response until the first audio: failures before it still get a real status code.
    const audio = this.tts.synthesize(plan, clientGone);
    let first: IteratorResult<EncodedAudio>;
    try {
      first = await audio.next();
    } catch (error) {
      release();
      const e = toGatewayException(clientGone.aborted ? clientGone.reason : error);
      run.end(clientGone.aborted ? 'disconnected' : 'failed', { code: e.code, message: e.message });
      throw error;
    }
    const sse = dto.stream_format === 'sse';
    const count = (chunk: EncodedAudio) => {
      run.sent(chunk);
      return Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    };

    async function* body(): AsyncGenerator<Buffer | string> {
      let outcome: 'completed' | 'failed' | 'disconnected' = 'disconnected';
      let failure: { code: string; message: string } | undefined;
      try {
        if (!first.done) yield sse ? delta(count(first.value)) : count(first.value);
        for await (const chunk of audio) yield sse ? delta(count(chunk)) : count(chunk);
        if (sse) yield event({ type: 'speech.audio.done', usage: usage(dto.input) });
        outcome = 'completed';
      } catch (error) {
        if (clientGone.aborted) throw error;
        const e = toGatewayException(error);
        outcome = 'failed';
        failure = { code: e.code, message: e.message };
        // Headers are gone: SSE clients get an error event; raw audio clients see the body cut short.
        if (!sse) throw error;
        yield event({ type: 'error', error: { message: e.message, type: 'server_error', code: e.code } });
      } finally {
        release();
        run.end(outcome, failure);
      }
    }

    // The provider that spoke (a fallback when the first one failed before any audio), and its voice.
    const servedBy = first.done ? voice.provider.id : first.value.providerId;
    const servedVoice =
      plan.attempts.find((attempt) => attempt.providerId === servedBy)?.request.voice.id ?? voice.voice.id;
    watchResponseStall(reply.raw, this.streaming.httpStallTimeoutMs, () => reply.raw.destroy());
    void reply
      .status(200)
      .header('content-type', sse ? 'text/event-stream' : AUDIO_FORMAT_SPECS[plan.format].contentType)
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      .header('x-sample-rate', String(SPEECH_SAMPLE_RATE))
      .header('x-channels', '1')
      .header('x-provider', servedBy)
      .header('x-voice', servedVoice)
      .send(Readable.from(body()));
  }

  @Get('models')
  @ApiOperation({
    operationId: 'listModels',
    summary: 'Models (OpenAI-compatible list)',
    description:
      "OpenAI's `tts-1`, `tts-1-hd` and `gpt-4o-mini-tts` (served by the default provider) and one model per enabled provider id (`espeak`, `mock_tone`, ...), which `model` on /v1/audio/speech accepts.",
  })
  @ApiOkResponse({ type: ModelListDto })
  @ApiOpenAiErrorResponses([401])
  models(): ModelListDto {
    return this.speech.models();
  }

  @Get('audio/voices')
  @ApiOperation({
    operationId: 'listSpeechVoices',
    summary: 'Voice names for /v1/audio/speech (as Kokoro-FastAPI lists them)',
    description:
      "OpenAI's voice names (each mapped to a gateway voice) and every gateway voice id; `GET /v1/voices` has the details.",
  })
  @ApiOkResponse({ type: SpeechVoiceListDto })
  @ApiOpenAiErrorResponses([401])
  voices(): Promise<SpeechVoiceListDto> {
    return this.speech.voiceList();
  }
}

function delta(bytes: Buffer): string {
  return event({ type: 'speech.audio.delta', audio: bytes.toString('base64') });
}

function event(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** The gateway's engines are not token-based; characters stand in for tokens so SDKs find the fields. */
function usage(input: string) {
  const chars = [...input].length;
  return { input_tokens: chars, output_tokens: 0, total_tokens: chars };
}
