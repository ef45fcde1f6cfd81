import WebSocket from 'ws';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { ReplayStore } from '../src/synthesis/replay/replay-store';
import { FaultEngine, type Fault } from './support/fault-engine';
import { collectStream } from './support/ws-stream';
import { waitFor } from './support/server-process';

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

/** A fault rule for the fake: the request whose text starts with `start` gets `fault`, the others the default. */
function interrupt(start: string, fault: Fault): (input: string) => Fault | undefined {
  return (input) => (input.startsWith(start) ? fault : undefined);
}

const THREE_SENTENCES = 'The first sentence is here. The second one follows it. And the third ends it.';

/** The seq of the first audio frame after the `provider_switched` message, in arrival order. */
function firstSeqAfterSwitch(): { onMessage: (ws: WebSocket, message: any) => void; seq: () => number } {
  let switched = false;
  let seq: number | undefined;
  return {
    onMessage: (_ws, message) => {
      if (message.type === 'provider_switched') switched = true;
      else if (message.type === 'audio' && switched) seq ??= message.seq;
    },
    seq: () => seq ?? -1,
  };
}

/** Ogg pages: serial number, page sequence number and header flags of each. */
function oggPages(bytes: Buffer): { serial: number; sequence: number; flags: number }[] {
  const pages = [];
  let at = 0;
  while (at + 27 <= bytes.length) {
    if (bytes.toString('latin1', at, at + 4) !== 'OggS') throw new Error(`no Ogg page at byte ${at}`);
    const segments = bytes[at + 26];
    let body = 0;
    for (let i = 0; i < segments; i++) body += bytes[at + 27 + i];
    pages.push({
      flags: bytes[at + 5],
      serial: bytes.readUInt32LE(at + 14),
      sequence: bytes.readUInt32LE(at + 18),
    });
    at += 27 + segments + body;
  }
  expect(at).toBe(bytes.length);
  return pages;
}

/**
 * Starts, around the enclosing describe, the in-test OpenAI-compatible fault fake and a gateway in front of
 * it (provider `openai`, with `mock_tone` beside it for fallbacks), and stops both after it. `prepare` sets
 * the fake's behaviour before the gateway starts; `started` receives both.
 */
function faultyGateway(
  env: Record<string, string>,
  started: (running: { engine: FaultEngine; gw: RunningApp }) => void,
  prepare?: (engine: FaultEngine) => void,
): void {
  let engine: FaultEngine | undefined;
  let gw: RunningApp | undefined;
  beforeAll(async () => {
    engine = await new FaultEngine().start();
    prepare?.(engine);
    gw = await startApp({ PROVIDERS: 'mock_tone,openai', OPENAI_TTS_BASE_URL: engine.baseUrl, ...env });
    started({ engine, gw });
  });
  afterAll(async () => {
    await gw?.close();
    await engine?.close();
  });
}

