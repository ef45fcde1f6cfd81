import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { get as httpGet, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { startServer, untilReady, waitFor, type ServerProcess } from './support/server-process';
import { LiveClient } from './support/live-client';
import { collectStream } from './support/ws-stream';

const run = promisify(execFile);

function rawPost(
  baseUrl: string,
  path: string,
  body: unknown,
  host: string,
): Promise<{ status: number; json: any }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { host, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Processes whose parent is `pid` (espeak-ng, ffmpeg children of the gateway). */
function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The `/file` spools `pid` holds open in `dir` (a spool is unlinked once open: "… (deleted)"). */
function openSpools(pid: number, dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(join(dir, 'tts-file-'))) out.push(target);
    } catch {
      // the descriptor closed while we looked
    }
  }
  return out;
}

/** GETs `url` into `file`, streamed (bodies of minutes of audio stay out of the test's memory). */
function fetchToFile(url: string, file: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      pipeline(res, createWriteStream(file)).then(
        () => resolve({ status: res.statusCode ?? 0, headers: res.headers }),
        reject,
      );
    }).on('error', reject);
  });
}

/** Spool files still named in `dir` (other temporary files, such as the Opus binding's copies, aside). */
function spoolsIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('tts-file-'));
}

async function metricsOf(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}

