import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson } from './support/app';
import { FaultEngine } from './support/fault-engine';
import { LiveClient } from './support/live-client';
import { startRedis, type RedisServer } from './support/redis-server';
import { startServer, untilReady, waitFor, type ServerProcess } from './support/server-process';
import { collectStream } from './support/ws-stream';

/** The same stream URL on the other replica. */
const on = (replica: ServerProcess, wsUrl: string) =>
  wsUrl.replace(/^ws:\/\/[^/]+/, replica.baseUrl.replace('http', 'ws'));

const TEXT = 'Two replicas share this stream through Redis.';

/**
 * Two compiled gateway processes on one real redis-server (Debian's, on a free port): sessions, resume
 * buffers, rate limits, cancels and circuits cross replicas; a replica killed mid-stream and Redis stopped
 * and restarted end in the documented outcomes.
 */
describe('Several replicas on one Redis', () => {
  let redis: RedisServer;
  let engine: FaultEngine;
  let a: ServerProcess;
  let b: ServerProcess;

  const env = () => ({
    REDIS_URL: redis.url,
    PROVIDERS: 'mock_tone,openai',
    DEFAULT_PROVIDER: 'mock_tone',
    OPENAI_TTS_BASE_URL: engine.baseUrl,
    MOCK_TONE_REALTIME_FACTOR: '1',
    RESUME_WINDOW_SECONDS: '30',
    RATE_LIMIT_SESSIONS_PER_MINUTE: '1000',
    PROVIDER_OPENAI_RETRIES: '0',
    PROVIDER_OPENAI_BREAKER_THRESHOLD: '2',
    PROVIDER_OPENAI_HALF_OPEN_MS: '30000',
    SHUTDOWN_DRAIN_SECONDS: '1',
  });

  beforeAll(async () => {
    redis = await startRedis();
    engine = await new FaultEngine().start();
    [a, b] = await Promise.all([startServer(env()), startServer(env())]);
    await Promise.all([untilReady(a), untilReady(b)]);
  }, 30000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await engine?.close();
    await redis?.stop();
  });

  it('should create on A and get, stream, fetch and delete on B', async () => {
    const session = await createSession(a.baseUrl, {
      text: 'Short and shared.',
      target_format: 'wav',
      sample_rate_hz: 16000,
    });
    const got = await getJson(b.baseUrl, `/v1/tts/sessions/${session.session_id}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ status: 'pending', text: 'Short and shared.' });
    const stream = await collectStream(on(b, session.ws_url));
    expect(stream.closeCode).toBe(1000);
    expect((await decodeAudio(stream.bytes, 'wav', 16000)).errors).toBe('');
    expect((await getJson(a.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json.status).toBe(
      'completed',
    );
    const file = await fetch(`${b.baseUrl}/v1/tts/sessions/${session.session_id}/file?format=mp3`);
    expect(file.status).toBe(200);
    expect(
      (await fetch(`${b.baseUrl}/v1/tts/sessions/${session.session_id}`, { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await fetch(`${a.baseUrl}/v1/tts/sessions/${session.session_id}/file`)).status).toBe(404);
  });

  it('should let exactly one of two sockets on two replicas claim a session', async () => {
    for (let round = 0; round < 3; round++) {
      const session = await createSession(a.baseUrl, { text: 'Claim race.', target_format: 'pcm16' });
      const results = await Promise.all([
        collectStream(on(a, session.ws_url)),
        collectStream(on(b, session.ws_url)),
      ]);
      const codes = results.map((r) => r.closeCode).sort();
      expect(codes).toEqual([1000, 4409]);
    }
  });

  it.each([
    // An earlier frame: B replays what A had already sent from Redis, then follows the rest.
    ['an earlier frame', () => 6],
    // What a real client does: it keeps the last seq it got and asks for the next one, at once, while A
    // still streams (the copy in Redis may trail the frames A sent by a few ms).
    ['the frame after the last one received', (received: number[]) => Math.max(...received) + 1],
  ] as const)(
    'should resume on B from %s after the socket to A dropped, byte for byte to eos',
    async (_what, fromSeqOf) => {
      const reference = await collectStream(
        (await createSession(a.baseUrl, { text: TEXT, target_format: 'pcm16' })).ws_url,
      );
      const session = await createSession(a.baseUrl, { text: TEXT, target_format: 'pcm16' });
      const first = await collectStream(on(a, session.ws_url), {
        onMessage: (ws, message) => {
          if (message.seq === 8) ws.terminate();
        },
      });
      const fromSeq = fromSeqOf(first.audio.map((x) => x.seq!));
      const kept = first.audio.filter((x) => x.seq! < fromSeq);
      const resumed = await collectStream(`${on(b, session.ws_url)}?from_seq=${fromSeq}`, {
        timeoutMs: 20000,
      });
      expect({ code: resumed.closeCode, error: resumed.error }).toEqual({ code: 1000, error: undefined });
      expect(resumed.eos).toBeDefined();
      expect(resumed.audio.map((x) => x.seq)).toEqual(resumed.audio.map((_, i) => i + fromSeq));
      expect(Buffer.concat([...kept.map((x) => x.data), resumed.bytes]).equals(reference.bytes)).toBe(true);
    },
  );

  it('should replay the word timings announcing frame N when resuming from N on B', async () => {
    const text = 'First sentence here. Then a second one.';
    const order = (into: string[]) => (_ws: unknown, m: any, isBinary: boolean) => {
      if (!isBinary) into.push(m.type === 'audio' ? `audio:${m.seq}` : m.type);
    };
    // N: the frame right after the second sentence's timings, in this stream's own numbering (how frames
    // are cut depends on timing, so another run of the same text may number them differently).
    const session = await createSession(a.baseUrl, { text, target_format: 'pcm16' });
    let timings = 0;
    let seq = 0;
    await collectStream(`${on(a, session.ws_url)}?timings=words`, {
      onMessage: (ws, m, isBinary) => {
        if (isBinary) return;
        if (m.type === 'timings') timings++;
        if (m.type === 'audio' && timings === 2 && !seq) {
          seq = m.seq;
          ws.terminate();
        }
      },
    });
    expect(seq).toBeGreaterThan(1);
    const resumed: string[] = [];
    const result = await collectStream(`${on(b, session.ws_url)}?timings=words&from_seq=${seq}`, {
      onMessage: order(resumed),
      timeoutMs: 20000,
    });
    expect({ code: result.closeCode, error: result.error }).toEqual({ code: 1000, error: undefined });
    expect(resumed.slice(0, 2)).toEqual(['timings', `audio:${seq}`]);
  });

  it('should keep session creates on B fast while a reader on B waits on an idle stream from A', async () => {
    // The engine sends 200 ms of audio, then nothing: the stream stays open and idle.
    engine.next({ kind: 'stall', afterBytes: 9600 });
    const session = await createSession(a.baseUrl, {
      text: 'This engine stops answering after a moment.',
      target_format: 'pcm16',
      provider: 'openai',
    });
    await collectStream(on(a, session.ws_url), {
      onMessage: (ws, message) => {
        if (message.type === 'audio') ws.terminate();
      },
    });
    let reader: WebSocket | undefined;
    let frames = 0;
    const reading = collectStream(`${on(b, session.ws_url)}?from_seq=1`, {
      onOpen: (ws) => (reader = ws),
      onMessage: (_ws, message) => {
        if (message.type === 'audio') frames++;
      },
      timeoutMs: 20000,
    }).catch(() => undefined);
    try {
      await waitFor(() => frames > 0, 5000);
      // Replayed what Redis holds: the reader now waits on the stream (XREAD BLOCK) for more.
      await new Promise((r) => setTimeout(r, 300));
      const took: number[] = [];
      for (let i = 0; i < 6; i++) {
        const started = performance.now();
        const created = await postJson(b.baseUrl, '/v1/tts/sessions', {
          text: `Fast ${i}.`,
          target_format: 'pcm16',
        });
        took.push(performance.now() - started);
        expect(created.status).toBe(201);
      }
      expect(took.filter((ms) => ms >= 300)).toEqual([]);
    } finally {
      reader?.terminate();
      await reading;
      await fetch(`${b.baseUrl}/v1/tts/sessions/${session.session_id}`, { method: 'DELETE' });
    }
  });

  it('should cancel a stream running on A from a DELETE on B within a second', async () => {
    const session = await createSession(a.baseUrl, { text: TEXT, target_format: 'pcm16' });
    let deletedAt = 0;
    const stream = await collectStream(on(a, session.ws_url), {
      onMessage: (_ws, message) => {
        if (message.seq === 3 && !deletedAt) {
          deletedAt = performance.now();
          void fetch(`${b.baseUrl}/v1/tts/sessions/${session.session_id}`, { method: 'DELETE' });
        }
      },
    });
    expect(stream).toMatchObject({ closeCode: 4499, error: { code: 'cancelled' } });
    expect(performance.now() - deletedAt).toBeLessThan(1000);
  });

  it('should count the per-client rate limit once across both replicas', async () => {
    // Their own Redis database, so the other tests' sessions do not count against this budget.
    const limited = { ...env(), REDIS_URL: `${redis.url}/1`, RATE_LIMIT_SESSIONS_PER_MINUTE: '4' };
    const [c, d] = await Promise.all([startServer(limited), startServer(limited)]);
    try {
      await Promise.all([untilReady(c), untilReady(d)]);
      const statuses: number[] = [];
      for (const replica of [c, d, c, d, c, d]) {
        statuses.push(
          (await postJson(replica.baseUrl, '/v1/tts/sessions', { text: 'Limited.', target_format: 'pcm16' }))
            .status,
        );
      }
      expect(statuses).toEqual([201, 201, 201, 201, 429, 429]);
    } finally {
      await Promise.all([c.stop(), d.stop()]);
    }
  }, 30000);

  it("should make a provider's open circuit on A known on B within two seconds", async () => {
    engine.fallback = { kind: 'refuse' };
    try {
      for (let i = 0; i < 2; i++) {
        const s = await createSession(a.baseUrl, {
          text: `Refused ${i}.`,
          target_format: 'pcm16',
          provider: 'openai',
        });
        await collectStream(on(a, s.ws_url));
      }
      const openOn = async (replica: ServerProcess) =>
        (await getJson(replica.baseUrl, '/v1/providers')).json.providers.find((p: any) => p.id === 'openai')
          .circuit;
      expect(await openOn(a)).toBe('open');
      await waitFor(async () => (await openOn(b)) === 'open', 2000);
      const refused = await postJson(b.baseUrl, '/v1/tts/sessions', {
        text: 'No.',
        target_format: 'pcm16',
        provider: 'openai',
      });
      expect(refused.status).toBe(503);
      // A replica that starts while the circuit is open knows it from Redis, as soon as it is ready.
      const late = await startServer(env());
      try {
        await untilReady(late);
        expect(await openOn(late)).toBe('open');
      } finally {
        await late.stop();
      }
    } finally {
      engine.fallback = { kind: 'ok' };
    }
  }, 30000);

  /** Streams a new session from `victim` to a client and SIGKILLs `victim` at frame 10; `seen`: the seqs received. */
  const streamUntilKilled = async (victim: ServerProcess) => {
    await untilReady(victim);
    const session = await createSession(victim.baseUrl, {
      text: 'This stream will lose its producer halfway through, which is a pity.',
      target_format: 'pcm16',
    });
    const seen: number[] = [];
    await collectStream(on(victim, session.ws_url), {
      onMessage: (_ws, message) => {
        if (message.type === 'audio') seen.push(message.seq);
        if (message.seq === 10) victim.child.kill('SIGKILL');
      },
    }).catch(() => undefined);
    return { session, seen };
  };

  it('should end a resume on B with stream_lost (after replaying what Redis held) when A is killed mid-stream', async () => {
    const victim = await startServer(env());
    try {
      const { session } = await streamUntilKilled(victim);
      const resumed = await collectStream(`${on(b, session.ws_url)}?from_seq=5`, { timeoutMs: 15000 });
      expect(resumed.audio[0]?.seq).toBe(5);
      expect(resumed.eos).toBeUndefined();
      expect(resumed.error).toMatchObject({ code: 'stream_lost' });
      expect(resumed.closeCode).toBe(4502);
      // Its producer died with the session `streaming`: it still expires (no PERSIST), within the bound.
      const ttlMs = Number(
        execFileSync('redis-cli', ['-p', String(redis.port), 'PTTL', `tts:{${session.session_id}}:session`])
          .toString()
          .trim(),
      );
      expect(ttlMs).toBeGreaterThan(0);
      expect(ttlMs).toBeLessThanOrEqual((1800 * 2 + 3600) * 1000);
    } finally {
      victim.child.kill('SIGKILL');
    }
  });

  it('should answer stream_lost to a resume on B from the frame after the last one received when A is killed', async () => {
    const victim = await startServer(env());
    try {
      const { session, seen } = await streamUntilKilled(victim);
      const last = Math.max(...seen);
      // The frames the client got last may never have reached Redis: they died with the producer.
      const resumed = await collectStream(`${on(b, session.ws_url)}?from_seq=${last + 1}`, {
        timeoutMs: 15000,
      });
      expect(resumed.error).toMatchObject({ code: 'stream_lost' });
      expect(resumed.closeCode).toBe(4502);
      expect(resumed.eos).toBeUndefined();
      expect(resumed.audio.map((x) => x.seq)).toEqual(resumed.audio.map((_, i) => i + last + 1));
    } finally {
      victim.child.kill('SIGKILL');
    }
  });

  it('should mirror every frame despite dropped Redis connections mid-stream: a resume on B gets them all', async () => {
    const text =
      'Connections to Redis drop while this stream runs, and no frame may go missing because of it.';
    const reference = await collectStream(
      (await createSession(a.baseUrl, { text, target_format: 'pcm16' })).ws_url,
    );
    const session = await createSession(a.baseUrl, { text, target_format: 'pcm16' });
    const first = await collectStream(on(a, session.ws_url), {
      onMessage: (_ws, message) => {
        // Every client connection dropped by Redis itself (a blip): the gateways reconnect within ~100 ms.
        if ([3, 6, 9, 12].includes(message.seq)) redis.cli('CLIENT', 'KILL', 'TYPE', 'normal');
      },
      timeoutMs: 20000,
    });
    expect(first.closeCode).toBe(1000);
    const key = `tts:{${session.session_id}}:audio`;
    await waitFor(() => redis.cli('XREVRANGE', key, '+', '-', 'COUNT', '1').includes('eos'), 5000);
    await Promise.all([untilReady(a), untilReady(b)]);
    const resumed = await collectStream(`${on(b, session.ws_url)}?from_seq=2`, { timeoutMs: 20000 });
    expect({ code: resumed.closeCode, error: resumed.error }).toEqual({ code: 1000, error: undefined });
    expect(resumed.audio.map((x) => x.seq)).toEqual(resumed.audio.map((_, i) => i + 2));
    const firstFrame = first.audio.find((x) => x.seq === 1)!.data;
    expect(Buffer.concat([firstFrame, resumed.bytes]).equals(reference.bytes)).toBe(true);
  }, 40000);

  it("should refuse a resume on B with resume_unavailable once A's mirror gave up in a Redis outage, while A's reader got every frame", async () => {
    // A's log (and so its mirror's backlog) holds 2 s of 16 kHz pcm16: a 3.5 s outage overflows it, the mirror
    // gives up and, once Redis is back, marks the stream. Without the mark B would replay a stream with a hole.
    const bounded = await startServer({ ...env(), RESUME_BUFFER_BYTES: '64000' });
    try {
      await untilReady(bounded);
      const session = await createSession(bounded.baseUrl, {
        text: `${TEXT} ${TEXT}`,
        target_format: 'pcm16',
        sample_rate_hz: 16000,
      });
      const running = collectStream(on(bounded, session.ws_url), { timeoutMs: 20000 });
      await new Promise((r) => setTimeout(r, 300));
      redis.pause();
      try {
        await new Promise((r) => setTimeout(r, 3500));
      } finally {
        redis.resume();
      }
      const local = await running;
      expect({ code: local.closeCode, eos: !!local.eos }).toEqual({ code: 1000, eos: true });
      const seqs = local.audio.map((x) => x.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      await waitFor(() => redis.cli('EXISTS', `tts:{${session.session_id}}:gap`).trim() === '1', 10000);
      await Promise.all([untilReady(bounded), untilReady(b)]);
      // The last frame A's reader got: a resume the mirror could have served, had it not lost frames.
      const resumed = await collectStream(`${on(b, session.ws_url)}?from_seq=${seqs.at(-1)}`, {
        timeoutMs: 10000,
      });
      expect(resumed.audio).toEqual([]);
      expect({ code: resumed.closeCode, error: resumed.error?.code }).toEqual({
        code: 4410,
        error: 'resume_unavailable',
      });
    } finally {
      await bounded.stop();
    }
  }, 40000);

  it('should report a hung Redis (SIGSTOP) down within seconds, refuse creates with 503 promptly, and recover on SIGCONT', async () => {
    const session = await createSession(a.baseUrl, { text: TEXT, target_format: 'pcm16' });
    const running = collectStream(on(a, session.ws_url), { timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 300));
    const pausedAt = performance.now();
    redis.pause();
    try {
      const started = performance.now();
      const refused = await postJson(b.baseUrl, '/v1/tts/sessions', {
        text: 'Hung.',
        target_format: 'pcm16',
      });
      expect({ status: refused.status, code: refused.json?.code }).toEqual({
        status: 503,
        code: 'state_unavailable',
      });
      expect(performance.now() - started).toBeLessThan(2000);
      await waitFor(async () => (await fetch(`${b.baseUrl}/readyz`)).status === 503, 6000);
      expect(performance.now() - pausedAt).toBeLessThan(6000);
      const ready = (await getJson(b.baseUrl, '/readyz')).json;
      expect(ready.error?.redis ?? ready.details?.redis).toMatchObject({ status: 'down' });
      // Known down (on B, whose readiness says so; A's watchdog may notice up to a second later): refused at once.
      const again = performance.now();
      expect(
        (await postJson(b.baseUrl, '/v1/tts/sessions', { text: 'Hung.', target_format: 'pcm16' })).status,
      ).toBe(503);
      expect(performance.now() - again).toBeLessThan(500);
      // The stream already running on A finishes from memory.
      expect((await running).closeCode).toBe(1000);
    } finally {
      redis.resume();
    }
    await waitFor(async () => (await fetch(`${a.baseUrl}/readyz`)).status === 200, 10000);
    await waitFor(async () => (await fetch(`${b.baseUrl}/readyz`)).status === 200, 10000);
    const back = await createSession(a.baseUrl, { text: 'Back after the hang.', target_format: 'pcm16' });
    const streamed = await collectStream(on(b, back.ws_url));
    expect({ code: streamed.closeCode, eos: !!streamed.eos }).toEqual({ code: 1000, eos: true });
  }, 40000);

  it('should refuse new sessions with 503 state_unavailable while Redis is down, finish running streams, and recover', async () => {
    const session = await createSession(a.baseUrl, { text: TEXT, target_format: 'pcm16' });
    const running = collectStream(on(a, session.ws_url), { timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 300));
    await redis.stop();
    try {
      await waitFor(async () => (await fetch(`${b.baseUrl}/readyz`)).status === 503, 5000);
      const ready = (await getJson(b.baseUrl, '/readyz')).json;
      expect(ready.error?.redis ?? ready.details?.redis).toMatchObject({ status: 'down' });
      const refused = await postJson(b.baseUrl, '/v1/tts/sessions', {
        text: 'Later.',
        target_format: 'pcm16',
      });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ code: 'state_unavailable' });
      expect(refused.headers.get('retry-after')).toBeTruthy();
      const finished = await running;
      expect(finished.closeCode).toBe(1000);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await fetch(`${b.baseUrl}/readyz`)).status === 200, 10000);
    const again = await postJson(b.baseUrl, '/v1/tts/sessions', { text: 'Back.', target_format: 'pcm16' });
    expect(again.status).toBe(201);
    const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_redis_commands_total\{command="[a-z_]+",outcome="error"\} [1-9]/m);
    expect(metrics).toMatch(/^tts_redis_up 1$/m);
  }, 40000);
});

/**
 * A key's `max_concurrent_streams` across replicas: leases in a real redis-server, counted by every replica
 * together; a replica killed while holding some frees them within STREAM_LEASE_TTL_MS.
 */
describe("A key's concurrent streams across replicas", () => {
  const ALICE = 'sk-alice-leases-0123456789abcdef01234';
  const LONG =
    'This reply is long enough to keep its stream running for several seconds of real time, ' +
    'longer than the lease time to live, so the leases must be renewed while it plays.';
  let redis: RedisServer;
  let dir: string;
  let a: ServerProcess;
  let b: ServerProcess;

  const env = () => ({
    REDIS_URL: redis.url,
    PROVIDERS: 'mock_tone',
    MOCK_TONE_REALTIME_FACTOR: '1',
    API_KEYS_FILE: join(dir, 'keys.json'),
    STREAM_LEASE_TTL_MS: '3000',
    SHUTDOWN_DRAIN_SECONDS: '1',
  });
  const auth = { authorization: `Bearer ${ALICE}` };
  /** The stream URL on `replica`, authenticated by the key's header: a ws_url's token works only once. */
  const keyed = (replica: ServerProcess, wsUrl: string) => on(replica, wsUrl).replace(/[?&]token=[^&]*/, '');
  const create = async (replica: ServerProcess, text = LONG) => {
    const res = await fetch(`${replica.baseUrl}/v1/tts/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ text, target_format: 'pcm16' }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { session_id: string; ws_url: string };
  };
  /** Opens the stream and resolves once its first audio arrived (it is running), with the whole result later. */
  const running = async (wsUrl: string) => {
    let started!: () => void;
    const first = new Promise<void>((resolve) => (started = resolve));
    const done = collectStream(wsUrl, {
      headers: auth,
      onMessage: (_ws, message) => message.type === 'audio' && started(),
      timeoutMs: 30000,
    });
    await Promise.race([first, done]);
    return { done };
  };
  /** Streams `wsUrl` to its end, opening it again while it is refused with too_many_streams (up to `ms`). */
  const admitted = async (wsUrl: string, ms: number) => {
    const since = performance.now();
    for (;;) {
      const openedAt = performance.now();
      const result = await collectStream(wsUrl, { headers: auth, timeoutMs: 30000 });
      if (result.error?.code !== 'too_many_streams' || performance.now() - since > ms)
        return { result, afterMs: openedAt - since };
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'leases-'));
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify({ keys: [{ name: 'alice', key: ALICE, max_concurrent_streams: 2 }] }),
    );
    redis = await startRedis();
    [a, b] = await Promise.all([startServer(env()), startServer(env())]);
    await Promise.all([untilReady(a), untilReady(b)]);
  }, 30000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should refuse the third stream of a key limited to two when the first two run on other replicas, then admit it', async () => {
    const [one, two, three] = [await create(a), await create(b), await create(b, 'The third one.')];
    const startedAt = performance.now();
    const first = (await running(keyed(a, one.ws_url))).done;
    const second = (await running(keyed(b, two.ws_url))).done;
    // B runs one of alice's streams, A the other: B alone would allow a second.
    const refused = await collectStream(keyed(b, three.ws_url), { headers: auth });
    expect(refused).toMatchObject({ closeCode: 4429, error: { code: 'too_many_streams' } });
    expect(refused.error.message).toMatch(/across the gateway's replicas/);
    expect(refused.audio).toHaveLength(0);

    // A live context of the same key is refused the same way, naming its context.
    const live = await LiveClient.connect(`${b.baseUrl.replace(/^http/, 'ws')}/v1/tts/live`, auth);
    live.send({ type: 'start', context_id: 'over', target_format: 'pcm16' });
    live.send({ type: 'text', context_id: 'over', text: 'Too many.' });
    const error = await live.waitFor((m) => m.type === 'error');
    expect(error.message).toMatchObject({ context_id: 'over', code: 'too_many_streams' });
    live.close();

    // Past the leases' TTL the two streams still hold them (renewed): still refused.
    await new Promise((r) => setTimeout(r, 3500 - (performance.now() - startedAt)));
    const again = await collectStream(keyed(b, three.ws_url), { headers: auth });
    expect(again.error).toMatchObject({ code: 'too_many_streams' });

    expect((await first).eos).toBeDefined();
    // One lease is free again once A has settled the first stream: the refused session (back to pending)
    // now streams to its end, on B.
    const { result: retried } = await admitted(keyed(b, three.ws_url), 5000);
    expect(retried.error).toBeUndefined();
    expect(retried.eos).toBeDefined();
    expect((await second).eos).toBeDefined();
    const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_rate_limited_total\{route="stream_per_key"\} [1-9]/m);
  }, 60000);

  it("should free a killed replica's leases within STREAM_LEASE_TTL_MS", async () => {
    const victim = await startServer(env());
    try {
      await untilReady(victim);
      const [x, y] = [await create(victim), await create(victim)];
      const streams = await Promise.all([running(keyed(victim, x.ws_url)), running(keyed(victim, y.ws_url))]);
      victim.child.kill('SIGKILL');
      await Promise.allSettled(streams.map((s) => s.done));
      const later = await create(b, 'Later.');
      // Both of alice's leases are the dead replica's until they lapse: refused at first, admitted within the TTL.
      const refused = await collectStream(keyed(b, later.ws_url), { headers: auth });
      expect(refused.error).toMatchObject({ code: 'too_many_streams' });
      const { result, afterMs } = await admitted(keyed(b, later.ws_url), 10000);
      expect(result.error).toBeUndefined();
      expect(result.eos).toBeDefined();
      // The last renewal was at most a third of the TTL before the kill; its leases lapse a TTL after it.
      expect(afterMs).toBeLessThan(3000 + 1000);
    } finally {
      victim.child.kill('SIGKILL');
    }
  }, 40000);
});
