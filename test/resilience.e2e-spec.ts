import WebSocket from 'ws';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { ReplayStore } from '../src/synthesis/replay/replay-store';
import { FaultEngine } from './support/fault-engine';
import { collectStream } from './support/ws-stream';

/** Sessions from distinct clients (TRUST_PROXY lets a test speak for several addresses). */
async function createAs(gw: RunningApp, client: string, body: Record<string, unknown>) {
  const res = await postJson(gw.baseUrl, '/v1/tts/sessions', body, { 'x-forwarded-for': client });
  return res;
}

async function metric(gw: RunningApp, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => pattern.test(l));
  return line ? Number(line.split(' ').pop()) : 0;
}

const THREE_SENTENCES = 'The first sentence is here. The second one follows it. And the third ends it.';

describe('Resilience against a faulty OpenAI-compatible engine (in-test fault-injecting fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    gw = await startApp({
      PROVIDERS: 'mock_tone,openai',
      DEFAULT_PROVIDER: 'openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      TRUST_PROXY: 'true',
      PROVIDER_OPENAI_RETRIES: '0',
      // The breaker has its own suite below; here failures must not open it.
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '50',
      PROVIDER_OPENAI_FIRST_AUDIO_TIMEOUT_MS: '800',
      PROVIDER_OPENAI_IDLE_TIMEOUT_MS: '800',
      PROVIDER_OPENAI_RETRY_AFTER_MAX_WAIT_MS: '1500',
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  beforeEach(() => {
    engine.fallback = { kind: 'ok' };
    engine.rule = undefined;
  });

  it('should restart the interrupted sentence on the fallback mid-stream, announced in-band, as one valid stream', async () => {
    // Request 1 = sentence 1 (fine), request 2 = sentence 2: reset after some audio has gone out.
    engine.next({ kind: 'ok' }, { kind: 'reset', afterBytes: 9600 });
    const res = await createAs(gw, '10.0.0.1', {
      text: THREE_SENTENCES,
      target_format: 'wav',
      sample_rate_hz: 16000,
      fallback_providers: ['mock_tone'],
      failover: 'mid_stream',
    });
    expect(res.status).toBe(201);
    const stream = await collectStream(res.json.ws_url);
    expect(stream.closeCode).toBe(1000);
    const switched = stream.control.find((m) => m.type === 'provider_switched');
    expect(switched).toMatchObject({
      from: 'openai',
      to: 'mock_tone',
      text_offset: THREE_SENTENCES.indexOf('The second'),
    });
    // seq unbroken across the seam, and the switch names the fallback's first frame.
    expect(stream.audio.map((a) => a.seq)).toEqual(stream.audio.map((_, i) => i + 1));
    const before = stream.audio.filter((a) => a.seq! < switched.seq);
    expect(before.length).toBeGreaterThan(0);
    const decoded = await decodeAudio(stream.bytes, 'wav', 16000);
    expect(decoded.errors).toBe('');
    expect(stream.bytes.indexOf('RIFF', 4)).toBe(-1); // one header
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
    expect(session).toMatchObject({ status: 'completed', served_by: 'mock_tone' });
    expect(
      await metric(gw, /^tts_provider_switches_total\{from="openai",to="mock_tone"\}/),
    ).toBeGreaterThanOrEqual(1);
  });

  it('should fail SSML over mid-stream at the interrupted part: its mark once, breaks kept, one valid stream', async () => {
    // Request 1 = the first part; request 2 = the part after the mark: reset after some audio.
    engine.next({ kind: 'ok' }, { kind: 'reset', afterBytes: 9600 });
    const ssml =
      '<speak>The first part is spoken here.<break time="300ms"/><mark name="second"/>The second part follows it and is long enough.</speak>';
    const res = await createAs(gw, '10.0.0.5', {
      text: ssml,
      text_format: 'ssml',
      target_format: 'wav',
      sample_rate_hz: 16000,
      fallback_providers: ['mock_tone'],
      failover: 'mid_stream',
    });
    expect(res.status).toBe(201);
    const stream = await collectStream(res.json.ws_url);
    expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
    const switched = stream.control.find((m) => m.type === 'provider_switched');
    expect(switched).toMatchObject({ from: 'openai', to: 'mock_tone' });
    expect(stream.control.filter((m) => m.type === 'mark').map((m) => m.name)).toEqual(['second']);
    expect((await decodeAudio(stream.bytes, 'wav', 16000)).errors).toBe('');
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
    expect(session).toMatchObject({ status: 'completed', served_by: 'mock_tone' });
  });

  it('should fail a ?timings=words stream over mid-stream at the interrupted sentence, one timings message per sentence', async () => {
    engine.next({ kind: 'ok' }, { kind: 'reset', afterBytes: 9600 });
    const res = await createAs(gw, '10.0.0.6', {
      text: THREE_SENTENCES,
      target_format: 'pcm16',
      sample_rate_hz: 16000,
      fallback_providers: ['mock_tone'],
      failover: 'mid_stream',
    });
    const stream = await collectStream(`${res.json.ws_url}?timings=words`);
    expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
    expect(stream.control.find((m) => m.type === 'provider_switched')).toMatchObject({
      from: 'openai',
      to: 'mock_tone',
      text_offset: THREE_SENTENCES.indexOf('The second'),
    });
    const timings = stream.control.filter((m) => m.type === 'timings');
    expect(timings.map((t) => t.source)).toEqual(['estimated', 'native', 'native']);
    const words = timings.flatMap((t) => t.words);
    expect(words.map((w: any) => THREE_SENTENCES.slice(w.text_start, w.text_end))).toEqual(
      words.map((w: any) => w.text),
    );
    for (let i = 1; i < words.length; i++)
      expect(words[i].start_ms).toBeGreaterThanOrEqual(words[i - 1].end_ms);
  });

  it('should end with provider_stream_interrupted (no eos, session failed) without mid_stream', async () => {
    engine.next({ kind: 'stall', afterBytes: 24000 });
    const res = await createAs(gw, '10.0.0.2', {
      text: 'One long request that stalls after a little audio has been sent.',
      target_format: 'pcm16',
      fallback_providers: ['mock_tone'],
    });
    const stream = await collectStream(res.json.ws_url);
    expect(stream.audio.length).toBeGreaterThan(0);
    expect(stream.eos).toBeUndefined();
    expect(stream.error).toMatchObject({ code: 'provider_stream_interrupted' });
    expect(stream.closeCode).toBe(4502);
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
    expect(session).toMatchObject({ status: 'failed', error: { code: 'provider_stream_interrupted' } });
  });

  it('should fall back before the first audio when the engine answers 500, hangs or sends garbage', async () => {
    for (const fault of [
      { kind: 'status', status: 500, body: 'Traceback at /srv/kokoro/app.py on host tts-internal.corp' },
      { kind: 'hang' },
      { kind: 'garbage' },
      { kind: 'refuse' },
    ] as const) {
      engine.next(fault);
      const res = await createAs(gw, `10.0.1.${engine.requests.length}`, {
        text: 'Falls back before any audio.',
        target_format: 'pcm16',
        fallback_providers: ['mock_tone'],
      });
      const stream = await collectStream(res.json.ws_url);
      expect(stream.closeCode).toBe(1000);
      const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
      expect(session.served_by).toBe('mock_tone');
    }
  });

  it('should tell the client a generic reason, never the upstream body, host or path', async () => {
    engine.next({
      kind: 'status',
      status: 500,
      body: 'Traceback at /srv/kokoro/app.py on host tts-internal.corp',
    });
    const res = await createAs(gw, '10.0.2.1', { text: 'No fallback here.', target_format: 'pcm16' });
    const stream = await collectStream(res.json.ws_url);
    expect(stream.error).toMatchObject({ code: 'provider_error' });
    expect(stream.error.message).toContain('answered HTTP 500');
    expect(JSON.stringify(stream.error)).not.toMatch(/srv|kokoro|tts-internal|127\.0\.0\.1|Traceback/);
  });

  it('should wait out a short upstream 429 Retry-After and succeed on the same provider, without opening the circuit', async () => {
    engine.next({ kind: 'status', status: 429, retryAfter: 1 });
    const started = performance.now();
    const res = await createAs(gw, '10.0.3.1', { text: 'Rate limited once.', target_format: 'pcm16' });
    const stream = await collectStream(res.json.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect(performance.now() - started).toBeGreaterThan(900);
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
    expect(session.served_by).toBe('openai');
    expect(await metric(gw, /^tts_provider_circuit_state\{provider="openai"\}/)).toBe(0);
  });

  it('should fail over on a long upstream 429 and keep the circuit closed', async () => {
    engine.next({ kind: 'status', status: 429, retryAfter: 30 });
    const res = await createAs(gw, '10.0.3.2', {
      text: 'Rate limited for long.',
      target_format: 'pcm16',
      fallback_providers: ['mock_tone'],
    });
    const stream = await collectStream(res.json.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json.served_by).toBe(
      'mock_tone',
    );
    const providers = (await getJson(gw.baseUrl, '/v1/providers')).json.providers;
    expect(providers.find((p: any) => p.id === 'openai')).toMatchObject({ circuit: 'closed' });
    // The cool-down is the engine's: new openai streams fail over at once until it ends.
    expect(providers.find((p: any) => p.id === 'openai').retry_after_s).toBeGreaterThan(20);
  });
});