describe('Exhaustion: a client that floods messages', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ MOCK_TONE_REALTIME_FACTOR: '1', WS_CLIENT_MESSAGES_PER_SECOND: '50' });
    await untilReady(server);
  });

  afterAll(async () => {
    await server.stop();
  });

  it('should drop unread warnings and close the offender with policy_violation, with memory bounded', async () => {
    const session = await createSession(server.baseUrl, {
      text: 'A stream to a client that floods us and never reads.',
      target_format: 'pcm16',
    });
    const before = rssKiB(server.child.pid!);
    const ws = new WebSocket(session.ws_url);
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<{ code: number; reason: string }>((resolve, reject) => {
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
      ws.once('error', reject);
    });
    const socket = (ws as unknown as { _socket: Socket })._socket;
    socket.pause(); // never read
    // Corked, the 200 000 frames leave in a few large writes: written one by one into a socket the server
    // drains, they took 15 s here, long past the server's close and the 2 s it then waits for the handshake.
    socket.cork();
    for (let i = 0; i < 200_000; i++) ws.send('x');
    socket.uncork();
    await waitFor(async () => {
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      return /^tts_client_messages_rejected_total\{reason="flood"\} [1-9]/m.test(metrics);
    }, 10000);
    const grownMiB = (rssKiB(server.child.pid!) - before) / 1024;
    expect(grownMiB).toBeLessThan(60);
    // Reading again, the client finds the close the server sent it: policy_violation, 4429.
    socket.resume();
    expect(await closed).toEqual({ code: 4429, reason: 'policy_violation' });
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('Exhaustion: connections that send nothing', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ HTTP_SILENT_CONNECTION_TIMEOUT_MS: '500' });
    await untilReady(server);
  });

  afterAll(async () => {
    await server.stop();
  });

  const open = async (): Promise<{ socket: Socket; closed: Promise<number> }> => {
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const openedAt = performance.now();
    const closed = new Promise<number>((resolve) =>
      socket.once('close', () => resolve(performance.now() - openedAt)),
    );
    return { socket, closed };
  };

  const answer = (socket: Socket): Promise<string> =>
    new Promise((resolve) => socket.once('data', (data: Buffer) => resolve(data.toString('latin1'))));

  it('should close a connection that sent no byte after HTTP_SILENT_CONNECTION_TIMEOUT_MS, and keep one that did', async () => {
    const silent = await open();
    // A keep-alive connection that made a request and then waits is not silent: it stays, and serves again.
    const used = await open();
    const first = answer(used.socket);
    used.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await first).toMatch(/^HTTP\/1\.1 200/);
    const closedAfter = await silent.closed;
    expect(closedAfter).toBeGreaterThan(400);
    expect(closedAfter).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(used.socket.destroyed).toBe(false);
    const second = answer(used.socket);
    used.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await second).toMatch(/^HTTP\/1\.1 200/);
    used.socket.destroy();
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('Exhaustion: HTTP bodies nobody reads', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({
      PROVIDERS: 'mock_tone,espeak',
      HTTP_STALL_TIMEOUT_MS: '1000',
      SHUTDOWN_DRAIN_SECONDS: '1',
    });
    await untilReady(server);
  });

  afterAll(async () => {
    await server.stop();
  });

  it('should drop a /v1/audio/speech client that stops reading and free its espeak and ffmpeg processes', async () => {
    const body = JSON.stringify({
      model: 'espeak',
      voice: 'en-us',
      input: 'A long answer nobody is going to read, sentence after sentence. '.repeat(70),
      // FLAC: minutes of audio, far more than loopback socket buffers hold, through an ffmpeg child.
      response_format: 'flac',
    });
    const sockets = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<import('node:net').Socket>((resolve) => {
            const socket = connect(server.port, '127.0.0.1', () => {
              socket.write(
                `POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
              );
              socket.pause(); // never read the answer
              resolve(socket);
            });
            socket.on('error', () => undefined);
          }),
      ),
    );
    await waitFor(() => childrenOf(server.child.pid!).length >= 2, 5000);
    const closed = sockets.map((s) => new Promise((resolve) => s.once('close', resolve)));
    // HTTP_STALL_TIMEOUT_MS (1 s) after the buffers filled, the server drops them and kills the engines.
    await waitFor(() => childrenOf(server.child.pid!).length === 0, 8000);
    sockets.forEach((s) => s.resume());
    await Promise.all(closed);
    const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_active_streams\{route="speech"\} 0$/m);
  });
});

describe('/file: bounded, counted and limited like any synthesis', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({
      MOCK_TONE_REALTIME_FACTOR: '1',
      MAX_STREAMS_PER_CLIENT: '1',
      MAX_AUDIO_SECONDS: '30',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it("should keep the session's rate for another format, and take sample_rate_hz", async () => {
    const fast = await startApp();
    try {
      const s = await createSession(fast.baseUrl, {
        text: 'Rate kept.',
        target_format: 'pcm16',
        sample_rate_hz: 16000,
      });
      const mp3 = await fetch(`${fast.baseUrl}/v1/tts/sessions/${s.session_id}/file?format=mp3`);
      expect(mp3.headers.get('x-sample-rate')).toBe('16000');
      expect((await decodeAudio(Buffer.from(await mp3.arrayBuffer()), 'mp3', 16000)).sampleRate).toBe(16000);
      const wav = await fetch(
        `${fast.baseUrl}/v1/tts/sessions/${s.session_id}/file?format=wav&sample_rate_hz=8000`,
      );
      const bytes = Buffer.from(await wav.arrayBuffer());
      expect(Number(wav.headers.get('content-length'))).toBe(bytes.length);
      expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
      expect((await decodeAudio(bytes, 'wav', 8000)).sampleRate).toBe(8000);
      const bad = await fetch(
        `${fast.baseUrl}/v1/tts/sessions/${s.session_id}/file?format=opus&sample_rate_hz=44100`,
      );
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'unsupported_sample_rate', field: 'sample_rate_hz' });
    } finally {
      await fast.close();
    }
  });

  it('should count /file in the per-client stream cap', async () => {
    const s = await createSession(gw.baseUrl, {
      text: 'A stream that holds the slot.',
      target_format: 'pcm16',
    });
    const holding = collectStream(s.ws_url);
    await new Promise((r) => setTimeout(r, 200));
    const file = await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}/file`);
    expect(file.status).toBe(429); // the client's own limit, not the gateway's capacity
    expect(file.headers.get('retry-after')).toBeTruthy();
    expect(await file.json()).toMatchObject({ code: 'too_many_streams' });
    await holding;
  });

  it('should refuse audio longer than MAX_AUDIO_SECONDS with 413 audio_too_long', async () => {
    const fast = await startApp({ MAX_AUDIO_SECONDS: '2' });
    try {
      const s = await createSession(fast.baseUrl, {
        text: 'This is much longer than two seconds of tone.',
        target_format: 'wav',
      });
      const file = await fetch(`${fast.baseUrl}/v1/tts/sessions/${s.session_id}/file`);
      expect(file.status).toBe(413);
      expect(await file.json()).toMatchObject({ code: 'audio_too_long' });
      const stream = await collectStream(s.ws_url);
      expect(stream).toMatchObject({ closeCode: 4413, error: { code: 'audio_too_long' } });
    } finally {
      await fast.close();
    }
  });

  it('should share one rate-limit budget between sessions, /file and /v1/audio/speech', async () => {
    const limited = await startApp({ RATE_LIMIT_SESSIONS_PER_MINUTE: '3' });
    try {
      const s = await createSession(limited.baseUrl, { text: 'Budget.', target_format: 'pcm16' });
      expect((await fetch(`${limited.baseUrl}/v1/tts/sessions/${s.session_id}/file`)).status).toBe(200);
      const speech = await postJson(limited.baseUrl, '/v1/audio/speech', {
        model: 'tts-1',
        voice: 'alloy',
        input: 'Hi.',
      });
      expect(speech.status).toBe(200);
      const fourth = await postJson(limited.baseUrl, '/v1/tts/sessions', {
        text: 'Over.',
        target_format: 'pcm16',
      });
      expect(fourth.status).toBe(429);
      expect(fourth.headers.get('retry-after')).toBeTruthy();
    } finally {
      await limited.close();
    }
  });
});

describe('/file memory: bounded whatever the audio length', () => {
  let server: ServerProcess;
  /** The server's os.tmpdir(): where its spools go, and nothing else. */
  let spoolDir: string;
  // The tone generator at speed 0.25: 280 ms a letter, 200 ms a space; the trailing space is trimmed.
  const blocks = 300;
  const text = 'abcdefghij '.repeat(blocks);
  const seconds = blocks * 10 * 0.28 + (blocks - 1) * 0.2; // 899.8 s
  const fileUrl = (id: string, format: string) =>
    `${server.baseUrl}/v1/tts/sessions/${id}/file?format=${format}&sample_rate_hz=8000`;

  beforeAll(async () => {
    spoolDir = mkdtempSync(join(tmpdir(), 'tts-spool-'));
    server = await startServer({ TMPDIR: spoolDir });
    await untilReady(server);
  });

  afterAll(async () => {
    await server.stop();
    rmSync(spoolDir, { recursive: true, force: true });
  });

  it('should stream six 15-minute files at once, in every whole-file format, with memory far below their audio and no spool left', async () => {
    const formats = ['wav', 'mp3', 'flac', 'opus', 'mulaw', 'pcm16'];
    const pid = server.child.pid!;
    // Warm-up: codec threads, compiled code and the heap's working size are not what this measures.
    const warm = await createSession(server.baseUrl, {
      text: 'abcdefghij '.repeat(20),
      target_format: 'wav',
      speed: 0.25,
    });
    await Promise.all(formats.map(async (f) => (await fetch(fileUrl(warm.session_id, f))).arrayBuffer()));
    const long = await createSession(server.baseUrl, { text, target_format: 'wav', speed: 0.25 });
    await new Promise((r) => setTimeout(r, 500));
    const before = rssKiB(pid);
    let peak = before;
    let spools = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, rssKiB(pid));
      spools = Math.max(spools, openSpools(pid, spoolDir).length);
    }, 50);
    const out = mkdtempSync(join(tmpdir(), 'tts-bodies-'));
    try {
      const answers = await Promise.all(
        formats.map((f) => fetchToFile(fileUrl(long.session_id, f), join(out, `body.${f}`))),
      );
      clearInterval(watch);
      // The engine's PCM (24 kHz s16) of one of these requests is ~41 MiB: held whole, six would need ~250.
      const grownMiB = (peak - before) / 1024;
      expect(grownMiB).toBeLessThan(120); // a few buffers per request ...
      expect(spools).toBeGreaterThan(0); // ... as the PCM went to disk
      for (const [i, format] of formats.entries()) {
        expect(answers[i].status).toBe(200);
        expect(answers[i].headers['x-sample-rate']).toBe('8000');
        const decoded = await decodeAudio(readFileSync(join(out, `body.${format}`)), format, 8000);
        expect({ format, errors: decoded.errors }).toEqual({ format, errors: '' });
        expect(decoded.duration).toBeCloseTo(seconds, 1);
      }
      await waitFor(() => openSpools(pid, spoolDir).length === 0, 5000);
      expect(spoolsIn(spoolDir)).toEqual([]);
      expect(await metricsOf(server.baseUrl)).toMatch(/^tts_active_streams\{route="file"\} 0$/m);
    } finally {
      clearInterval(watch);
      rmSync(out, { recursive: true, force: true });
    }
  }, 240000);

  it('should free the spool and the slot when the client leaves before the headers or mid-body', async () => {
    const pid = server.child.pid!;
    const s = await createSession(server.baseUrl, { text, target_format: 'wav', speed: 0.25 });
    // Before the headers: the PCM is being rendered into its spool when the connection drops.
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`GET /v1/tts/sessions/${s.session_id}/file?format=flac HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => openSpools(pid, spoolDir).length > 0, 10000);
    socket.destroy();
    await waitFor(() => openSpools(pid, spoolDir).length === 0, 5000);
    // A client that leaves is not a server error: nothing at error level, no 500 counted.
    expect(server.json().filter((line) => line.level >= 50)).toEqual([]);
    expect(await metricsOf(server.baseUrl)).not.toMatch(/^tts_http_requests_total\{[^}]*status="5\d\d"/m);
    // Mid-body: the first bytes read, then gone.
    const leaving = new AbortController();
    const res = await fetch(fileUrl(s.session_id, 'wav'), { signal: leaving.signal });
    expect(res.status).toBe(200);
    expect((await res.body!.getReader().read()).done).toBe(false);
    expect(openSpools(pid, spoolDir).length).toBe(1); // the body streams from its spool
    leaving.abort();
    await waitFor(
      async () => /^tts_active_streams\{route="file"\} 0$/m.test(await metricsOf(server.baseUrl)),
      5000,
    );
    await waitFor(() => openSpools(pid, spoolDir).length === 0, 5000);
    expect(spoolsIn(spoolDir)).toEqual([]);
    // And the slots are back: the same session is served whole.
    const again = await fetch(fileUrl(s.session_id, 'mulaw'));
    expect(again.status).toBe(200);
    expect((await again.arrayBuffer()).byteLength).toBe(Math.round(seconds * 8000));
  }, 120000);
});

describe('Per-client fairness', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({
      MOCK_TONE_REALTIME_FACTOR: '1',
      MAX_STREAMS_PER_CLIENT: '2',
      TRUST_PROXY: 'true',
      LIVE_CHARS_PER_MINUTE: '40',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should cap one client at MAX_STREAMS_PER_CLIENT while another still streams', async () => {
    const as = async (client: string) =>
      (
        await postJson(
          gw.baseUrl,
          '/v1/tts/sessions',
          { text: 'Hold a slot for a while.', target_format: 'pcm16' },
          {
            'x-forwarded-for': client,
          },
        )
      ).json;
    const a = await Promise.all([as('10.1.0.1'), as('10.1.0.1'), as('10.1.0.1')]);
    const b = await as('10.1.0.2');
    const first = [collectStream(a[0].ws_url), collectStream(a[1].ws_url)];
    await new Promise((r) => setTimeout(r, 200));
    const third = await collectStream(a[2].ws_url);
    expect(third).toMatchObject({ closeCode: 4429, error: { code: 'too_many_streams' } });
    // The refused session was not consumed: it can stream once a slot is free.
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${a[2].session_id}`)).json.status).toBe('pending');
    const other = await collectStream(b.ws_url);
    expect(other.closeCode).toBe(1000);
    await Promise.all(first);
    expect((await collectStream(a[2].ws_url)).closeCode).toBe(1000);
  });

  it('should keep live-text budgets per client behind a trusted proxy (X-Forwarded-For), not per proxy', async () => {
    const url = `${gw.baseUrl.replace(/^http/, 'ws')}/v1/tts/live?target_format=pcm16`;
    const spent = await LiveClient.connect(url, { 'x-forwarded-for': '10.2.0.1' });
    spent.send({ type: 'text', context_id: 'a', text: 'x'.repeat(30) });
    spent.send({ type: 'text', context_id: 'b', text: 'y'.repeat(15) });
    const refused = await spent.waitFor((m) => m.type === 'error' && m.code === 'rate_limited');
    expect(refused.message.message).toMatch(/LIVE_CHARS_PER_MINUTE/);
    // Same proxy, another client: its own budget.
    const other = await LiveClient.connect(url, { 'x-forwarded-for': '10.2.0.2' });
    other.send({ type: 'text', text: 'z'.repeat(30) });
    other.send({ type: 'end' });
    await other.waitFor((m) => m.type === 'eos');
    expect(other.messages((m) => m.type === 'error')).toEqual([]);
    for (const c of [spent, other]) c.close();
  });
});

