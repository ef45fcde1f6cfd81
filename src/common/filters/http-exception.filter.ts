import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { isOpenAiRoute, openAiEnvelope } from './openai-envelope';
import { ErrorCode } from '../errors/error-codes';
import { GatewayException } from '../errors/gateway.exception';
import { toGatewayException } from '../errors/to-gateway-exception';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: string;
  field?: string;
  allowed?: ReadonlyArray<string | number>;
  /** The request's id in the log, so a generic message can still be traced. */
  request_id?: string;
}

/**
 * The single REST error shape: `{ statusCode, error, message, code, field?, allowed? }`, with `Retry-After`
 * where a retry can help. Never leaks stack traces or internal messages; never writes twice.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { body, retryAfterSeconds } = errorResponse(exception);
    const requestId = String(reply.request?.id ?? '');
    if (requestId) body.request_id = requestId;
    if (body.statusCode >= 500 && body.code === (ErrorCode.InternalError as string)) {
      this.logger.error(
        `request ${requestId}: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`,
      );
    }
    if (reply.sent) return;
    const health = terminusResult(exception);
    if (health) {
      // Readiness keeps Terminus' own body (status, info, error, details) so probes and humans see why.
      void reply.status(503).header('retry-after', '5').send(health);
      return;
    }
    if (retryAfterSeconds !== undefined) void reply.header('retry-after', String(retryAfterSeconds));
    if (body.code === (ErrorCode.Unauthorized as string))
      void reply.header('www-authenticate', 'Bearer realm="tts-gateway"');
    void reply
      .status(body.statusCode)
      .header('content-type', 'application/json; charset=utf-8')
      .send(isOpenAiRoute(reply.request?.url) ? openAiEnvelope(body) : body);
  }
}

/** Terminus throws a 503 whose response is the health-check result; recognise it by its shape. */
function terminusResult(exception: unknown): object | undefined {
  if (!(exception instanceof HttpException) || exception.getStatus() !== 503) return undefined;
  const response = exception.getResponse();
  return typeof response === 'object' && response !== null && 'details' in response && 'status' in response
    ? response
    : undefined;
}

export function errorResponse(exception: unknown): { body: ErrorBody; retryAfterSeconds?: number } {
  if (exception instanceof HttpException) return { body: fromHttpException(exception) };
  const fastifyStatus = fastifyErrorStatus(exception);
  if (fastifyStatus !== undefined) {
    const message = fastifyStatus === 415 ? NOT_JSON : (exception as Error).message;
    return { body: fromStatus(fastifyStatus, message, fastifyCode(exception, fastifyStatus)) };
  }
  const gateway: GatewayException = toGatewayException(exception);
  const body: ErrorBody = {
    statusCode: gateway.status,
    error: STATUS_CODES[gateway.status] ?? 'Error',
    message: gateway.message,
    code: gateway.code,
    ...(gateway.details.field ? { field: gateway.details.field } : {}),
    ...(gateway.details.allowed ? { allowed: gateway.details.allowed } : {}),
  };
  return { body, retryAfterSeconds: gateway.details.retryAfterSeconds };
}

function fromHttpException(exception: HttpException): ErrorBody {
  const status = exception.getStatus();
  const response = exception.getResponse();
  const raw =
    typeof response === 'object' && response !== null
      ? (response as { message?: unknown }).message
      : response;
  const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
  // Nest maps Fastify's body-parser errors to plain HttpExceptions (losing FST_ codes); recognise them here.
  if (status === 400 && /JSON/.test(message))
    return fromStatus(status, `malformed JSON body: ${message}`, ErrorCode.MalformedJson);
  return fromStatus(status, status === 415 ? NOT_JSON : message, codeForStatus(status));
}

/** The one body type we parse (see src/common/http/json-body.ts). */
const NOT_JSON = 'the request body must be JSON: send Content-Type: application/json';

function fromStatus(status: number, message: string, code: string): ErrorBody {
  return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message, code };
}

function codeForStatus(status: number): string {
  switch (status) {
    case 404:
      return ErrorCode.NotFound;
    case 413:
      return ErrorCode.PayloadTooLarge;
    case 415:
      return ErrorCode.UnsupportedMediaType;
    case 429:
      return ErrorCode.RateLimited;
    default:
      return status >= 500 ? ErrorCode.InternalError : ErrorCode.ValidationFailed;
  }
}

/** Fastify's own 4xx errors (malformed JSON, body too large, wrong content type) carry `statusCode`. */
function fastifyErrorStatus(exception: unknown): number | undefined {
  if (!(exception instanceof Error)) return undefined;
  const { statusCode, code } = exception as Error & { statusCode?: unknown; code?: unknown };
  if (typeof code !== 'string' || !code.startsWith('FST_')) return undefined;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500 ? statusCode : undefined;
}

function fastifyCode(exception: unknown, status: number): string {
  const code = (exception as { code?: string }).code;
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return ErrorCode.MalformedJson;
  return codeForStatus(status);
}
