import { readFileSync } from 'node:fs';
import { createSession } from './support/app';
import { FaultEngine } from './support/fault-engine';
import { startServer, untilReady, waitFor, type ServerProcess } from './support/server-process';
import { collectStream } from './support/ws-stream';

const SECRET_TEXT = 'Confidential words that must never reach the log.';

describe('The compiled server (node dist/main.js)', () => {
  it('should log one JSON line per request (under the request_id the client sees, secrets redacted) and per stream end, with the session id but never the text, and exit 0 on SIGTERM', async () => {
    const server = await startServer({ LOG_LEVEL: 'info' });
    const baseUrl = server.baseUrl;
    try {
      await waitFor(async () => (await fetch(`${baseUrl}/healthz`)).ok);
      const session = await createSession(baseUrl, { text: SECRET_TEXT, target_format: 'wav' });
      const stream = await collectStream(session.ws_url);
      expect(stream.closeCode).toBe(1000);
      await waitFor(() => server.lines.some((l) => l.includes('stream ended')));

      const json = server.json();
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

      // A refused request: its line carries the request_id the client saw, at warn, with secrets redacted.
      const refused = await fetch(`${baseUrl}/v1/tts/sessions?token=tok-secret-9`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer sekrit-123',
          'x-api-key': 'k-456',
        },
        body: JSON.stringify({ text: '' }),
      });
      expect(refused.status).toBe(400);
      const { request_id: requestId } = (await refused.json()) as { request_id: string };
      await waitFor(() => server.json().some((l) => l.req?.id === requestId));
      const refusedLine = server.json().find((l) => l.req?.id === requestId);
      expect(refusedLine).toMatchObject({ level: 40, msg: 'request completed', res: { statusCode: 400 } });
      expect(refusedLine.req.headers).toMatchObject({
        authorization: '[redacted]',
        'x-api-key': '[redacted]',
      });
      expect(refusedLine.req.url).toBe('/v1/tts/sessions?token=[redacted]');
      const log = server.lines.join('\n');
      for (const secret of ['Confidential', 'sekrit-123', 'k-456', 'tok-secret-9'])
        expect(log).not.toContain(secret);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('should count the provider switches of a session stream that failed over mid-stream in its stream ended line', async () => {
    const engine = await new FaultEngine().start();
    const server = await startServer({
      LOG_LEVEL: 'info',
      PROVIDERS: 'mock_tone,openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      PROVIDER_OPENAI_RETRIES: '0',
    });
    try {
      await waitFor(async () => (await fetch(`${server.baseUrl}/readyz`)).ok, 10000);
      // Sentence 1 is fine; sentence 2 is cut after some of its audio went out.
      engine.next({ kind: 'ok' }, { kind: 'reset', afterBytes: 9600 });
      const session = await createSession(server.baseUrl, {
        text: 'The first sentence is here. The second one follows it.',
        provider: 'openai',
        fallback_providers: ['mock_tone'],
        failover: 'mid_stream',
        target_format: 'pcm16',
      });
      const stream = await collectStream(session.ws_url);
      expect(stream.control.filter((m) => m.type === 'provider_switched')).toHaveLength(1);
      await waitFor(() => server.json().some((l) => l.msg === 'stream ended'));
      expect(server.json().find((l) => l.msg === 'stream ended')).toMatchObject({
        sessionId: session.session_id,
        provider: 'openai',
        servedBy: 'mock_tone',
        outcome: 'completed',
        providerSwitches: 1,
      });
    } finally {
      await server.stop();
      await engine.close();
    }
  });

  it('should refuse configuration it cannot honour, naming the variable, without a stack trace', async () => {
    const server = await startServer({ PROVIDERS: '', DEFAULT_PROVIDER: 'openai' });
    expect(await server.exited).not.toBe(0);
    const output = server.lines.join('\n');
    expect(output).toMatch(/DEFAULT_PROVIDER "openai"[^\n]*OPENAI_TTS_BASE_URL/);
    expect(output).not.toMatch(/^\s+at /m);
    const keys = await startServer({ API_KEYS: 'a key with spaces' });
    expect(await keys.exited).not.toBe(0);
    expect(keys.lines.join('\n')).toMatch(/API_KEYS=\(redacted\)/);
    expect(keys.lines.join('\n')).not.toContain('with spaces');
  });

  it('should log one startup line naming the URL and every provider with its state', async () => {
    const server = await startServer({ LOG_LEVEL: 'info', PROVIDERS: 'mock_tone,espeak' });
    await waitFor(() => server.json().some((l) => /listening on/.test(l.msg ?? '')), 10000);
    const line = server.json().find((l) => /listening on/.test(l.msg ?? ''));
    expect(line.msg).toMatch(/http:\/\/127\.0\.0\.1:\d+; providers: mock_tone \(up\), espeak \(up\)/);
    // Nest's module wiring is not logged at info.
    expect(server.json().filter((l) => l.context === 'InstanceLoader')).toEqual([]);
    expect(await server.stop()).toBe(0);
  });

  it('should start its codec threads at boot with CODEC_THREADS_AT_BOOT, so a first MP3 session starts none (by default it starts one)', async () => {
    const threadsOf = (server: ServerProcess) =>
      Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);
    const mp3Session = async (server: ServerProcess) => {
      const session = await createSession(server.baseUrl, { text: 'Short reply.', target_format: 'mp3' });
      expect((await collectStream(session.ws_url)).closeCode).toBe(1000);
    };
    const atBoot = await startServer({ CODEC_THREADS: '2', CODEC_THREADS_AT_BOOT: 'true' });
    const lazy = await startServer({ CODEC_THREADS: '2' });
    try {
      await Promise.all([untilReady(atBoot), untilReady(lazy)]);
      // Once booted, the at-boot server runs the two codec threads more than the lazy one.
      await waitFor(() => threadsOf(atBoot) === threadsOf(lazy) + 2, 10000);
      const [before, lazyBefore] = [threadsOf(atBoot), threadsOf(lazy)];
      await mp3Session(atBoot);
      await mp3Session(lazy);
      expect(threadsOf(atBoot)).toBe(before);
      expect(threadsOf(lazy)).toBeGreaterThan(lazyBefore);
    } finally {
      await Promise.all([atBoot.stop(), lazy.stop()]);
    }
  });

  it('should refuse to start with a bad variable, naming it, and exit non-zero', async () => {
    const server = await startServer({ RATE_LIMIT_SESSIONS_PER_MINUTE: 'lots' });
    expect(await server.exited).not.toBe(0);
    expect(server.lines.join('\n')).toMatch(/RATE_LIMIT_SESSIONS_PER_MINUTE="lots"/);
  });
});