describe('The one gateway-wide cap (MAX_CONCURRENT_STREAMS) across routes', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ MOCK_TONE_REALTIME_FACTOR: '1', MAX_CONCURRENT_STREAMS: '1', TRUST_PROXY: 'true' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it("should refuse another client's stream (4503), /file and /v1/audio/speech (503, Retry-After) while one stream runs", async () => {
    const as = (client: string) => ({ 'x-forwarded-for': client });
    const create = async (client: string, text: string) =>
      (await postJson(gw.baseUrl, '/v1/tts/sessions', { text, target_format: 'pcm16' }, as(client))).json;
    const a = await create('10.3.0.1', 'One stream holds the only slot for a second or two.');
    const b = await create('10.3.0.2', 'Another client.');
    const holding = collectStream(a.ws_url, { headers: as('10.3.0.1') });
    await waitFor(
      async () => /^tts_active_streams\{route="stream"\} 1$/m.test(await metricsOf(gw.baseUrl)),
      5000,
    );

    const stream = await collectStream(b.ws_url, { headers: as('10.3.0.2') });
    expect(stream).toMatchObject({ closeCode: 4503, error: { code: 'too_many_streams' } });
    const file = await fetch(`${gw.baseUrl}/v1/tts/sessions/${b.session_id}/file`, {
      headers: as('10.3.0.2'),
    });
    expect(file.status).toBe(503);
    expect(Number(file.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await file.json()).toMatchObject({ code: 'too_many_streams' });
    const speech = await postJson(
      gw.baseUrl,
      '/v1/audio/speech',
      { model: 'mock_tone', voice: 'alloy', input: 'Hi.' },
      as('10.3.0.2'),
    );
    expect(speech.status).toBe(503);
    expect(Number(speech.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(speech.json).toMatchObject({ error: { code: 'too_many_streams', type: 'service_unavailable' } });

    expect((await holding).closeCode).toBe(1000);
    // The slot is free again: the refused session was not consumed.
    expect((await collectStream(b.ws_url, { headers: as('10.3.0.2') })).closeCode).toBe(1000);
  });
});

describe('Leaks and trust', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ PROVIDERS: 'mock_tone,coqui', COQUI_BASE_URL: 'http://127.0.0.1:9' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should not show internal addresses in readiness or the provider list', async () => {
    const ready = await getJson(gw.baseUrl, '/readyz');
    const providers = await getJson(gw.baseUrl, '/v1/providers');
    const voices = await getJson(gw.baseUrl, '/v1/voices');
    for (const text of [ready.text, providers.text, voices.text]) {
      expect(text).not.toMatch(/127\.0\.0\.1|:9\b|ECONNREFUSED 127/);
    }
    expect(providers.json.providers.find((p: any) => p.id === 'coqui')).toMatchObject({ status: 'down' });
  });

  it('should not copy a malformed Host into ws_url and file_url (relative URLs instead)', async () => {
    // fetch() cannot set Host; node:http can.
    const body = { text: 'Hi.', target_format: 'pcm16' };
    const res = await rawPost(gw.baseUrl, '/v1/tts/sessions', body, 'evil.com/phish?x=');
    expect(res.status).toBe(201);
    expect(res.json.ws_url).toBe(`/v1/tts/stream/${res.json.session_id}`);
    expect(res.json.file_url).toBe(`/v1/tts/sessions/${res.json.session_id}/file`);
    const good = await rawPost(gw.baseUrl, '/v1/tts/sessions', body, 'tts.local:8443');
    expect(good.json.ws_url).toBe(`ws://tts.local:8443/v1/tts/stream/${good.json.session_id}`);
  });

  it('should build URLs from PUBLIC_BASE_URL and check browser origins against it (DNS rebinding)', async () => {
    const pub = await startApp({ PUBLIC_BASE_URL: 'https://tts.example.com/' });
    try {
      const res = await postJson(
        pub.baseUrl,
        '/v1/tts/sessions',
        { text: 'Hi.', target_format: 'pcm16' },
        {
          host: 'rebound.evil',
        },
      );
      expect(res.json.ws_url).toBe(`wss://tts.example.com/v1/tts/stream/${res.json.session_id}`);
      const local = `${pub.baseUrl.replace('http', 'ws')}/v1/tts/stream/${res.json.session_id}`;
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(local, { headers: { origin: 'http://rebound.evil', host: 'rebound.evil' } });
        ws.on('unexpected-response', (_req, response) => resolve(response.statusCode ?? 0));
        ws.on('error', () => undefined);
      });
      expect(refused).toBe(403);
      const allowed = await collectStream(local, { headers: { origin: 'https://tts.example.com' } });
      expect(allowed.closeCode).toBe(1000);
    } finally {
      await pub.close();
    }
  });

  it('should accept JSON only (415 otherwise), bound its nesting, and say when the body is not an object', async () => {
    const post = (type: string, body: string) =>
      fetch(`${gw.baseUrl}/v1/tts/sessions`, { method: 'POST', headers: { 'content-type': type }, body });
    for (const type of [
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await post(type, 'text=hi&target_format=pcm16');
      expect(res.status).toBe(415);
      expect(await res.json()).toMatchObject({ code: 'unsupported_media_type' });
    }
    const deep = await post('application/json', `${'['.repeat(20000)}${']'.repeat(20000)}`);
    expect(deep.status).toBe(400);
    expect(await deep.json()).toMatchObject({ code: 'malformed_json' });
    const array = await post('application/json', '[{"text":"hi"}]');
    expect(array.status).toBe(400);
    expect(((await array.json()) as { message: string }).message).toMatch(/expected an object/);
  });

  it('should accept DELETE with a JSON content type and no body', async () => {
    const s = await createSession(gw.baseUrl, { text: 'Delete me.', target_format: 'pcm16' });
    const del = await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
    });
    expect(del.status).toBe(204);
  });

  it('should purge a deleted session: no text in it any more, and no file of it', async () => {
    const s = await createSession(gw.baseUrl, { text: 'Forget what I said.', target_format: 'wav' });
    expect((await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}/file`)).status).toBe(200);
    expect((await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    const after = await getJson(gw.baseUrl, `/v1/tts/sessions/${s.session_id}`);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ status: 'cancelled', text: '' });
    expect(after.text).not.toContain('Forget');
    const file = await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}/file`);
    expect(file.status).toBe(404);
    expect(file.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await file.json()).toMatchObject({ code: 'session_not_found' });
  });

  it('should say a missing model is required and where a voice of another provider belongs', async () => {
    const noModel = await postJson(gw.baseUrl, '/v1/audio/speech', { voice: 'alloy', input: 'Hi.' });
    expect(noModel.status).toBe(400);
    expect(noModel.json.error.message).toMatch(/model is required/);
    const withEspeak = await startApp({ PROVIDERS: 'mock_tone,espeak' });
    try {
      const wrong = await postJson(withEspeak.baseUrl, '/v1/tts/sessions', {
        text: 'Hi.',
        target_format: 'pcm16',
        provider: 'mock_tone',
        voice: 'en-us',
      });
      expect(wrong.status).toBe(400);
      expect(wrong.json.message).toMatch(/voice of provider "espeak"/);
    } finally {
      await withEspeak.close();
    }
  });
});

