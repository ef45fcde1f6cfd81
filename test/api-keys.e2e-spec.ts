import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import WebSocket from 'ws';
import { startServer, untilReady, waitFor, type ServerProcess } from './support/server-process';
import { collectStream } from './support/ws-stream';

const ALICE = 'sk-alice-0123456789abcdef0123456789';
const BOB = 'sk-bob-abcdef0123456789abcdef012345';
const ADMIN = 'sk-admin-fedcba9876543210fedcba987654';
const QUICK = 'sk-quickstart-key-000000000000000';
const CAROL = 'sk-carol-5555555555555555555555555';
const ALL_KEYS = [ALICE, BOB, ADMIN, QUICK, CAROL];

function keyFile(extra = ''): string {
  return `keys:
  - name: alice
    key: ${ALICE}
    sessions_per_minute: 7
    chars_per_minute: 400
    max_concurrent_streams: 1
    providers: [mock_tone]
  - name: bob
    key: ${BOB}
  - name: ops
    key: ${ADMIN}
    admin: true
${extra}`;
}

/** The HTTP answer to a WebSocket upgrade: 101 when it opened (then closed at once), else the refusal. */
function upgradeAnswer(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; wwwAuthenticate?: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, wwwAuthenticate: res.headers['www-authenticate'] });
      res.resume();
    });
    socket.on('open', () => {
      socket.terminate();
      resolve({ status: 101 });
    });
    socket.on('error', (error) => reject(error));
  });
}

/**
 * API keys and tenancy against the compiled server with a YAML key file and a quick-start key: who may
 * call, per-key limits, session ownership (another key's session is a plain 404), single-use WebSocket
 * tokens, reload without a restart, usage accounting, and no key in any log line.
 */
