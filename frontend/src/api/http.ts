import type { ErrorBody, SessionCreated, SessionRequest, VoiceCatalog } from './types';
import { describeCode, describeHttpStatus } from './errors';

/** A non-2xx answer of the gateway, with its stable `code` when the body had one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly field?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** "429 rate limited", "503 provider unavailable (…)": what the stress view counts failures by. */
  get causeLabel(): string {
    if (this.status === 0) return 'network error';
    return `${this.status} ${this.code ? describeCode(this.code) : describeHttpStatus(this.status)}`;
  }
}

export interface GatewayApiOptions {
  /** Origin (and optional prefix) of the gateway; '' = this page's origin. */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer …` when the gateway requires keys. */
  apiKey?: string;
  fetch?: typeof fetch;
}

/** The REST half of the public API, as any client calls it. */
export class GatewayApi {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: GatewayApiOptions = {}) {
    this.baseUrl = options.baseUrl ?? '';
    // An unbound window.fetch throws "Illegal invocation".
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async voices(signal?: AbortSignal): Promise<VoiceCatalog> {
    const body = await this.request<Partial<VoiceCatalog>>('GET', '/v1/voices', undefined, signal);
    return { voices: body.voices ?? [], providers: body.providers ?? [] };
  }

  createSession(request: SessionRequest, signal?: AbortSignal): Promise<SessionCreated> {
    return this.request<SessionCreated>('POST', '/v1/tts/sessions', request, signal);
  }

  /** The gateway's OpenAPI document. */
  openApi(signal?: AbortSignal): Promise<unknown> {
    return this.request<unknown>('GET', '/docs-json', undefined, signal);
  }

  async metricsText(signal?: AbortSignal): Promise<string> {
    const response = await this.send('GET', '/metrics', undefined, signal);
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response, text);
    return text;
  }

  private async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, body, signal);
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response, text);
    return JSON.parse(text) as T;
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError(0, `The gateway could not be reached (${(error as Error).message}).`);
    }
  }
}

/** Builds an ApiError from the gateway's `{statusCode,error,message,code,field}` body (or any other body). */
export function errorFromResponse(response: Pick<Response, 'status' | 'headers'>, text: string): ApiError {
  let body: ErrorBody | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed as ErrorBody;
  } catch {
    body = undefined; // not JSON: a proxy's HTML page, say
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  const raw = body?.message;
  const message =
    (Array.isArray(raw) ? raw.join('; ') : raw) ||
    body?.error ||
    `HTTP ${response.status} ${describeHttpStatus(response.status)}`;
  return new ApiError(
    response.status,
    message,
    body?.code,
    body?.field,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}
