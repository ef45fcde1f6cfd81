import { STATUS_CODES } from 'node:http';
import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class ErrorResponseDto {
  @ApiProperty({ example: 400 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request' }) error: string;
  @ApiProperty({ example: 'target_format must be one of: pcm16, mulaw, alaw, wav, mp3, opus' })
  message: string;
  @ApiProperty({ example: 'validation_failed', description: 'Stable machine-readable code.' }) code: string;
  @ApiPropertyOptional({ example: 'target_format', description: 'The request field at fault.' })
  field?: string;
  @ApiPropertyOptional({
    type: 'array',
    items: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
    description: 'Values the field accepts (strings, or numbers for sample rates).',
    example: [8000, 16000, 24000],
  })
  allowed?: Array<string | number>;
  @ApiPropertyOptional({ description: 'Correlates this answer with the gateway log.', example: 'req-1f' })
  request_id?: string;
}

const ERROR_EXAMPLES: Record<number, { description: string; code: string; message: string }> = {
  400: {
    description: 'A field is invalid; `field` names it.',
    code: 'validation_failed',
    message: 'target_format must be one of: pcm16, mulaw, alaw, wav, mp3, opus',
  },
  401: {
    description: 'Missing or wrong API key (when keys are configured).',
    code: 'unauthorized',
    message: 'an API key is required: send Authorization: Bearer <key>',
  },
  404: {
    description: "Unknown (or expired, or another key's) session.",
    code: 'session_not_found',
    message: 'session "…" does not exist or has expired',
  },
  413: {
    description: 'Body, text or audio over its limit.',
    code: 'payload_too_large',
    message: 'request body is larger than 65536 bytes',
  },
  415: {
    description: 'The body is not `application/json`.',
    code: 'unsupported_media_type',
    message: 'send the body as application/json',
  },
  429: {
    description: 'Rate or concurrency limit; see `Retry-After`.',
    code: 'rate_limited',
    message: 'too many requests from this client; retry in 12 s',
  },
  503: {
    description: 'Provider unavailable, gateway full or shutting down; see `Retry-After`.',
    code: 'provider_unavailable',
    message: 'provider "coqui" is temporarily unavailable after repeated failures; retry in 8 s',
  },
};

const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds after which a retry may succeed.', schema: { type: 'integer' } },
};

/** Documents the gateway's error answers (with the one error schema) for the given statuses. */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: ERROR_EXAMPLES[status].description,
        type: ErrorResponseDto,
        ...headersOf(status),
        example: gatewayExample(status),
      }),
    ),
  );
}

export class OpenAiErrorDto {
  @ApiProperty({ example: 'model is required (for example "tts-1", or a provider id such as "espeak")' })
  message: string;
  @ApiProperty({
    example: 'invalid_request_error',
    description:
      '`invalid_request_error` (400, 413, 415), `authentication_error` (401), `not_found_error` (404), `rate_limit_exceeded` (429), `service_unavailable` (503), `server_error` (other 5xx).',
  })
  type: string;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'model',
    description: 'The request field at fault, or null.',
  })
  param: string | null;
  @ApiProperty({
    example: 'validation_failed',
    description: "The gateway's stable machine-readable code (the same codes as every other route).",
  })
  code: string;
}

/** What OpenAI's API answers on an error, and so what its SDKs read: `{"error":{...}}`. */
export class OpenAiErrorResponseDto {
  @ApiProperty({ type: OpenAiErrorDto }) error: OpenAiErrorDto;
}

const OPENAI_TYPES: Record<number, string> = {
  401: 'authentication_error',
  404: 'not_found_error',
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
};

/**
 * Documents the error answers of the OpenAI-compatible routes, which send OpenAI's envelope: the route's
 * own `OpenAiErrorFilter`, and the global filter for what is refused before the route (a body that is not
 * JSON, malformed, too deep or too large).
 */
export function ApiOpenAiErrorResponses(statuses: number[]): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(OpenAiErrorResponseDto),
    ...[...statuses]
      .sort((a, b) => a - b)
      .map((status) =>
        ApiResponse({
          status,
          description: ERROR_EXAMPLES[status].description,
          type: OpenAiErrorResponseDto,
          example: openAiExample(status),
          ...headersOf(status),
        }),
      ),
  );
}

function headersOf(status: number): { headers?: typeof RETRY_AFTER } {
  return status === 429 || status === 503 ? { headers: RETRY_AFTER } : {};
}

function gatewayExample(status: number) {
  const example = ERROR_EXAMPLES[status];
  return { statusCode: status, error: STATUS_CODES[status], message: example.message, code: example.code };
}

/** Examples in the OpenAI routes' own terms where the gateway-wide one names a session field. */
const OPENAI_EXAMPLES: Record<number, { message: string; param: string | null; code: string }> = {
  400: {
    message: 'model is required (for example "tts-1", or a provider id such as "espeak")',
    param: 'model',
    code: 'validation_failed',
  },
  413: {
    message: 'the audio would be longer than 1800 s (MAX_AUDIO_SECONDS); shorten the text or raise the speed',
    param: null,
    code: 'audio_too_long',
  },
};

function openAiExample(status: number) {
  const { message, param, code } = OPENAI_EXAMPLES[status] ?? { ...ERROR_EXAMPLES[status], param: null };
  return { error: { message, type: OPENAI_TYPES[status] ?? 'invalid_request_error', param, code } };
}
