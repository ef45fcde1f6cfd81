import { ProviderError, ProviderTimeoutError, type ProviderId } from '../provider.contract';

/** Who we are talking to, for error messages: `Coqui tts-server at http://tts:5002`. */
export interface HttpPeer {
  readonly providerId: ProviderId;
  readonly label: string;
  /** Strings that must never appear in an error message (API keys). */
  readonly secrets?: readonly string[];
}

export interface StartedRequest {
  readonly response: Response;
  /** Aborts with the caller's signal; also aborted by `release()`. Pass it to body readers. */
  readonly signal: AbortSignal;
  /** Cancels the request (and its body) if still open; call in `finally`. */
  release(): void;
}

const MAX_ERROR_BODY_BYTES = 8192;
const MAX_MESSAGE_CHARS = 300;

/**
 * `fetch` with a timeout on the response head (not the body: a streamed body may legitimately run for
 * minutes, and the gateway's idle timeout watches it), mapped errors, and a non-2xx status turned into a
 * `ProviderError` carrying the server's own message:
 * - the caller aborts → the caller's `signal.reason` is rethrown untouched;
 * - no answer within `headersTimeoutMs` → `ProviderTimeoutError` (retryable);
 * - connection refused, DNS, reset → `ProviderError` (retryable);
 * - 408/429/5xx → retryable, other 4xx → not.
 */
export async function startRequest(
  peer: HttpPeer,
  url: string,
  init: RequestInit,
  signal: AbortSignal,
  headersTimeoutMs: number,
): Promise<StartedRequest> {
  signal.throwIfAborted();
  const controller = new AbortController();
  const forward = () => controller.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(
      new ProviderTimeoutError(
        peer.providerId,
        `${peer.label} did not answer within ${headersTimeoutMs} ms`,
        `did not answer within ${headersTimeoutMs} ms`,
      ),
    );
  }, headersTimeoutMs);
  const release = () => {
    clearTimeout(timer);
    signal.removeEventListener('abort', forward);
    if (!controller.signal.aborted) controller.abort(new Error('request released'));
  };

  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: controller.signal });
  } catch (error) {
    release();
    if (signal.aborted) throw signal.reason;
    if (timedOut) throw controller.signal.reason;
    throw new ProviderError(
      peer.providerId,
      `${peer.label} is unreachable: ${describeNetworkError(error)}`,
      true,
      { cause: error, kind: 'transport', publicReason: 'is unreachable' },
    );
  }
  clearTimeout(timer);

  if (!response.ok) {
    const message = await readErrorMessage(response, controller.signal);
    release();
    throw httpStatusError(peer, response.status, message, retryAfterOf(response.headers.get('retry-after')));
  }
  return { response, signal: controller.signal, release };
}

/** Maps an error thrown while reading a body: the caller's abort stays as is, the rest becomes a ProviderError. */
export function bodyReadError(peer: HttpPeer, error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof ProviderError) return error;
  return new ProviderError(
    peer.providerId,
    redact(`${peer.label} broke off the response: ${describeNetworkError(error)}`, peer.secrets),
    true,
    { cause: error, publicReason: 'broke off the response' },
  );
}

/** A non-2xx answer; `status` lets callers treat some (404 on an optional endpoint) as "reachable". */
export class HttpStatusError extends ProviderError {
  constructor(
    providerId: ProviderId,
    readonly status: number,
    message: string,
    retryAfterSeconds?: number,
  ) {
    super(providerId, message, status === 408 || status === 429 || status >= 500, {
      kind: status === 429 ? 'rate_limited' : 'response',
      retryAfterSeconds,
      publicReason: `answered HTTP ${status}`,
    });
    this.name = 'HttpStatusError';
  }
}

export function httpStatusError(
  peer: HttpPeer,
  status: number,
  serverMessage: string,
  retryAfterSeconds?: number,
): HttpStatusError {
  const detail = serverMessage ? `: ${serverMessage}` : '';
  return new HttpStatusError(
    peer.providerId,
    status,
    redact(`${peer.label} answered HTTP ${status}${detail}`, peer.secrets),
    retryAfterSeconds,
  );
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), bounded to a day; undefined when absent or bad. */
export function retryAfterOf(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = /^\s*\d+\s*$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.min(86400, Math.max(0, seconds)) : undefined;
}

/**
 * Reads a whole body, refusing more than `limit` bytes (an upstream that sends gigabytes must not make us
 * hold them). Aborting `signal` stops the read.
 */