describe('Resilience against a faulty OpenAI-compatible engine (in-test fault-injecting fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      TRUST_PROXY: 'true',
      PROVIDER_OPENAI_RETRIES: '0',
      // The breaker has its own suite below; here failures must not open it.
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '50',
      PROVIDER_OPENAI_FIRST_AUDIO_TIMEOUT_MS: '800',
      PROVIDER_OPENAI_IDLE_TIMEOUT_MS: '800',
      PROVIDER_OPENAI_RETRY_AFTER_MAX_WAIT_MS: '1500',
    },
    (running) => ({ engine, gw } = running),
  );

  beforeEach(() => {
    engine.fallback = { kind: 'ok' };
    engine.rule = undefined;
  });

  /**
   * A session (as client 10.0.0.`client`) whose sentence "The second…" the engine resets after some audio,
   * failing over mid-stream to mock_tone; read to its end, which must be a clean close.
   */
  async function failedOverAtSecond(client: number, body: Record<string, unknown>) {
    engine.rule = interrupt('The second', { kind: 'reset', afterBytes: 9600 });
    const res = await createAs(gw, `10.0.0.${client}`, {
      fallback_providers: ['mock_tone'],
      failover: 'mid_stream',
      ...body,
    });
    expect(res.status).toBe(201);
    const stream = await collectStream(res.json.ws_url);
    expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
    return { res, stream, switched: stream.control.find((m) => m.type === 'provider_switched') };
  }

  it.each([
    ['reset', 1],
    ['stall', 7],
  ] as const)(
    'should restart the interrupted sentence on the fallback mid-stream (engine %s), announced in-band, as one valid stream',
    async (kind, client) => {
      // Sentence 2 is reset, or stalled until the idle timeout, after some audio has gone out. Chosen by its
      // text, not by arrival order: the look-ahead may send sentence 2's request before sentence 1's arrives.
      engine.rule = interrupt('The second', { kind, afterBytes: 9600 });
      const res = await createAs(gw, `10.0.0.${client}`, {
        text: THREE_SENTENCES,
        target_format: 'wav',
        sample_rate_hz: 16000,
        fallback_providers: ['mock_tone'],
        failover: 'mid_stream',
      });
      expect(res.status).toBe(201);
      const after = firstSeqAfterSwitch();
      const stream = await collectStream(res.json.ws_url, after);
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
      expect(after.seq()).toBe(switched.seq);
      const decoded = await decodeAudio(stream.bytes, 'wav', 16000);
      expect(decoded.errors).toBe('');
      expect(stream.bytes.indexOf('RIFF', 4)).toBe(-1); // one header
      const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
      expect(session).toMatchObject({ status: 'completed', served_by: 'mock_tone' });
      expect(
        await metric(gw, /^tts_provider_switches_total\{from="openai",to="mock_tone"\}/),
      ).toBeGreaterThanOrEqual(1);
    },
  );

  it.each([
    [
      'text',
      '  The first sentence is   here.\n\n\tThe second one\r\nfollows it.  And the third ends it. ',
      11,
    ],
    [
      'markdown',
      '# The first sentence is *here*.\n\n**The second** one follows [it](https://example.com/x). And the third ends it.',
      12,
    ],
  ] as const)(
    'should point text_offset into the %s as the client sent it (white space, markup), where the fallback restarts',
    async (textFormat, text, client) => {
      const { switched } = await failedOverAtSecond(client, {
        text,
        text_format: textFormat,
        target_format: 'pcm16',
        sample_rate_hz: 16000,
      });
      // The spoken text starts "The second" at another index (white space collapsed, markup dropped).
      const restart = text.indexOf('The second');
      expect(switched).toMatchObject({ from: 'openai', to: 'mock_tone', text_offset: restart });
      expect(restart).not.toBe(THREE_SENTENCES.indexOf('The second'));
    },
  );

  it.each([
    ['mp3', 24000],
    ['opus', 48000],
  ])(
    "should fail over mid-stream in %s as one stream that decodes cleanly, the switch naming the fallback's first frame",
    async (format, rate) => {
      engine.rule = interrupt('The second', { kind: 'reset', afterBytes: 9600 });
      const res = await createAs(gw, `10.0.0.${format === 'mp3' ? 3 : 4}`, {
        text: THREE_SENTENCES,
        target_format: format,
        sample_rate_hz: rate,
        fallback_providers: ['mock_tone'],
        failover: 'mid_stream',
      });
      expect(res.status).toBe(201);
      const after = firstSeqAfterSwitch();
      const stream = await collectStream(res.json.ws_url, after);
      expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
      const switched = stream.control.find((m) => m.type === 'provider_switched');
      expect(switched).toMatchObject({
        from: 'openai',
        to: 'mock_tone',
        text_offset: THREE_SENTENCES.indexOf('The second'),
      });
      const seqs = stream.audio.map((a) => a.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(seqs.filter((seq) => seq! < switched.seq).length).toBeGreaterThan(0);
      expect(after.seq()).toBe(switched.seq);

      const decoded = await decodeAudio(stream.bytes, format, rate);
      expect(decoded.errors).toBe('');
      expect(decoded.codec).toBe(format === 'mp3' ? 'mp3' : 'opus');
      // All of it decodes as one stream: as long as the gateway says it sent (codec delay aside), and at
      // least the first sentence from the engine plus the rest from the fallback.
      expect(Math.abs(decoded.duration * 1000 - stream.eos.audio_duration_ms)).toBeLessThan(150);
      expect(decoded.duration).toBeGreaterThan(0.04 * 'The first sentence is here.'.length + 1);
      if (format === 'opus') {
        // One logical Ogg stream: one serial, one head and tags, pages numbered on across the seam.
        const pages = oggPages(stream.bytes);
        expect(new Set(pages.map((p) => p.serial)).size).toBe(1);
        expect(pages.map((p) => p.sequence)).toEqual(pages.map((_, i) => i));
        expect(pages.filter((p) => p.flags & 2).length).toBe(1); // beginning of stream
        expect(pages.filter((p) => p.flags & 4).length).toBe(1); // end of stream
        expect(stream.bytes.toString('latin1').split('OpusHead').length - 1).toBe(1);
        expect(stream.bytes.toString('latin1').split('OpusTags').length - 1).toBe(1);
      } else {
        // One MP3 stream: no second ID3/Xing/Info header at the seam.
        for (const marker of ['ID3', 'Xing', 'Info']) expect(stream.bytes.indexOf(marker)).toBe(-1);
      }
      const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
      expect(session).toMatchObject({ status: 'completed', served_by: 'mock_tone' });
    },
  );

  it('should fail SSML over mid-stream at the interrupted part: its mark once, breaks kept, one valid stream', async () => {
    // The part after the mark is reset after some audio.
    const ssml =
      '<speak>The first part is spoken here.<break time="300ms"/><mark name="second"/>The second part follows it and is long enough.</speak>';
    const { res, stream, switched } = await failedOverAtSecond(5, {
      text: ssml,
      text_format: 'ssml',
      target_format: 'wav',
      sample_rate_hz: 16000,
    });
    expect(switched).toMatchObject({ from: 'openai', to: 'mock_tone' });
    expect(stream.control.filter((m) => m.type === 'mark').map((m) => m.name)).toEqual(['second']);
    expect((await decodeAudio(stream.bytes, 'wav', 16000)).errors).toBe('');
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${res.json.session_id}`)).json;
    expect(session).toMatchObject({ status: 'completed', served_by: 'mock_tone' });
  });

  it('should fail a ?timings=words stream over mid-stream at the interrupted sentence, one timings message per sentence', async () => {
    engine.rule = interrupt('The second', { kind: 'reset', afterBytes: 9600 });
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
    const timeouts = /^tts_provider_requests_total\{provider="openai",outcome="timeout"\}/;
    const failed = /^tts_streams_total\{provider="openai",format="pcm16",outcome="failed",route="stream"\}/;
    const before = { timeouts: await metric(gw, timeouts), failed: await metric(gw, failed) };
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
    // The stall is the engine's idle timeout; the stream counts as failed.
    expect({ timeouts: await metric(gw, timeouts), failed: await metric(gw, failed) }).toEqual({
      timeouts: before.timeouts + 1,
      failed: before.failed + 1,
    });
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
});

describe('Circuit half-open recovery (in-test fault-injecting fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      PROVIDER_OPENAI_RETRIES: '0',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '1',
      PROVIDER_OPENAI_HALF_OPEN_MS: '1000',
    },
    (running) => ({ engine, gw } = running),
  );

  const listed = async () =>
    (await getJson(gw.baseUrl, '/v1/providers')).json.providers.find((p: any) => p.id === 'openai');
  const gauge = () => metric(gw, /^tts_provider_circuit_state\{provider="openai"\}/);

  it('should report half_open once the half-open time has passed, close after a good probe, reopen after a bad one', async () => {
    const fail = async () => {
      engine.next({ kind: 'status', status: 500 });
      const session = await createSession(gw.baseUrl, { text: 'A failure.', target_format: 'pcm16' });
      expect((await collectStream(session.ws_url)).error).toMatchObject({ code: 'provider_error' });
    };
    await fail();
    expect(await listed()).toMatchObject({ circuit: 'open', retry_after_s: 1 });
    expect(await gauge()).toBe(1);
    const refused = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text: 'Too soon.',
      target_format: 'pcm16',
    });
    expect(refused.status).toBe(503);
    await new Promise((r) => setTimeout(r, 1100));
    const due = await listed();
    expect(due.circuit).toBe('half_open');
    expect(due.retry_after_s).toBeUndefined();

    // A probe that fails opens it again for another half-open time.
    await fail();
    expect(await listed()).toMatchObject({ circuit: 'open', retry_after_s: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await listed()).circuit).toBe('half_open');

    // A probe that succeeds closes it.
    const calls = engine.requests.length;
    const probe = await createSession(gw.baseUrl, { text: 'The probe.', target_format: 'pcm16' });
    expect((await collectStream(probe.ws_url)).closeCode).toBe(1000);
    expect(engine.requests.length - calls).toBe(1);
    expect(await listed()).toMatchObject({ circuit: 'closed' });
    expect(await gauge()).toBe(0);
  });
});

describe('Upstream 429 with a breaker that opens on the first counted failure (in-test fault-injecting fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      PROVIDER_OPENAI_RETRIES: '0',
      // One counted failure opens the circuit (the failure gate lets everything through at 1): a 429 that
      // counted would open it.
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '1',
      PROVIDER_OPENAI_HALF_OPEN_MS: '60000',
      PROVIDER_OPENAI_RETRY_AFTER_MAX_WAIT_MS: '1500',
    },
    (running) => ({ engine, gw } = running),
  );

  const circuit = async () => ({
    listed: (await getJson(gw.baseUrl, '/v1/providers')).json.providers.find((p: any) => p.id === 'openai'),
    gauge: await metric(gw, /^tts_provider_circuit_state\{provider="openai"\}/),
  });

  it('should wait out a short upstream 429 Retry-After and succeed on the same provider, without opening the circuit', async () => {
    engine.next({ kind: 'status', status: 429, retryAfter: 1 });
    const calls = engine.requests.length;
    const started = performance.now();
    const session = await createSession(gw.baseUrl, { text: 'Rate limited once.', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(engine.requests.length - calls).toBe(2); // the 429, then the same request again
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'completed', served_by: 'openai' });
    expect(await circuit()).toMatchObject({ listed: { circuit: 'closed' }, gauge: 0 });
  });

  it('should fail over on a long upstream 429 and keep the circuit closed, with the cool-down in /v1/providers', async () => {
    // Longer than RETRY_AFTER_MAX_WAIT_MS (1.5 s): not waited out, the provider cools down for 2 s.
    engine.next({ kind: 'status', status: 429, retryAfter: 2 });
    const session = await createSession(gw.baseUrl, {
      text: 'Rate limited for long.',
      target_format: 'pcm16',
      fallback_providers: ['mock_tone'],
    });
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json.served_by).toBe(
      'mock_tone',
    );
    const { listed, gauge } = await circuit();
    expect({ circuit: listed.circuit, gauge }).toEqual({ circuit: 'closed', gauge: 0 });
    expect(listed.retry_after_s).toBeGreaterThanOrEqual(1);
    expect(listed.retry_after_s).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 2200)); // the cool-down ends
    expect((await circuit()).listed.retry_after_s).toBeUndefined();
  });

  it('should open on one upstream 500 at this threshold (what a 429 never does)', async () => {
    engine.next({ kind: 'status', status: 500 });
    const session = await createSession(gw.baseUrl, { text: 'A real failure.', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    expect(stream.error).toMatchObject({ code: 'provider_error' });
    const { listed, gauge } = await circuit();
    expect({ circuit: listed.circuit, gauge }).toEqual({ circuit: 'open', gauge: 1 });
    expect(listed.retry_after_s).toBeGreaterThan(50);
  });
});

describe('Retries before the first audio (in-test fault-injecting fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      PROVIDER_OPENAI_RETRIES: '2',
      PROVIDER_OPENAI_RETRY_BACKOFF_MS: '100',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '50',
    },
    (running) => ({ engine, gw } = running),
  );

  it('should retry an upstream 500 on the same provider and succeed, one engine call per attempt', async () => {
    engine.next({ kind: 'status', status: 500 });
    const calls = engine.requests.length;
    const successes = await metric(gw, /^tts_provider_requests_total\{provider="openai",outcome="success"\}/);
    const session = await createSession(gw.baseUrl, { text: 'Retried once.', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
    const made = engine.requests.slice(calls);
    expect(made.map((r) => r.input)).toEqual(['Retried once.', 'Retried once.']);
    // Retried after a backoff with jitter (the first delay is below ~1.4 x RETRY_BACKOFF_MS).
    expect(made[1].startedAt - made[0].startedAt).toBeGreaterThan(0);
    expect(made[1].startedAt - made[0].startedAt).toBeLessThan(1000);
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'completed', served_by: 'openai' });
    // One logical provider request, however many attempts it took.
    expect(await metric(gw, /^tts_provider_requests_total\{provider="openai",outcome="success"\}/)).toBe(
      successes + 1,
    );
  });

  it('should give up after PROVIDER_<ID>_RETRIES retries (1 + 2 calls) with provider_error', async () => {
    engine.next(
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
    );
    const calls = engine.requests.length;
    const session = await createSession(gw.baseUrl, { text: 'Never gets through.', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    expect(stream).toMatchObject({ closeCode: 4502, error: { code: 'provider_error' } });
    expect(engine.requests.length - calls).toBe(3);
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'failed', error: { code: 'provider_error' } });
  });
});

describe('DEFAULT_FALLBACK_PROVIDERS (in-test fault-injecting fake as the failing primary)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      DEFAULT_FALLBACK_PROVIDERS: 'mock_tone',
      PROVIDER_OPENAI_RETRIES: '0',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '50',
    },
    (running) => ({ engine, gw } = running),
    (fake) => {
      fake.fallback = { kind: 'status', status: 500 };
    },
  );

  it('should give a session created without fallback_providers the configured chain, served by it while the primary fails', async () => {
    const calls = engine.requests.length;
    const session = await createSession(gw.baseUrl, {
      text: 'Saved by the default.',
      target_format: 'pcm16',
    });
    expect(session).toMatchObject({ provider: 'openai', fallback_providers: ['mock_tone'] });
    const stream = await collectStream(session.ws_url);
    expect({ code: stream.closeCode, error: stream.error }).toEqual({ code: 1000, error: undefined });
    expect(engine.requests.length - calls).toBe(1); // the primary was tried first
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'completed', provider: 'openai', served_by: 'mock_tone' });
  });

  it('should let fallback_providers: [] turn the default chain off', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'No chain for me.',
      target_format: 'pcm16',
      fallback_providers: [],
    });
    expect(session.fallback_providers).toEqual([]);
    const stream = await collectStream(session.ws_url);
    expect(stream).toMatchObject({ closeCode: 4502, error: { code: 'provider_error' } });
  });

  it('should fail /v1/audio/speech over to the default chain too', async () => {
    const calls = engine.requests.length;
    const served = await metric(gw, /^tts_provider_requests_total\{provider="mock_tone",outcome="success"\}/);
    const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai',
        voice: 'alloy',
        input: 'Spoken anyway.',
        response_format: 'wav',
      }),
    });
    expect(res.status).toBe(200);
    // The headers name who spoke: the fallback and its voice, not the model asked for.
    expect(res.headers.get('x-provider')).toBe('mock_tone');
    expect(res.headers.get('x-voice')).toMatch(/mock/);
    const decoded = await decodeAudio(Buffer.from(await res.arrayBuffer()), 'wav', 24000);
    expect(decoded.errors).toBe('');
    expect(decoded.duration).toBeGreaterThan(0.3);
    expect(engine.requests.length - calls).toBe(1);
    expect(await metric(gw, /^tts_provider_requests_total\{provider="mock_tone",outcome="success"\}/)).toBe(
      served + 1,
    );
  });
});

describe('The circuit breaker, shared by every client', () => {
  let gw: RunningApp;

  faultyGateway(
    {
      TRUST_PROXY: 'true',
      PROVIDER_OPENAI_RETRIES: '0',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '3',
      PROVIDER_OPENAI_HALF_OPEN_MS: '60000',
    },
    (running) => ({ gw } = running),
    (fake) => {
      fake.rule = (input) => (input.includes('POISON') ? { kind: 'status', status: 500 } : undefined);
    },
  );

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
  let gw: RunningApp;

  faultyGateway(
    {
      PROVIDER_OPENAI_CONCURRENCY: '1',
      PROVIDER_OPENAI_QUEUE: '0',
    },
    (running) => ({ gw } = running),
    (fake) => {
      fake.fallback = { kind: 'ok', paceMs: 100 };
    },
  );

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
    const session = (await getJson(gw.baseUrl, `/v1/tts/sessions/${second.session_id}`)).json;
    expect(session).toMatchObject({ status: 'failed', error: { code: 'provider_busy' } });
    expect(await metric(gw, /^tts_provider_requests_total\{provider="openai",outcome="busy"\}/)).toBe(1);
  });

  it('should answer provider_busy over HTTP with 503 and Retry-After (/v1/audio/speech and /file)', async () => {
    const holder = await createSession(gw.baseUrl, {
      text: 'This one holds the only slot of the engine for a while.',
      target_format: 'pcm16',
      provider: 'openai',
    });
    const other = await createSession(gw.baseUrl, {
      text: 'Wants the file.',
      target_format: 'wav',
      provider: 'openai',
    });
    let busy: { speech: Response; speechBody: any; file: Response; fileBody: any } | undefined;
    const held = collectStream(holder.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq !== 1) return;
        void (async () => {
          const speech = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'openai', voice: 'alloy', input: 'Busy.', response_format: 'mp3' }),
          });
          const file = await fetch(`${gw.baseUrl}/v1/tts/sessions/${other.session_id}/file`);
          busy = { speech, speechBody: await speech.json(), file, fileBody: await file.json() };
        })();
      },
    });
    expect((await held).closeCode).toBe(1000);
    expect(busy!.speech.status).toBe(503);
    expect(busy!.speech.headers.get('retry-after')).toBe('1');
    expect(busy!.speechBody).toMatchObject({ error: { code: 'provider_busy' } });
    expect(busy!.file.status).toBe(503);
    expect(busy!.file.headers.get('retry-after')).toBe('1');
    expect(busy!.fileBody).toMatchObject({ code: 'provider_busy' });
    // Free again: the file is served now.
    expect((await fetch(`${gw.baseUrl}/v1/tts/sessions/${other.session_id}/file`)).status).toBe(200);
  });
});

describe('The provider bulkhead with a queue (in-test fault-injecting fake)', () => {
  let gw: RunningApp;

  faultyGateway(
    { PROVIDER_OPENAI_CONCURRENCY: '1', PROVIDER_OPENAI_QUEUE: '1' },
    (running) => ({ gw } = running),
    (fake) => {
      fake.fallback = { kind: 'ok', paceMs: 100 };
    },
  );

  const openai = async () =>
    (await getJson(gw.baseUrl, '/v1/providers')).json.providers.find((p: any) => p.id === 'openai');

  it('should queue one call behind the running one, refuse the next, and fail that one over to a fallback', async () => {
    const create = (text: string, extra: Record<string, unknown> = {}) =>
      createSession(gw.baseUrl, { text, target_format: 'pcm16', provider: 'openai', ...extra });
    const running = await create('The running call holds the only slot of the engine for a while.');
    const queued = await create('The queued call waits for it.');
    const refused = await create('No room left.');
    const rescued = await create('No room left either, but a fallback.', {
      fallback_providers: ['mock_tone'],
    });

    let first = false;
    const runningStream = collectStream(running.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 1) first = true;
      },
    });
    await waitFor(() => first, 5000);
    const queuedStream = collectStream(queued.ws_url);
    await waitFor(async () => (await openai()).queued === 1, 5000);
    expect(await openai()).toMatchObject({ in_flight: 1, queued: 1, concurrency: 1 });

    const busy = await collectStream(refused.ws_url);
    expect(busy).toMatchObject({ closeCode: 4503, error: { code: 'provider_busy' } });
    const fallback = await collectStream(rescued.ws_url);
    expect(fallback.closeCode).toBe(1000);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${rescued.session_id}`)).json.served_by).toBe(
      'mock_tone',
    );

    // The queued call runs once the slot is free, on the provider it waited for.
    expect((await runningStream).closeCode).toBe(1000);
    expect((await queuedStream).closeCode).toBe(1000);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${queued.session_id}`)).json).toMatchObject({
      status: 'completed',
      served_by: 'openai',
    });
    expect(await openai()).toMatchObject({ in_flight: 0, queued: 0 });
  });
});

describe('Cancel and cleanup', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {},
    (running) => ({ engine, gw } = running),
    (fake) => {
      fake.fallback = { kind: 'ok', paceMs: 100 };
    },
  );

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

describe('Resume past the window (in-test fault-injecting fake engine)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  faultyGateway(
    {
      DEFAULT_PROVIDER: 'openai',
      RESUME_WINDOW_SECONDS: '1',
    },
    (running) => ({ engine, gw } = running),
    (fake) => {
      // Real time: 100 ms of audio every 100 ms, so the engine is still at work when the window ends.
      fake.fallback = { kind: 'ok', paceMs: 100 };
    },
  );

  it('should abort the engine at the end of the window and refuse a later resume with resume_unavailable (4410)', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'A long answer whose client drops its socket and comes back only after the window. '.repeat(2),
      target_format: 'pcm16',
    });
    const unavailableBefore = await metric(gw, /^tts_resumes_total\{outcome="unavailable"\}/);
    let droppedAt = 0;
    const first = await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 2 && !droppedAt) {
          droppedAt = performance.now();
          ws.terminate();
        }
      },
    });
    expect(first.eos).toBeUndefined();
    const request = engine.requests.at(-1)!;
    // The synthesis went on while the client was away, and stopped within a second of the window's end.
    const closedAt = await request.closed;
    expect(closedAt - droppedAt).toBeGreaterThan(900);
    expect(closedAt - droppedAt).toBeLessThan(2000);
    // Past the window (but within a second window, where a retired log would still be held).
    await new Promise((r) => setTimeout(r, 200));
    const late = await collectStream(`${session.ws_url}?from_seq=1`);
    expect(late).toMatchObject({ closeCode: 4410, error: { code: 'resume_unavailable' } });
    expect(late.audio).toEqual([]);
    expect(late.error.message).toContain('RESUME_WINDOW_SECONDS');
    expect(await metric(gw, /^tts_resumes_total\{outcome="unavailable"\}/)).toBe(unavailableBefore + 1);
    const after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
    expect(after.error.message).toContain('did not resume within 1 s');
    expect(
      await metric(gw, /^tts_streams_total\{(?=[^}]*outcome="disconnected")(?=[^}]*route="stream")/),
    ).toBe(1);
    // The buffer was freed at the window's end, not kept for another window.
    expect(await gw.app.get(ReplayStore).get(session.session_id)).toBeUndefined();
    expect(await (await fetch(`${gw.baseUrl}/metrics`)).text()).toMatch(/^tts_resume_buffer_bytes 0$/m);
  });

  it('should still replay a stream that finished while its client was away, within the window after its end', async () => {
    const session = await createSession(gw.baseUrl, { text: 'Short and done.', target_format: 'pcm16' });
    let dropped = false;
    await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 1 && !dropped) {
          dropped = true;
          ws.terminate();
        }
      },
    });
    await engine.requests.at(-1)!.closed;
    const back = await collectStream(`${session.ws_url}?from_seq=1`);
    expect(back.closeCode).toBe(1000);
    expect(back.eos).toMatchObject({ bytes: back.bytes.length });
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json.status).toBe(
      'completed',
    );
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
