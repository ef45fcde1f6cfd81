import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { errorResponse } from '../common/filters/http-exception.filter';

/**
 * The OpenAI error envelope for the OpenAI-compatible route, so official SDKs surface our messages:
 * `{"error":{"message","type","param","code"}}` with the real HTTP status (never a blanket 500).
 */
@Catch()
export class OpenAiErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (reply.sent) return;
    const { body, retryAfterSeconds } = errorResponse(exception);
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    if (body.code === 'unauthorized') void reply.header('www-authenticate', 'Bearer realm="tts-gateway"');
    void reply.status(body.statusCode).send({
      error: {
        message: body.message,
        type: openAiErrorType(body.statusCode),
        param: body.field ?? null,
        code: body.code,
      },
    });
  }
}

function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status === 404) return 'not_found_error';
  if (status >= 500) return status === 503 ? 'service_unavailable' : 'server_error';
  return 'invalid_request_error';
}
