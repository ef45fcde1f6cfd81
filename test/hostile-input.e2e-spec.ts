import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { startServer, untilReady, type ServerProcess } from './support/server-process';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Opens a raw TCP connection to the server. */
function raw(server: ServerProcess): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => resolve(socket));
    socket.on('error', () => undefined); // resets we cause ourselves
    socket.once('error', reject);
  });
}

/** Sends `request` and collects whatever comes back until the server closes (or `ms`). */
async function exchange(server: ServerProcess, request: string | Buffer, ms = 2000): Promise<string> {
  const socket = await raw(server);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', done);
    socket.write(request);
  });
}

function upgrade(path: string, extra: Record<string, string> = {}): string {
  const headers = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...extra,
  };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
}

async function expectAlive(server: ServerProcess): Promise<void> {
  const response = await fetch(`${server.baseUrl}/healthz`);
  expect(response.status).toBe(200);
  expect(server.child.exitCode).toBeNull();
}

/**
 * Hostile and malformed traffic against the compiled server in its own process, so a crash shows up as an
 * exited process rather than a broken test runner. After every class of input the server must still answer.
 */
describe('Hostile input against the running server', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer({ RATE_LIMIT_SESSIONS_PER_MINUTE: '0', MOCK_TONE_REALTIME_FACTOR: '1' });
    await untilReady(server);
  });

  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    // No uncaught exception made it to the log either.
    expect(server.lines.join('\n')).not.toMatch(/Unhandled|uncaught|URIError/i);
  });

  it('should answer a malformed percent-escape in the stream path with session_not_found, not crash', async () => {
    for (const path of [
      '/v1/tts/stream/%E0%A4%A',
      '/v1/tts/stream/%',
      '/v1/tts/stream/%ZZ%00',
      '/v1/tts/stream/%C0%80',
    ]) {
      const message = await new Promise<{ code: number; frame: any }>((resolve, reject) => {
        const ws = new WebSocket(`${server.baseUrl.replace('http', 'ws')}${path}`);
        let frame: any;
        ws.on('message', (data: Buffer) => (frame = JSON.parse(data.toString('utf8'))));
        ws.on('close', (code) => resolve({ code, frame }));
        ws.on('error', reject);
      });
      expect(message.code).toBe(4404);
      expect(message.frame).toMatchObject({ type: 'error', code: 'session_not_found' });
    }
    await expectAlive(server);
  });

  it('should survive upgrades to unknown paths and from foreign origins whose connection is reset at once', async () => {
    const requests = [
      upgrade('/nowhere'),
      upgrade('/v1/tts/stream/x', { Origin: 'https://evil.example' }),
      upgrade('/v1/tts/streamx'),
    ];
    for (let round = 0; round < 60; round++) {
      const socket = await raw(server);
      socket.write(requests[round % requests.length]);
      socket.resetAndDestroy();
    }
    // And half-closed: the client sends the upgrade and shuts its side before the answer.
    for (let round = 0; round < 20; round++) {
      const socket = await raw(server);
      socket.end(requests[round % requests.length]);
    }
    await new Promise((r) => setTimeout(r, 300));
    await expectAlive(server);
  });

  it('should answer unknown paths with 404 and foreign origins with 403, before any upgrade', async () => {
    expect(await exchange(server, upgrade('/nowhere'))).toMatch(/^HTTP\/1\.1 404/);
    expect(await exchange(server, upgrade('/v1/tts/stream/abc', { Origin: 'https://evil.example' }))).toMatch(
      /^HTTP\/1\.1 403/,
    );
  });

  it('should stay up under garbage upgrade requests', async () => {
    const garbage = [
      upgrade('/v1/tts/stream/abc', { 'Sec-WebSocket-Key': 'not base64!!' }),
      upgrade('/v1/tts/stream/abc', { 'Sec-WebSocket-Version': '99' }),
      upgrade('http://[::1', {}),
      upgrade('/v1/tts/stream/abc\u0000'),
      'GET /v1/tts/stream/abc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      `${upgrade('/v1/tts/stream/abc')}\x88\x80garbage-frame-bytes`,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00]), // a TLS ClientHello on the plain port
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n${'X-A: b\r\n'.repeat(3000)}\r\n`,
    ];
    for (const request of garbage) await exchange(server, request, 500);
    await expectAlive(server);
  });

  it('should close a stream whose client sends invalid UTF-8 or an oversized frame, and keep serving', async () => {
    const created = await fetch(`${server.baseUrl}/v1/tts/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'A protocol error mid-stream.', target_format: 'pcm16' }),
    });
    const { ws_url } = (await created.json()) as { ws_url: string };
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(ws_url);
      ws.on('open', () => {
        // A text frame whose payload is not UTF-8: the server must close with 1007.
        (ws as unknown as { _socket: Socket })._socket.write(
          Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0xfe, 0xfd]),
        );
      });
      ws.on('error', () => undefined);
      ws.on('close', (c) => resolve(c));
    });
    expect([1007, 1006]).toContain(code);
    await expectAlive(server);
    // Logged once, as a warning without a stack: it is the client's mistake, not ours.
    const line = server.json().find((l) => l.context === 'WebSocket' && /invalid UTF-8/i.test(String(l.msg)));
    expect(line).toMatchObject({ level: 40 });
    expect(JSON.stringify(line)).not.toMatch(/stack|at .*\.js:\d+/);
  });

  it('should serve requests that carry a non-WebSocket Upgrade header (curl --http2) as plain HTTP', async () => {
    const health = await exchange(
      server,
      'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    expect(health).toMatch(/^HTTP\/1\.1 200/);
    expect(health).toContain('"status":"ok"');

    const body = JSON.stringify({ text: 'Hello over h2c.', target_format: 'pcm16' });
    const created = await exchange(
      server,
      `POST /v1/tts/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
        `HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(created).toMatch(/^HTTP\/1\.1 201/);
    expect(created).toContain('"session_id"');
  });
});
