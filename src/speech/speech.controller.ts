import { Body, Controller, Inject, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import { SessionCreationLimit } from '../common/guards/rate-limit.decorator';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import { limitsConfig, type LimitsConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import { TtsService, type EncodedAudio } from '../streaming/tts.service';
import { AUDIO_FORMAT_SPECS } from '../transcode/audio-format';
import { OpenAiErrorFilter } from './openai-error.filter';
import { CreateSpeechDto } from './speech.dto';
import { SPEECH_SAMPLE_RATE, SpeechService } from './speech.service';

/**
 * `POST /v1/audio/speech`, compatible with OpenAI's TTS API: the official SDKs pointed at the gateway work
 * unchanged. Audio streams in the response body (chunked) as it is synthesized; `stream_format: "sse"` sends
 * OpenAI's `speech.audio.delta` / `speech.audio.done` events instead.
 */
@ApiTags('openai-compatible')
@Controller('v1/audio')
@UseFilters(OpenAiErrorFilter)
export class SpeechController {
  constructor(
    private readonly speech: SpeechService,
    private readonly tts: TtsService,
    @Inject(limitsConfig.KEY) private readonly limits: LimitsConfig,
    @InjectMetric(METRIC.streamBytesTotal) private readonly streamBytes: Counter<string>,
  ) {}

  @Post('speech')
  @SessionCreationLimit('speech')
  @ApiOperation({
    summary: 'Generate speech (OpenAI-compatible)',
    description:
      'Streams audio as it is synthesized. `pcm` is raw 24 kHz s16le mono; every format is 24 kHz. Errors use the OpenAI envelope `{"error":{"message","type","param","code"}}`.',
  })
  @ApiProduces(
    'audio/mpeg',
    'audio/ogg',
    'audio/aac',
    'audio/flac',
    'audio/wav',
    'audio/pcm',
    'text/event-stream',
  )
  @ApiOkResponse({ description: 'Audio bytes, chunked', schema: { type: 'string', format: 'binary' } })
  @ApiBadRequestResponse({ description: 'OpenAI error envelope' })
  async create(
    @Body() dto: CreateSpeechDto,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { plan } = await this.speech.plan(dto, this.limits.maxTextChars);
    const clientGone = new AbortController();
    req.raw.once('close', () => clientGone.abort(new Error('client closed the connection')));

    // Hold the response until the first audio: failures before it still get a real status code.
    const audio = this.tts.synthesize(plan, clientGone.signal);
    const first = await audio.next();
    const sse = dto.stream_format === 'sse';
    const format = plan.format;
    const count = (chunk: EncodedAudio) => {
      this.streamBytes.inc({ format }, chunk.data.length);
      return Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
    };

    async function* body(): AsyncGenerator<Buffer | string> {
      if (!first.done) yield sse ? delta(count(first.value)) : count(first.value);
      try {
        for await (const chunk of audio) yield sse ? delta(count(chunk)) : count(chunk);
        if (sse) yield event({ type: 'speech.audio.done', usage: usage(dto.input) });
      } catch (error) {
        // Headers are gone: SSE clients get an error event; raw audio clients see the body cut short.
        if (!sse) throw error;
        const e = toGatewayException(error);
        yield event({ type: 'error', error: { message: e.message, type: 'server_error', code: e.code } });
      }
    }

    void reply
      .status(200)
      .header('content-type', sse ? 'text/event-stream' : AUDIO_FORMAT_SPECS[format].contentType)
      .header('cache-control', 'no-store')
      .header('x-accel-buffering', 'no')
      .header('x-sample-rate', String(SPEECH_SAMPLE_RATE))
      .header('x-channels', '1')
      .send(Readable.from(body()));
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