describe('The circuit breaker, shared by every client', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    engine.rule = (input) => (input.includes('POISON') ? { kind: 'status', status: 500 } : undefined);
    gw = await startApp({
      PROVIDERS: 'mock_tone,openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      TRUST_PROXY: 'true',
      PROVIDER_OPENAI_RETRIES: '0',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '3',
      PROVIDER_OPENAI_HALF_OPEN_MS: '60000',
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  const stream = async (client: string, text: string, extra: Record<string, unknown> = {}) => {
    const res = await createAs(gw, client, { text, target_format: 'pcm16', provider: 'openai', ...extra });
    if (res.status !== 201) return { status: res.status, body: res.json };
    return { status: 201, stream: await collectStream(res.json.ws_url), id: res.json.session_id };
  };

  it("should not open for everyone because one client's texts make the engine fail", async () => {
    for (let i = 0; i < 6; i++) {
      const r = await stream('10.9.0.1', `POISON text number ${i}.`);
      expect(r.stream?.error).toMatchObject({ code: 'provider_error' });
    }
    const providers = (await getJson(gw.baseUrl, '/v1/providers')).json.providers;
    expect(providers.find((p: any) => p.id === 'openai').circuit).toBe('closed');
    const other = await stream('10.9.0.2', 'An innocent text from someone else.');
    expect(other.stream?.closeCode).toBe(1000);
  });

  it('should open when failures come from several clients, then refuse fast (503 with Retry-After) or use a fallback', async () => {
    await stream('10.9.1.1', 'POISON one.');
    await stream('10.9.1.2', 'POISON two.');
    await stream('10.9.1.3', 'POISON three.');
    const providers = (await getJson(gw.baseUrl, '/v1/providers')).json.providers;
    const openai = providers.find((p: any) => p.id === 'openai');
    expect(openai).toMatchObject({ circuit: 'open' });
    expect(openai.retry_after_s).toBeGreaterThan(0);
    const refused = await stream('10.9.1.4', 'Refused while open.');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'provider_unavailable' });

    // With a fallback the session is accepted and streams on it.
    const accepted = await stream('10.9.1.5', 'Served by the fallback.', {
      fallback_providers: ['mock_tone'],
    });
    expect(accepted.status).toBe(201);
    expect(accepted.stream?.closeCode).toBe(1000);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${accepted.id}`)).json.served_by).toBe('mock_tone');
    const ready = (await getJson(gw.baseUrl, '/readyz')).json;
    expect(ready.details.providers.openai).toMatchObject({ circuit: 'open' });
  });
});

describe('The provider bulkhead (concurrency cap with a bounded queue)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    engine.fallback = { kind: 'ok', paceMs: 100 };
    gw = await startApp({
      PROVIDERS: 'mock_tone,openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      PROVIDER_OPENAI_CONCURRENCY: '1',
      PROVIDER_OPENAI_QUEUE: '0',
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  it('should refuse a request past the cap with provider_busy and show the load in /v1/providers', async () => {
    const first = await createSession(gw.baseUrl, {
      text: 'A long running request holds the only slot.',
      target_format: 'pcm16',
      provider: 'openai',
    });
    const second = await createSession(gw.baseUrl, {
      text: 'Refused.',
      target_format: 'pcm16',
      provider: 'openai',
    });
    let load: any;
    const firstStream = collectStream(first.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 1) {
          void getJson(gw.baseUrl, '/v1/providers').then((r) => (load ??= r.json));
        }
      },
    });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await collectStream(second.ws_url);
    expect(refused.error).toMatchObject({ code: 'provider_busy' });
    expect(refused.closeCode).toBe(4503);
    expect((await firstStream).closeCode).toBe(1000);
    expect(load.providers.find((p: any) => p.id === 'openai')).toMatchObject({
      in_flight: 1,
      concurrency: 1,
    });
  });
});

describe('Cancel and cleanup', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    engine.fallback = { kind: 'ok', paceMs: 100 };
    gw = await startApp({ PROVIDERS: 'mock_tone,openai', OPENAI_TTS_BASE_URL: engine.baseUrl });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  it('should abort the engine request within a second of DELETE and leave no stream, slot or buffer behind', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'A request that is cancelled while the engine is still sending its audio.',
      target_format: 'mp3',
      provider: 'openai',
    });
    let deletedAt = 0;
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 2 && !deletedAt) {
          deletedAt = performance.now();
          void fetch(`${gw.baseUrl}/v1/tts/sessions/${session.session_id}`, { method: 'DELETE' });
        }
      },
    });
    expect(stream.error).toMatchObject({ code: 'cancelled' });
    const request = engine.requests.at(-1)!;
    const closedAt = await request.closed;
    expect(closedAt - deletedAt).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 2500)); // the purge drops the replay buffer after its grace
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_active_streams\{route="stream"\} 0$/m);
    expect(metrics).toMatch(/^tts_resume_buffer_bytes 0$/m);
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'cancelled', text: '' });
    const file = await fetch(`${gw.baseUrl}/v1/tts/sessions/${session.session_id}/file`);
    expect(file.status).toBe(404);
  });

  it('should abort the engine within a second of a cancel message', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'A request cancelled by the client message.',
      target_format: 'pcm16',
      provider: 'openai',
    });
    let cancelledAt = 0;
    const stream = await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 1 && !cancelledAt) {
          cancelledAt = performance.now();
          ws.send('{"type":"cancel"}');
        }
      },
    });
    expect(stream).toMatchObject({ closeCode: 4499, error: { code: 'cancelled' } });
    expect((await engine.requests.at(-1)!.closed) - cancelledAt).toBeLessThan(1000);
  });
});

describe('Resume by seq', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ MOCK_TONE_REALTIME_FACTOR: '1', RESUME_WINDOW_SECONDS: '2' });
  });

  afterAll(async () => {
    await gw.close();
  });

  const TEXT = 'Resume me from where I was.';

  it('should send every chunk from N exactly once after a dropped socket, then the live rest and eos', async () => {
    const reference = await collectStream(
      (await createSession(gw.baseUrl, { text: TEXT, target_format: 'pcm16' })).ws_url,
    );
    const session = await createSession(gw.baseUrl, { text: TEXT, target_format: 'pcm16' });
    const first = await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 6) ws.terminate();
      },
    });
    const received = first.audio.filter((a) => a.seq! <= 6);
    const resumed = await collectStream(`${session.ws_url}?from_seq=${received.length - 1}`);
    expect(resumed.closeCode).toBe(1000);
    expect(resumed.audio[0].seq).toBe(received.length - 1);
    expect(resumed.audio.map((a) => a.seq)).toEqual(resumed.audio.map((_, i) => i + received.length - 1));
    // Joined without the overlap, the audio is byte for byte the uninterrupted stream.
    const joined = Buffer.concat([...received.slice(0, -2).map((a) => a.data), resumed.bytes]);
    expect(joined.equals(reference.bytes)).toBe(true);
    // Chunks made while no reader was attached may have been coalesced: the count is the stream's own.
    expect(resumed.eos).toMatchObject({ chunks: resumed.audio.at(-1)!.seq, bytes: reference.bytes.length });
  });

  it('should replay a finished session from any retained seq within the window, then refuse with resume_unavailable', async () => {
    const session = await createSession(gw.baseUrl, { text: 'Short.', target_format: 'pcm16' });
    const whole = await collectStream(session.ws_url);
    const again = await collectStream(`${session.ws_url}?from_seq=2`);
    expect(again.closeCode).toBe(1000);
    expect(again.bytes.equals(Buffer.concat(whole.audio.slice(1).map((a) => a.data)))).toBe(true);
    await new Promise((r) => setTimeout(r, 2300));
    const late = await collectStream(`${session.ws_url}?from_seq=1`);
    expect(late).toMatchObject({ closeCode: 4410, error: { code: 'resume_unavailable' } });
  });

  it('should bound the audio of ended streams kept for replay (RESUME_RETAINED_BYTES), freeing the oldest first', async () => {
    // "Short." is 0.5 s of 24 kHz pcm16 (24,000 bytes): two fit in 50,000 bytes, a third pushes the first out.
    const small = await startApp({ RESUME_RETAINED_BYTES: '50000', RESUME_WINDOW_SECONDS: '60' });
    try {
      const sessions = [];
      for (let i = 0; i < 3; i++) {
        const session = await createSession(small.baseUrl, { text: 'Short.', target_format: 'pcm16' });
        const whole = await collectStream(session.ws_url);
        expect(whole.closeCode).toBe(1000);
        sessions.push({ session, bytes: whole.bytes.length });
      }
      expect(sessions[0].bytes * 2).toBeLessThanOrEqual(50000);
      expect(sessions[0].bytes * 3).toBeGreaterThan(50000);
      const first = await collectStream(`${sessions[0].session.ws_url}?from_seq=1`);
      expect(first).toMatchObject({ closeCode: 4410, error: { code: 'resume_unavailable' } });
      expect(first.error.message).toContain('RESUME_RETAINED_BYTES');
      for (const { session, bytes } of sessions.slice(1)) {
        const again = await collectStream(`${session.ws_url}?from_seq=1`);
        expect(again.closeCode).toBe(1000);
        expect(again.bytes.length).toBe(bytes);
      }
    } finally {
      await small.close();
    }
  });

  it('should refuse from_seq below 1, non-numeric or past the last seq with invalid_from_seq', async () => {
    const session = await createSession(gw.baseUrl, { text: 'Tiny.', target_format: 'pcm16' });
    const whole = await collectStream(session.ws_url);
    for (const bad of ['0', '-3', 'abc', String(whole.audio.length + 1)]) {
      const stream = await collectStream(`${session.ws_url}?from_seq=${bad}`);
      expect(stream).toMatchObject({ closeCode: 4400, error: { code: 'invalid_from_seq' } });
    }
  });

  it('should hand the stream to a reconnect while the old socket still looks open, closing the old one with superseded', async () => {
    const session = await createSession(gw.baseUrl, { text: TEXT, target_format: 'pcm16' });
    let second: Promise<any> | undefined;
    const first = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 3 && !second) second = collectStream(`${session.ws_url}?from_seq=4`);
      },
    });
    expect(first).toMatchObject({ closeCode: 4409, error: { code: 'superseded' } });
    const taken = await second!;
    expect(taken.closeCode).toBe(1000);
    expect(taken.audio[0].seq).toBe(4);
    expect(await metric(gw, /^tts_resumes_total\{outcome="resumed"\}/)).toBeGreaterThanOrEqual(1);
  });

  it('should keep synthesizing while the client is away, bounded by the replay buffer', async () => {
    const small = await startApp({ RESUME_BUFFER_BYTES: '16384', RESUME_WINDOW_SECONDS: '5' });
    try {
      const session = await createSession(small.baseUrl, {
        text: 'A long text whose audio does not fit in the small buffer. '.repeat(5),
        target_format: 'pcm16',
      });
      const ws = new WebSocket(session.ws_url);
      await new Promise((resolve) => ws.once('message', resolve));
      ws.terminate();
      await new Promise((r) => setTimeout(r, 500));
      // Paused on the full buffer: still streaming, and nowhere near the end.
      const during = (await getJson(small.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
      expect(during.status).toBe('streaming');
      const log = await small.app.get(ReplayStore).get(session.session_id);
      expect(log!.bytes).toBeLessThanOrEqual(16384 + 2 * 960);
      expect(log!.finished).toBe(false);
      // The frame already sent was dropped to make room: resuming from it is refused, from the rest it works.
      const trimmed = await collectStream(`${session.ws_url}?from_seq=1`);
      expect(trimmed).toMatchObject({ closeCode: 4410, error: { code: 'resume_unavailable' } });
      const oldest = Number(/oldest retained frame is (\d+)/.exec(trimmed.error.message)?.[1]);
      expect(oldest).toBeGreaterThan(1);
      const rest = await collectStream(`${session.ws_url}?from_seq=${oldest}`, { timeoutMs: 20000 });
      expect(rest.closeCode).toBe(1000);
      expect(rest.audio[0].seq).toBe(oldest);
    } finally {
      await small.close();
    }
  });
});

describe('Nothing outlives its session', () => {
  it('should leave no stream, slot, replay buffer, engine process or timer behind after every kind of ending', async () => {
    const gw = await startApp({
      PROVIDERS: 'mock_tone,espeak',
      DEFAULT_PROVIDER: 'espeak',
      RESUME_WINDOW_SECONDS: '1',
      MOCK_TONE_REALTIME_FACTOR: '1',
    });
    const { SessionStreams } = await import('../src/sessions/session-streams');
    const { SynthesisSlots } = await import('../src/synthesis/synthesis-slots');
    const { EspeakProvider } = await import('../src/providers/espeak/espeak.provider');
    const streams = gw.app.get(SessionStreams);
    const slots = gw.app.get(SynthesisSlots);
    const replay = gw.app.get<ReplayStore, { size: number }>(ReplayStore);
    const espeak = gw.app.get(EspeakProvider);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    try {
      await collectStream(
        (await createSession(gw.baseUrl, { text: 'Warm up.', target_format: 'pcm16' })).ws_url,
      );
      await new Promise((r) => setTimeout(r, 1300));
      const baseline = timers();
      const long =
        'A long sentence for espeak that keeps its process busy for a while, again and again. '.repeat(6);
      // Completed, cancelled by message, deleted, dropped (resume window ends), and a file and a speech.
      await collectStream(
        (await createSession(gw.baseUrl, { text: 'Completed.', target_format: 'mp3' })).ws_url,
      );
      const cancelled = await createSession(gw.baseUrl, { text: long, target_format: 'opus' });
      await collectStream(cancelled.ws_url, {
        onMessage: (ws, m) => m.seq === 1 && ws.send('{"type":"cancel"}'),
      });
      const deleted = await createSession(gw.baseUrl, {
        text: long,
        target_format: 'pcm16',
        provider: 'mock_tone',
      });
      await collectStream(deleted.ws_url, {
        onMessage: (_ws, m) => {
          if (m.seq === 1)
            void fetch(`${gw.baseUrl}/v1/tts/sessions/${deleted.session_id}`, { method: 'DELETE' });
        },
      });
      const dropped = await createSession(gw.baseUrl, {
        text: long,
        target_format: 'wav',
        provider: 'mock_tone',
      });
      await collectStream(dropped.ws_url, { onMessage: (ws, m) => m.seq === 1 && ws.terminate() });
      await (
        await fetch(`${gw.baseUrl}/v1/tts/sessions/${cancelled.session_id}/file?format=flac`)
      ).arrayBuffer();
      await (
        await fetch(`${gw.baseUrl}/v1/audio/speech`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'espeak', voice: 'alloy', input: 'Speech.', response_format: 'aac' }),
        })
      ).arrayBuffer();
      // The dropped stream's window (1 s) and the retained logs' (1 s) pass; so do the test client's own
      // keep-alive timers (fetch keeps idle connections 4 s).
      await new Promise((r) => setTimeout(r, 5000));
      expect(streams.size).toBe(0);
      expect(slots.active).toBe(0);
      expect(replay.size).toBe(0);
      expect(espeak.runningPids()).toEqual([]);
      expect(timers()).toBeLessThanOrEqual(baseline);
      const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
      for (const route of ['stream', 'file', 'speech']) {
        expect(metrics).toMatch(new RegExp(`^tts_active_streams\\{route="${route}"\\} 0$`, 'm'));
      }
      expect(metrics).toMatch(/^tts_resume_buffer_bytes 0$/m);
    } finally {
      await gw.close();
    }
  }, 40000);
});