describe('API keys and tenancy', () => {
  let dir: string;
  let file: string;
  let server: ServerProcess;
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const create = async (key: string, body: Record<string, unknown> = {}) => {
    const res = await post(
      '/v1/tts/sessions',
      { text: 'A keyed session.', target_format: 'pcm16', ...body },
      auth(key),
    );
    return { status: res.status, json: await res.json(), headers: res.headers };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keys-'));
    file = join(dir, 'keys.yaml');
    writeFileSync(file, keyFile());
    server = await startServer({
      PROVIDERS: 'mock_tone,espeak',
      API_KEYS_FILE: file,
      API_KEYS: QUICK,
      METRICS_REQUIRE_KEY: 'true',
      WS_TOKEN_TTL_SECONDS: '5',
      LOG_LEVEL: 'info',
      MOCK_TONE_REALTIME_FACTOR: '1',
    });
    await untilReady(server);
  });

  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    // No key, in any form, in any log line of the whole run.
    const log = server.lines.join('\n');
    for (const key of ALL_KEYS) expect(log).not.toContain(key);
  });

  it('should answer 401 with WWW-Authenticate on every /v1 route without a key or with a wrong one', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/v1/voices'],
      ['GET', '/v1/providers'],
      ['GET', '/v1/models'],
      ['GET', '/v1/audio/voices'],
      ['POST', '/v1/tts/sessions'],
      ['POST', '/v1/audio/speech'],
      ['GET', '/v1/tts/sessions/00000000-0000-4000-8000-000000000000'],
      ['DELETE', '/v1/tts/sessions/00000000-0000-4000-8000-000000000000'],
      ['POST', '/v1/tts/live/token'],
      ['GET', '/v1/tts/sessions/00000000-0000-4000-8000-000000000000/file'],
      ['GET', '/v1/admin/usage'],
    ];
    for (const [method, path] of routes) {
      for (const headers of [{}, auth('sk-wrong-key-000000000000000000')]) {
        const res = await fetch(`${server.baseUrl}${path}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body: method === 'POST' ? '{}' : undefined,
        });
        expect({ path, status: res.status }).toEqual({ path, status: 401 });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        const body = await res.json();
        expect(body.code ?? body.error?.code).toBe('unauthorized');
      }
    }
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.baseUrl}/metrics`, { headers: auth(BOB) })).status).toBe(401);
    expect((await fetch(`${server.baseUrl}/metrics`, { headers: auth(ADMIN) })).status).toBe(200);
  });

  it('should refuse a stream or live socket without a key or token with 401 and WWW-Authenticate, before the upgrade', async () => {
    const session = await create(BOB);
    const bare = session.json.ws_url.replace(/\?.*$/, '');
    const live = `${server.baseUrl.replace(/^http/, 'ws')}/v1/tts/live`;
    for (const [url, headers] of [
      [bare, {}],
      [bare, auth('sk-wrong-key-000000000000000000')],
      [`${bare}?token=not-a-token`, {}],
      [live, {}],
      [live, auth('sk-wrong-key-000000000000000000')],
    ] as Array<[string, Record<string, string>]>) {
      const answer = await upgradeAnswer(url, headers);
      expect({ url, status: answer.status }).toEqual({ url, status: 401 });
      expect(answer.wwwAuthenticate).toMatch(/^Bearer/);
    }
    // Nothing was consumed: the owner still streams the session.
    expect((await collectStream(bare, { headers: auth(BOB) })).closeCode).toBe(1000);
  });

  it('should document the bearer scheme on every protected route and none on the probes', async () => {
    const doc = await (await fetch(`${server.baseUrl}/docs-json`)).json();
    const [name, scheme] = Object.entries(doc.components.securitySchemes)[0] as [string, any];
    expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ [name]: [] }]);
    const operations = Object.entries(doc.paths).flatMap(([path, item]: [string, any]) =>
      Object.values(item).map((op: any) => ({ path, security: op.security ?? doc.security })),
    );
    for (const op of operations.filter((o) => o.path.startsWith('/v1/')))
      expect(op).toEqual({ path: op.path, security: [{ [name]: [] }] });
    for (const probe of ['/healthz', '/readyz'])
      expect(operations.find((o) => o.path === probe)).toEqual({ path: probe, security: [] });
  });

  it("should answer another key's session exactly like an unknown one (404), on every route and the socket", async () => {
    const mine = await create(BOB);
    expect(mine.status).toBe(201);
    const id = mine.json.session_id;
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const path of [`/v1/tts/sessions/${id}`, `/v1/tts/sessions/${id}/file`]) {
      const theirs = await fetch(`${server.baseUrl}${path}`, { headers: auth(ALICE) });
      const none = await fetch(`${server.baseUrl}${path.replace(id, unknown)}`, { headers: auth(ALICE) });
      expect(theirs.status).toBe(404);
      const [a, b] = [await theirs.json(), await none.json()];
      expect(a.code).toBe('session_not_found');
      expect(a.message.replace(id, unknown)).toBe(b.message);
    }
    expect(
      (await fetch(`${server.baseUrl}/v1/tts/sessions/${id}`, { method: 'DELETE', headers: auth(ALICE) }))
        .status,
    ).toBe(404);
    const ws = mine.json.ws_url.replace(/\?.*$/, '');
    const stolen = await collectStream(ws, { headers: auth(ALICE) });
    expect(stolen).toMatchObject({ closeCode: 4404, error: { code: 'session_not_found' } });
    // The owner streams it, with the header.
    const own = await collectStream(ws, { headers: auth(BOB) });
    expect(own.closeCode).toBe(1000);
  });

  it('should accept the single-use token of ws_url once, for that session only, and not after it expires', async () => {
    const a = await create(BOB);
    const b = await create(BOB);
    const c = await create(BOB);
    expect(a.json.ws_url).toMatch(/\?token=[\w-]{40,}$/);
    const refused = async (url: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(url);
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => {
          socket.terminate();
          resolve(101);
        });
        socket.on('error', () => undefined);
      });
    const first = await collectStream(a.json.ws_url);
    expect(first.closeCode).toBe(1000);
    expect(await refused(a.json.ws_url)).toBe(401); // used once already
    // A token is bound to its session: b's token does not open a's stream.
    const bToken = new URL(b.json.ws_url).searchParams.get('token');
    expect(await refused(`${a.json.ws_url.replace(/\?.*$/, '')}?token=${bToken}`)).toBe(401);
    await new Promise((r) => setTimeout(r, 5500));
    expect(await refused(c.json.ws_url)).toBe(401); // expired
    // A GET by the owner hands out a fresh one.
    const again = await (
      await fetch(`${server.baseUrl}/v1/tts/sessions/${c.json.session_id}`, { headers: auth(BOB) })
    ).json();
    expect((await collectStream(again.ws_url)).closeCode).toBe(1000);
  }, 20000);

  it("should enforce a key's limits: providers, concurrency, characters and sessions per minute", async () => {
    const espeak = await create(ALICE, { provider: 'espeak' });
    expect(espeak.status).toBe(400);
    expect(espeak.json).toMatchObject({ code: 'provider_not_enabled', field: 'provider' });
    // Nor as a fallback: a named one is refused, naming the entry.
    const viaFallback = await create(ALICE, { fallback_providers: ['espeak'] });
    expect(viaFallback.status).toBe(400);
    expect(viaFallback.json).toMatchObject({ code: 'provider_not_enabled', field: 'fallback_providers[0]' });

    const s1 = await create(ALICE, { text: 'One stream at a time for alice.' });
    const s2 = await create(ALICE, { text: 'The second one must wait.' });
    expect([s1.status, s2.status, s1.json.code]).toEqual([201, 201, undefined]);
    const running = collectStream(s1.json.ws_url);
    await new Promise((r) => setTimeout(r, 300));
    const second = await collectStream(s2.json.ws_url);
    expect(second).toMatchObject({ closeCode: 4429, error: { code: 'too_many_streams' } });
    await running;

    const long = await create(ALICE, { text: 'x'.repeat(390) });
    expect(long.status).toBe(429);
    expect(long.json.message).toMatch(/characters per minute/);
    expect(Number(long.headers.get('retry-after'))).toBeGreaterThan(0);

    // Seven sessions a minute: the calls above counted, the next ones hit the limit.
    let status = 0;
    for (let i = 0; i < 6 && status !== 429; i++) status = (await create(ALICE, { text: 'Hi.' })).status;
    expect(status).toBe(429);
    // Bob has no such limits.
    expect((await create(BOB)).status).toBe(201);
  });

  it('should reload the key file without a restart', async () => {
    expect((await create(CAROL)).status).toBe(401);
    writeFileSync(
      file,
      keyFile(`  - name: carol\n    key_sha256: ${createHash('sha256').update(CAROL).digest('hex')}\n`),
    );
    await waitFor(async () => (await create(CAROL)).status === 201, 5000);
    writeFileSync(file, keyFile());
    await waitFor(async () => (await create(CAROL)).status === 401, 5000);
    expect((await create(QUICK)).status).toBe(201); // API_KEYS still apply
  });

  it('should work with the official OpenAI SDK and its apiKey', async () => {
    const client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: BOB, maxRetries: 0 });
    const audio = await client.audio.speech.create({
      model: 'mock_tone',
      voice: 'alloy',
      input: 'Hello, key.',
    });
    expect((await audio.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    const wrong = new OpenAI({
      baseURL: `${server.baseUrl}/v1`,
      apiKey: 'sk-not-a-key-0000000000000',
      maxRetries: 0,
    });
    await expect(
      wrong.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'No.' }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it('should account usage per key name for admins, in metrics and in the stream-end log line', async () => {
    const usage = await fetch(`${server.baseUrl}/v1/admin/usage`, { headers: auth(ADMIN) });
    expect(usage.status).toBe(200);
    const body = await usage.json();
    expect(body.keys.bob.sessions).toBeGreaterThan(0);
    expect(body.keys.bob.audio_seconds).toBeGreaterThan(0);
    expect(body.keys.bob.bytes).toBeGreaterThan(0);
    expect((await fetch(`${server.baseUrl}/v1/admin/usage`, { headers: auth(BOB) })).status).toBe(401);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`, { headers: auth(ADMIN) })).text();
    expect(metrics).toMatch(/^tts_key_usage_total\{key="bob",kind="sessions"\} [1-9]/m);
    const ended = server.json().filter((l) => l.msg === 'stream ended' && l.key === 'bob');
    expect(ended.length).toBeGreaterThan(0);
  });

  it('should hand out a single-use live-socket URL to a key, which opens the live socket once', async () => {
    const res = await post('/v1/tts/live/token', {}, auth(BOB));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.ws_url).toMatch(/\/v1\/tts\/live\?token=[\w-]{40,}$/);
    expect(body.expires_in).toBe(5);
    const url = new URL(body.ws_url, server.baseUrl.replace(/^http/, 'ws')).toString();
    expect((await upgradeAnswer(url, {})).status).toBe(101);
    expect((await upgradeAnswer(url, {})).status).toBe(401); // used once already
  });
});

/**
 * A JSON key file: short keys are accepted with a warning that names the entry (not the key), and a file
 * that does not parse names where, never quoting it (parsers quote the text around the error, which can be
 * a key).
 */
describe('API keys from a JSON file', () => {
  const SHORT = 'tiny-key-1';
  const LEAKY = 'sk-unquoted-secret-777777777777';
  let dir: string;
  let file: string;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keys-json-'));
    file = join(dir, 'keys.json');
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should take a short key with a warning naming its entry, and keep the keys when a reload does not parse', async () => {
    writeFileSync(file, JSON.stringify({ keys: [{ name: 'dev', key: SHORT, max_text_chars: 20 }] }));
    server = await startServer({
      PROVIDERS: 'mock_tone',
      API_KEYS_FILE: file,
      LOG_LEVEL: 'info',
      AUTH_FAILURES_PER_MINUTE: '3',
    });
    await untilReady(server);
    const warning = server.json().find((l) => /shorter than 16 characters/.test(l.msg ?? ''));
    expect(warning?.msg).toMatch(/keys\[0\] \(dev\)/);
    const create = (text: string) =>
      fetch(`${server!.baseUrl}/v1/tts/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${SHORT}` },
        body: JSON.stringify({ text, target_format: 'pcm16' }),
      });
    expect((await create('Short key.')).status).toBe(201);
    const tooLong = await create('This text is longer than twenty characters.');
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ field: 'text' });

    writeFileSync(file, `{"keys":[{"name":"dev","key":${LEAKY}}]}`);
    await waitFor(() => server!.lines.some((l) => /not reloaded/.test(l)), 5000);
    expect(server.lines.find((l) => /not reloaded/.test(l))).toMatch(/is not valid JSON/);
    expect((await create('Still in.')).status).toBe(201);
    const log = server.lines.join('\n');
    for (const secret of [SHORT, LEAKY, LEAKY.slice(0, 8), LEAKY.slice(-8)])
      expect(log).not.toContain(secret);
  });

  it('should answer 429 to an address past AUTH_FAILURES_PER_MINUTE wrong keys, and still let a valid key in', async () => {
    const voices = (key?: string) =>
      fetch(`${server!.baseUrl}/v1/voices`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await voices(`wrong-key-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const refused = await voices('wrong-key-again');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ code: 'rate_limited' });
    expect((await voices()).status).toBe(401); // no key at all: told so, not counted
    expect((await voices(SHORT)).status).toBe(200);
  });
});
