import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { errorResponse } from '../common/filters/http-exception.filter';
import { openAiEnvelope } from '../common/filters/openai-envelope';

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
    void reply.status(body.statusCode).send(openAiEnvelope(body));
  }
}
