import { connect } from 'node:net';
import { createSession } from './support/app';
import { startServer, untilReady, waitFor } from './support/server-process';
import { collectStream } from './support/ws-stream';

/**
 * Graceful drain of the compiled server on SIGTERM, as Kubernetes stops a pod: readiness turns 503 at once
 * while the HTTP server keeps answering, new sessions get 503 shutting_down with Retry-After, running
 * streams finish with eos, stragglers past SHUTDOWN_DRAIN_SECONDS get shutting_down (4503), exit code 0.
 */
describe('Drain on SIGTERM (node dist/main.js)', () => {
  it('should let running streams finish, refuse new sessions and fail readiness, then exit 0', async () => {
    const server = await startServer({ MOCK_TONE_REALTIME_FACTOR: '1', SHUTDOWN_DRAIN_SECONDS: '20' });
    await untilReady(server);
    // About two seconds of paced audio each.
    const sessions = await Promise.all(
      [1, 2, 3].map(() =>
        createSession(server.baseUrl, {
          text: 'Finish me please, I am nearly done.',
          target_format: 'pcm16',
        }),
      ),
    );
    const streams = sessions.map((s) => collectStream(s.ws_url, { timeoutMs: 15000 }));
    await new Promise((r) => setTimeout(r, 400));
    const signalledAt = performance.now();
    server.child.kill('SIGTERM');

    await waitFor(async () => (await fetch(`${server.baseUrl}/readyz`)).status === 503, 1000);
    expect(performance.now() - signalledAt).toBeLessThan(1000);
    const refused = await fetch(`${server.baseUrl}/v1/tts/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Too late.', target_format: 'pcm16' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(await refused.json()).toMatchObject({ code: 'shutting_down' });
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);

    for (const stream of await Promise.all(streams)) {
      expect(stream.closeCode).toBe(1000);
      expect(stream.eos).toBeDefined();
    }
    expect(await server.exited).toBe(0);
  });

  it('should end streams still running at the deadline with shutting_down (4503), then exit 0', async () => {
    const server = await startServer({ MOCK_TONE_REALTIME_FACTOR: '1', SHUTDOWN_DRAIN_SECONDS: '1' });
    await untilReady(server);
    const session = await createSession(server.baseUrl, {
      text: 'This one is far too long to finish within the one second of drain that the gateway allows it.',
      target_format: 'pcm16',
    });
    const stream = collectStream(session.ws_url, { timeoutMs: 15000 });
    await new Promise((r) => setTimeout(r, 300));
    const signalledAt = performance.now();
    server.child.kill('SIGTERM');
    const ended = await stream;
    expect(ended.error).toMatchObject({ code: 'shutting_down' });
    expect(ended.closeCode).toBe(4503);
    expect(performance.now() - signalledAt).toBeGreaterThan(800);
    expect(performance.now() - signalledAt).toBeLessThan(4000);
    expect(await server.exited).toBe(0);
  });

  it('should not let a connection that never sent a request hold the exit (a browser preconnect, say)', async () => {
    // Node's server.close() waits for such a connection: it is neither idle (no request finished on it)
    // nor timed out (no request started). Without the close past the grace, the exit was the forced one.
    const server = await startServer({ SHUTDOWN_DRAIN_SECONDS: '1' });
    await untilReady(server);
    const silent = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const dropped = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.on('error', () => undefined);
    const signalledAt = performance.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(6000);
    await dropped;
  });
});
