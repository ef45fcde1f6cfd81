import { describe, expect, it } from 'vitest';
import { describeCloseCode, describeCode } from './errors';
import { ApiError, GatewayApi } from './http';
import { TtsStream, parseServerFrame, type StreamOutcome, type WebSocketLike } from './stream';

function fakeFetch(status: number, body: string, headers: Record<string, string> = {}) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetch = (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return Promise.resolve(new Response(body, { status, headers }));
  };
  return { fetch: fetch as typeof globalThis.fetch, calls };
}

describe(GatewayApi.name, () => {
  it('should post a session as JSON, with the API key when one is set', async () => {
    const f = fakeFetch(201, JSON.stringify({ session_id: 's1', ws_url: '/v1/tts/stream/s1' }));
    const api = new GatewayApi({ fetch: f.fetch, apiKey: 'sk-1' });
    const s = await api.createSession({ text: 'Hi', target_format: 'mulaw', sample_rate_hz: 8000 });
    expect(s.session_id).toBe('s1');
    expect(f.calls[0].url).toBe('/v1/tts/sessions');
    expect(f.calls[0].init.method).toBe('POST');
    expect(JSON.parse(f.calls[0].init.body as string)).toEqual({
      text: 'Hi',
      target_format: 'mulaw',
      sample_rate_hz: 8000,
    });
    expect((f.calls[0].init.headers as Record<string, string>).authorization).toBe('Bearer sk-1');
  });

  it('should turn the error body into an ApiError with code, field and Retry-After', async () => {
    const body = { statusCode: 429, error: 'Too Many Requests', message: 'Slow down', code: 'rate_limited' };
    const api = new GatewayApi({
      fetch: fakeFetch(429, JSON.stringify(body), { 'retry-after': '17' }).fetch,
    });
    const error = (await api
      .createSession({ text: 'x', target_format: 'wav' })
      .catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 429,
      code: 'rate_limited',
      message: 'Slow down',
      retryAfterSeconds: 17,
    });
    expect(error.causeLabel).toBe('429 rate limited: too many new sessions from this client');
  });

  it('should cope with array messages, non-JSON bodies and an unreachable gateway', async () => {
    const arr = new GatewayApi({
      fetch: fakeFetch(400, JSON.stringify({ message: ['a', 'b'], field: 'text' })).fetch,
    });
    await expect(arr.voices()).rejects.toMatchObject({ message: 'a; b', field: 'text', status: 400 });
    const html = new GatewayApi({ fetch: fakeFetch(502, '<html>bad gateway</html>').fetch });
    await expect(html.voices()).rejects.toMatchObject({ status: 502, message: 'HTTP 502 bad gateway' });
    const down = new GatewayApi({
      fetch: (() => Promise.reject(new TypeError('Failed to fetch'))) as typeof fetch,
    });
    const e = (await down.metricsText().catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.causeLabel).toBe('network error');
  });

  it('should default missing catalog fields', async () => {
    const api = new GatewayApi({ fetch: fakeFetch(200, '{"voices":[]}').fetch });
    expect(await api.voices()).toEqual({ voices: [], providers: [] });
  });
});

describe(parseServerFrame.name, () => {
  it('should decode audio, eos and error frames', () => {
    expect(parseServerFrame('{"type":"audio","seq":3,"data":"AQI="}', 1)).toEqual({
      type: 'audio',
      seq: 3,
      data: new Uint8Array([1, 2]),
    });
    expect(parseServerFrame('{"type":"eos","chunks":2}', 1)).toEqual({ type: 'eos', chunks: 2 });
    expect(parseServerFrame('{"type":"error","code":"cancelled","message":"bye"}', 1)).toEqual({
      type: 'error',
      code: 'cancelled',
      message: 'bye',
    });
  });

  it('should number binary frames and keep unknown types as events', () => {
    expect(parseServerFrame(new Uint8Array([9]).buffer, 5)).toEqual({
      type: 'audio',
      seq: 5,
      data: new Uint8Array([9]),
    });
    expect(parseServerFrame('{"type":"timings","words":[]}', 1)).toMatchObject({
      type: 'other',
      name: 'timings',
    });
    expect(parseServerFrame('{"type":"provider_switched","from":"a","to":"b"}', 1)).toMatchObject({
      from: 'a',
      to: 'b',
    });
    expect(parseServerFrame('not json', 1)).toBeNull();
    expect(parseServerFrame('[1]', 1)).toBeNull();
  });
});