export async function readBytesBounded(
  peer: HttpPeer,
  response: Response,
  limit: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    throw new ProviderError(
      peer.providerId,
      `${peer.label} announced a ${declared}-byte body; the limit is ${limit}`,
      false,
      { publicReason: 'sent a response larger than the gateway accepts' },
    );
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      signal?.throwIfAborted();
      total += chunk.length;
      if (total > limit) {
        throw new ProviderError(
          peer.providerId,
          `${peer.label} sent more than ${limit} bytes in one response`,
          false,
          { publicReason: 'sent a response larger than the gateway accepts' },
        );
      }
      parts.push(chunk);
    }
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads a (bounded) error body and extracts the human part of it. Never throws. */
export async function readErrorMessage(response: Response, signal?: AbortSignal): Promise<string> {
  try {
    const text = await readTextBounded(response, MAX_ERROR_BODY_BYTES, signal);
    return errorMessageFromBody(text, response.headers.get('content-type') ?? '');
  } catch {
    // The body itself failed (connection dropped): the status line is all we have.
    return response.statusText;
  }
}

/**
 * The message inside an error body, from the envelopes servers actually use: OpenAI
 * `{"error":{"message"}}`, Coqui idiap `{"error":"..."}`, FastAPI/Kokoro `{"detail":"..."}`,
 * `{"detail":{"message"|"error"}}`, `{"detail":[{"msg"}]}` (422), `{"message"}`; an HTML page (Flask's 500)
 * reduced to its heading and first paragraph; else the text itself. Truncated.
 */
export function errorMessageFromBody(body: string, contentType: string): string {
  const text = body.trim();
  if (!text) return '';
  if (contentType.includes('json') || /^[{[]/.test(text)) {
    try {
      const fromJson = messageFromJson(JSON.parse(text) as unknown);
      if (fromJson) return truncate(fromJson);
    } catch {
      // Not JSON after all: fall through to text.
    }
  }
  if (contentType.includes('html') || /^<(!doctype|html)/i.test(text)) return truncate(textOfHtml(text));
  return truncate(text.replace(/\s+/g, ' '));
}

function messageFromJson(json: unknown): string | undefined {
  if (typeof json === 'string') return json;
  if (!json || typeof json !== 'object') return undefined;
  const record = json as Record<string, unknown>;
  for (const key of ['message', 'error', 'detail', 'msg']) {
    const value = record[key];
    if (typeof value === 'string' && value) return value;
    if (Array.isArray(value)) {
      const parts = value.map((v) => messageFromJson(v)).filter((v): v is string => !!v);
      if (parts.length > 0) return parts.join('; ');
    } else if (value && typeof value === 'object') {
      const nested = messageFromJson(value);
      if (nested) return nested;
    }
  }
  return undefined;
}

function textOfHtml(html: string): string {
  const clean = html.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ');
  const pick = (tag: string) =>
    [...clean.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, 'gi'))].map((m) => stripTags(m[1]));
  const parts = [...pick('h1'), ...pick('p').slice(0, 1)].filter(Boolean);
  if (parts.length === 0) parts.push(...pick('title'));
  return (parts.length > 0 ? parts.join(': ') : stripTags(clean)).trim();
}

function stripTags(html: string): string {
  return html
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** Reads at most `limit` bytes of a body as UTF-8; leaving the loop early cancels the rest of the body. */
export async function readTextBounded(
  response: Response,
  limit: number,
  signal?: AbortSignal,
): Promise<string> {
  if (!response.body) return '';
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    signal?.throwIfAborted();
    bytes += chunk.length;
    text += decoder.decode(chunk, { stream: true });
    if (bytes >= limit) break;
  }
  return text + decoder.decode();
}

/**
 * Replaces secrets, and OpenAI-style masked keys (`sk-proj-****abcd`, which still leak the key's last
 * characters), with `[redacted]`.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out.replace(/\b(?:sk|rk|pk)-[\w*-]{4,}/g, '[redacted]').replace(/\S*\*{4,}\S*/g, '[redacted]');
}

/**
 * `ECONNREFUSED 127.0.0.1:5002` rather than undici's bare "fetch failed". Duck-typed, not `instanceof
 * Error`: errors raised inside Node's own fetch come from another realm under test runners.
 */
export function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    if (typeof current !== 'object') {
      parts.push(typeof current === 'string' ? current : (JSON.stringify(current) ?? 'unknown error'));
      break;
    }
    const e = current as { message?: unknown; code?: unknown; cause?: unknown; errors?: unknown };
    const message = typeof e.message === 'string' ? e.message : '';
    const code = typeof e.code === 'string' ? e.code : '';
    const text = code && !message.includes(code) ? `${code} ${message}`.trim() : message;
    if (text && text !== 'fetch failed') parts.push(text);
    // Happy-eyeballs failures are an AggregateError of one error per address.
    current = e.cause ?? (Array.isArray(e.errors) ? (e.errors as unknown[])[0] : undefined);
  }
  return parts.length > 0 ? parts.join(': ') : 'network error';
}

/** The message of anything thrown (cross-realm safe). */
export function errorMessage(error: unknown): string {
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}

/** Joins a base URL (with or without trailing slashes) and a path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
