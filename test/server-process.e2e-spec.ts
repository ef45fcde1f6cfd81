import { createSession } from './support/app';
import { startServer, waitFor } from './support/server-process';
import { collectStream } from './support/ws-stream';

const SECRET_TEXT = 'Confidential words that must never reach the log.';

describe('The compiled server (node dist/main.js)', () => {
  it('should log one JSON line per request and per stream end, with the session id but never the text, and exit 0 on SIGTERM', async () => {
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
      expect(server.lines.join('\n')).not.toContain('Confidential');
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('should refuse to start with a bad variable, naming it, and exit non-zero', async () => {
    const server = await startServer({ RATE_LIMIT_SESSIONS_PER_MINUTE: 'lots' });
    expect(await server.exited).not.toBe(0);
    expect(server.lines.join('\n')).toMatch(/RATE_LIMIT_SESSIONS_PER_MINUTE="lots"/);
  });
});