describe('The OpenAI-compatible surface a client library expects', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ PROVIDERS: 'mock_tone,espeak' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should list models and voices', async () => {
    const models = (await getJson(gw.baseUrl, '/v1/models')).json;
    expect(models.object).toBe('list');
    expect(models.data.map((m: any) => m.id)).toEqual(
      expect.arrayContaining(['tts-1', 'espeak', 'mock_tone']),
    );
    const voices = (await getJson(gw.baseUrl, '/v1/audio/voices')).json.voices;
    expect(voices).toEqual(expect.arrayContaining(['alloy', 'nova', 'en-us', 'en-us+f3']));
  });

  it("should map OpenAI's six voice names to six different espeak voices and name them in X-Voice", async () => {
    const used = new Map<string, string>();
    for (const name of ['alloy', 'echo', 'fable', 'onyx', 'nova', 'shimmer']) {
      const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'espeak', voice: name, input: 'Hello.', response_format: 'wav' }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-provider')).toBe('espeak');
      used.set(name, res.headers.get('x-voice') ?? '');
      await res.arrayBuffer();
    }
    expect(new Set(used.values()).size).toBe(6);
    const voices = (await getJson(gw.baseUrl, '/v1/voices?provider=espeak&language=en-US')).json.voices;
    const gender = (id: string) => voices.find((v: any) => v.id === id)?.gender;
    expect(gender(used.get('nova')!)).toBe('female');
    expect(gender(used.get('shimmer')!)).toBe('female');
    expect(gender(used.get('onyx')!)).toBe('male');
  });

  it('should count /v1/audio/speech like every synthesis (route label) and count HTTP requests by route', async () => {
    await (
      await fetch(`${gw.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock_tone', voice: 'alloy', input: 'Counted.' }),
      })
    ).arrayBuffer();
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^tts_streams_total\{provider="mock_tone",format="mp3",outcome="completed",route="speech"\} [1-9]/m,
    );
    expect(metrics).toMatch(
      /^tts_time_to_first_audio_seconds_count\{provider="mock_tone",format="mp3",route="speech"\} [1-9]/m,
    );
    expect(metrics).toMatch(
      /^tts_http_requests_total\{method="POST",route="\/v1\/audio\/speech",status="200"\} [1-9]/m,
    );
  });
});

describe('OpenAPI document', () => {
  it('should lint clean with @redocly/cli', async () => {
    const gw = await startApp();
    try {
      const doc = await (await fetch(`${gw.baseUrl}/docs-json`)).text();
      const { writeFileSync, mkdtempSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
      writeFileSync(join(dir, 'openapi.json'), doc);
      writeFileSync(
        join(dir, 'redocly.yaml'),
        // Probes have no client errors to document; everything else of the recommended set applies.
        'extends:\n  - recommended\nrules:\n  info-license: off\n  operation-4xx-response:\n    severity: warn\n',
      );
      const redocly = join(__dirname, '..', 'node_modules', '.bin', 'redocly');
      const result = await run(redocly, ['lint', 'openapi.json', '--format', 'stylish'], {
        cwd: dir,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      }).catch((error: { stdout?: string; stderr?: string }) => ({
        stdout: error.stdout ?? '',
        stderr: error.stderr ?? '',
        failed: true,
      }));
      expect({ failed: (result as { failed?: boolean }).failed ?? false, out: result.stdout }).toMatchObject({
        failed: false,
      });
      // Only the two probes may lack a 4xx answer.
      const warnings = `${result.stdout}\n${result.stderr}`
        .split('\n')
        .filter((l) => /\bwarning\b/.test(l) && /operation|schema|response|path/.test(l));
      expect(warnings.length).toBeLessThanOrEqual(2);
      const parsed = JSON.parse(doc);
      expect(parsed.servers?.length).toBeGreaterThan(0);
      expect(parsed.paths['/v1/providers']).toBeDefined();
      expect(parsed.paths['/v1/tts/sessions'].post.responses['415']).toBeDefined();
      expect(parsed.paths['/v1/tts/sessions'].post.operationId).toBe('createSession');
    } finally {
      await gw.close();
    }
  }, 60000);

  describe('what the audio and OpenAI-compatible routes document', () => {
    let gw: RunningApp;
    let doc: any;
    const operations = () =>
      Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
        Object.entries(item).map(([method, op]) => ({ path, method, op })),
      );
    const ref = (name: string) => `#/components/schemas/${name}`;

    beforeAll(async () => {
      gw = await startApp({ PROVIDERS: 'mock_tone,espeak' });
      doc = (await getJson(gw.baseUrl, '/docs-json')).json;
    });

    afterAll(async () => {
      await gw.close();
    });

    it('should document every error answer as JSON, the audio types on the 200s alone', () => {
      for (const { path, method, op } of operations()) {
        for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
          if (Number(status) < 400 || !response.content) continue;
          expect({ path, method, status, types: Object.keys(response.content) }).toEqual({
            path,
            method,
            status,
            types: ['application/json'],
          });
        }
      }
      for (const op of [doc.paths['/v1/tts/sessions/{id}/file'].get, doc.paths['/v1/audio/speech'].post]) {
        const types = Object.keys(op.responses['200'].content);
        expect(types.length).toBeGreaterThanOrEqual(6);
        expect(types.every((t) => t.startsWith('audio/') || t === 'text/event-stream')).toBe(true);
      }
    });

    it("should document the headers /file and /v1/audio/speech send, and /file's errors in the gateway's shape", async () => {
      const file = doc.paths['/v1/tts/sessions/{id}/file'].get.responses;
      expect(Object.keys(file['200'].headers)).toEqual(
        expect.arrayContaining(['X-Sample-Rate', 'Content-Disposition']),
      );
      expect(file['404'].content['application/json'].schema.$ref).toBe(ref('ErrorResponseDto'));
      const speech = doc.paths['/v1/audio/speech'].post.responses;
      expect(Object.keys(speech['200'].headers)).toEqual(
        expect.arrayContaining(['X-Provider', 'X-Voice', 'X-Sample-Rate', 'X-Channels']),
      );
      // ... and the route really sends them.
      const s = await createSession(gw.baseUrl, { text: 'Headers.', target_format: 'wav' });
      const got = await fetch(`${gw.baseUrl}/v1/tts/sessions/${s.session_id}/file`);
      await got.arrayBuffer();
      expect(got.headers.get('x-sample-rate')).toBe('24000');
      expect(got.headers.get('content-disposition')).toBe(`attachment; filename="${s.session_id}.wav"`);
      const spoken = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock_tone', voice: 'alloy', input: 'Headers.' }),
      });
      await spoken.arrayBuffer();
      for (const header of ['x-provider', 'x-voice', 'x-sample-rate', 'x-channels'])
        expect(spoken.headers.get(header)).toBeTruthy();
    });

    it('should document the OpenAI error envelope the OpenAI-compatible routes send', async () => {
      const envelope = doc.components.schemas.OpenAiErrorResponseDto;
      expect(envelope.properties.error.$ref).toBe(ref('OpenAiErrorDto'));
      const inner = doc.components.schemas.OpenAiErrorDto;
      expect(Object.keys(inner.properties).sort()).toEqual(['code', 'message', 'param', 'type']);
      const speech = doc.paths['/v1/audio/speech'].post.responses;
      const schemaOf = (responses: any, status: number) =>
        responses[status].content['application/json'].schema;
      // Every error, also a body the JSON parser refuses before the route (400, 413, 415), in the envelope.
      for (const status of [400, 401, 413, 415, 429, 503])
        expect(schemaOf(speech, status).$ref).toBe(ref('OpenAiErrorResponseDto'));
      for (const path of ['/v1/models', '/v1/audio/voices']) {
        expect(schemaOf(doc.paths[path].get.responses, 401).$ref).toBe(ref('OpenAiErrorResponseDto'));
      }
      // What the route really answers has the documented shape.
      const invalid = await postJson(gw.baseUrl, '/v1/audio/speech', { voice: 'alloy', input: 'Hi.' });
      expect(invalid.status).toBe(400);
      expect(Object.keys(invalid.json)).toEqual(['error']);
      expect(Object.keys(invalid.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      const notJson = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'hi',
      });
      expect(notJson.status).toBe(415);
      expect(await notJson.json()).toMatchObject({
        error: { type: 'invalid_request_error', code: 'unsupported_media_type' },
      });
      const malformed = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"input": ',
      });
      expect(malformed.status).toBe(400);
      expect(await malformed.json()).toMatchObject({ error: { code: 'malformed_json' } });
      // The gateway's own routes keep the gateway's shape.
      const own = await fetch(`${gw.baseUrl}/v1/tts/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'hi',
      });
      expect(await own.json()).toMatchObject({ statusCode: 415, code: 'unsupported_media_type' });
    });

    it('should offer createSession examples that "Try it out" can send to a gateway with the default providers', async () => {
      const examples = Object.values(
        doc.paths['/v1/tts/sessions'].post.requestBody.content['application/json'].examples as Record<
          string,
          { value: Record<string, unknown> }
        >,
      );
      expect(examples.length).toBeGreaterThan(0);
      // Every provider whose dependencies are present, as a fresh install runs.
      const fresh = await startApp({ PROVIDERS: undefined });
      try {
        for (const { value } of examples) {
          expect(value).not.toHaveProperty('fallback_providers');
          const res = await postJson(fresh.baseUrl, '/v1/tts/sessions', value);
          expect({ value, status: res.status, body: res.status === 201 ? undefined : res.json }).toEqual({
            value,
            status: 201,
            body: undefined,
          });
          expect((await collectStream(res.json.ws_url)).closeCode).toBe(1000);
        }
      } finally {
        await fresh.close();
      }
    });
  });
});
