import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createSession } from './support/app';
import { collectStream } from './support/ws-stream';

const MAIN = join(__dirname, '..', 'dist', 'main.js');
const SECRET_TEXT = 'Confidential words that must never reach the log.';

/** Starts `node dist/main.js` (what `npm run start:prod` runs) and collects its stdout/stderr lines. */
function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PROVIDERS: 'mock_tone', ...env },
  });
  const lines: string[] = [];
  let buffered = '';
  const collect = (data: Buffer) => {
    buffered += data.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(predicate)
        .catch(() => false)
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}

describe('The compiled server (node dist/main.js)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  });

  it('should log one JSON line per request and per stream end, with the session id but never the text, and exit 0 on SIGTERM', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = startServer({ PORT: String(port), LOG_LEVEL: 'info' });
    const baseUrl = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${baseUrl}/healthz`)).ok);
      const session = await createSession(baseUrl, { text: SECRET_TEXT, target_format: 'wav' });
      const stream = await collectStream(session.ws_url);
      expect(stream.closeCode).toBe(1000);
      await waitFor(() => server.lines.some((l) => l.includes('stream ended')));

      const json = server.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const request = json.find((l) => l.req?.url === '/v1/tts/sessions' && l.res?.statusCode === 201);
      expect(request).toBeDefined();
      const ended = json.filter((l) => l.msg === 'stream ended');
      expect(ended).toHaveLength(1);
      expect(ended[0]).toMatchObject({
        sessionId: session.session_id,
        provider: 'mock_tone',
        format: 'wav',
        outcome: 'completed',
        chunks: stream.audio.length,
        bytes: stream.bytes.length,
      });
      expect(ended[0].timeToFirstAudioMs).toBeGreaterThanOrEqual(0);
      expect(server.lines.join('\n')).not.toContain('Confidential');
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('should refuse to start with a bad variable, naming it, and exit non-zero', async () => {
    const server = startServer({ PORT: '0', RATE_LIMIT_SESSIONS_PER_MINUTE: 'lots' });
    expect(await server.exited).not.toBe(0);
    expect(server.lines.join('\n')).toMatch(/RATE_LIMIT_SESSIONS_PER_MINUTE="lots"/);
  });
});