class FakeSocket implements WebSocketLike {
  readyState = 0;
  binaryType = 'blob';
  sent: string[] = [];
  closedWith: number | null = null;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  onclose: WebSocketLike['onclose'] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(data);
  }
  close(code = 1000) {
    this.closedWith = code;
    this.serverClose(code);
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function connect() {
  let socket!: FakeSocket;
  const audio: number[] = [];
  const events: string[] = [];
  let outcome: StreamOutcome | null = null;
  const stream = new TtsStream(
    'ws://gw/v1/tts/stream/1',
    {
      open: () => events.push('open'),
      audio: (_bytes, seq) => audio.push(seq),
      event: (f) => events.push(f.type === 'other' ? f.name : f.type),
      end: (o) => (outcome = o),
    },
    (url) => (socket = new FakeSocket(url)),
  );
  return { stream, socket, audio, events, outcome: () => outcome };
}

describe(TtsStream.name, () => {
  it('should count audio, note seq gaps, pass other frames on and end with completed', () => {
    const c = connect();
    expect(c.socket.binaryType).toBe('arraybuffer');
    c.socket.open();
    c.socket.frame({ type: 'audio', seq: 1, data: 'AAA=' });
    c.socket.frame({ type: 'timings', words: [] });
    c.socket.frame({ type: 'audio', seq: 3, data: 'AAAA' });
    c.socket.frame({ type: 'eos', chunks: 3 });
    c.socket.serverClose(1000);
    expect(c.audio).toEqual([1, 3]);
    expect(c.events).toEqual(['open', 'timings']);
    expect(c.stream).toMatchObject({ bytes: 5, chunks: 2 });
    expect(c.stream.seq).toMatchObject({ gaps: 1, missing: 1 });
    expect(c.outcome()).toEqual({ kind: 'completed', closeCode: 1000 });
  });

  it('should report the error frame with its close code', () => {
    const c = connect();
    c.socket.open();
    c.socket.frame({ type: 'error', code: 'provider_error', message: 'engine died' });
    c.socket.serverClose(4502);
    expect(c.outcome()).toEqual({
      kind: 'error',
      code: 'provider_error',
      message: 'engine died',
      closeCode: 4502,
    });
  });

  it('should cancel an open stream with a cancel message and ignore audio after it', () => {
    const c = connect();
    c.socket.open();
    c.stream.cancel();
    expect(c.socket.sent).toEqual(['{"type":"cancel"}']);
    c.socket.frame({ type: 'audio', seq: 1, data: 'AAA=' });
    c.socket.frame({ type: 'error', code: 'cancelled', message: 'cancelled by client' });
    c.socket.serverClose(4499);
    expect(c.audio).toEqual([]);
    expect(c.outcome()).toEqual({ kind: 'cancelled', closeCode: 4499 });
  });

  it('should cancel a stream that is still connecting as soon as it opens, without close()', () => {
    const c = connect();
    c.stream.cancel();
    expect(c.socket.closedWith).toBeNull();
    c.socket.open();
    expect(c.events).toEqual([]); // no open event for a stream the user already stopped
    expect(c.socket.sent).toEqual(['{"type":"cancel"}']);
  });

  it('should report a lost connection', () => {
    const c = connect();
    c.socket.open();
    c.socket.serverClose(1006);
    expect(c.outcome()).toEqual({ kind: 'closed', closeCode: 1006, reason: '' });
  });
});

describe('plain words', () => {
  it('should explain codes and close codes', () => {
    expect(describeCode('rate_limited')).toMatch(/^rate limited/);
    expect(describeCode('brand_new_code')).toBe('brand new code');
    expect(describeCloseCode(1006)).toBe('connection lost');
    expect(describeCloseCode(4404)).toBe('not found');
    expect(describeCloseCode(4499)).toBe('cancelled');
  });
});
