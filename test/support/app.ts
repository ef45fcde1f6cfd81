import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory';

export interface RunningApp {
  app: NestFastifyApplication;
  /** http://127.0.0.1:<port> */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Boots the real application (Fastify, WS adapter, global pipe/filter/guard) on 127.0.0.1 and a free port,
 * with `env` applied on top of a quiet, mock-only default. Variables are restored once the app has read them.
 */
export async function startApp(env: Record<string, string | undefined> = {}): Promise<RunningApp> {
  const settings: Record<string, string | undefined> = {
    LOG_LEVEL: 'silent',
    PROVIDERS: 'mock_tone',
    RATE_LIMIT_SESSIONS_PER_MINUTE: '100000',
    // Most specs watch the engine at work (pacing, cancels, failover): no audio cache unless a spec asks.
    CACHE_MAX_BYTES: '0',
    ...env,
  };
  const saved = Object.fromEntries(Object.keys(settings).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(settings)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  let app: NestFastifyApplication;
  try {
    app = await createApp();
    await app.listen(0, '127.0.0.1');
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

export async function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(response);
}

export async function createSession(baseUrl: string, body: Record<string, unknown>) {
  const res = await postJson(baseUrl, '/v1/tts/sessions', body);
  if (res.status !== 201) throw new Error(`create session failed: ${res.status} ${res.text}`);
  return res.json as { session_id: string; ws_url: string; [key: string]: unknown };
}

export async function getJson(baseUrl: string, path: string) {
  return readResponse(await fetch(`${baseUrl}${path}`));
}

/** Status, headers, body text and, when the body is JSON, the parsed body. */
async function readResponse(response: Response) {
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
