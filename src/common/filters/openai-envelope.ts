import type { ErrorBody } from './http-exception.filter';

/**
 * The routes that speak OpenAI's API: their errors use OpenAI's envelope, so the official SDKs surface our
 * messages — also the errors raised before the route's own filter runs (body parsing: 400, 413, 415).
 */
export const OPENAI_ROUTES: ReadonlySet<string> = new Set([
  '/v1/audio/speech',
  '/v1/models',
  '/v1/audio/voices',
]);

export function isOpenAiRoute(url: string | undefined): boolean {
  return OPENAI_ROUTES.has((url ?? '').split('?')[0]);
}

/** `{"error":{"message","type","param","code"}}` for one of our error bodies (its HTTP status unchanged). */
export function openAiEnvelope(body: ErrorBody): {
  error: { message: string; type: string; param: string | null; code: string };
} {
  return {
    error: {
      message: body.message,
      type: openAiErrorType(body.statusCode),
      param: body.field ?? null,
      code: body.code,
    },
  };
}

function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_exceeded';
  if (status === 404) return 'not_found_error';
  if (status >= 500) return status === 503 ? 'service_unavailable' : 'server_error';
  return 'invalid_request_error';
}
