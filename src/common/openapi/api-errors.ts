import { STATUS_CODES } from 'node:http';
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

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
    ...statuses.map((status) => {
      const example = ERROR_EXAMPLES[status];
      return ApiResponse({
        status,
        description: example.description,
        type: ErrorResponseDto,
        ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
        example: {
          statusCode: status,
          error: STATUS_CODES[status],
          message: example.message,
          code: example.code,
        },
      });
    }),
  );
}
