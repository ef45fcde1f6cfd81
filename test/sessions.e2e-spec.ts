import { request } from 'node:http';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { CodecWorkerPool } from '../src/transcode/workers/codec-worker.pool';
import { collectStream } from './support/ws-stream';

const valid = { text: 'Hello there.', target_format: 'pcm16' };

describe('POST /v1/tts/sessions', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ MAX_TEXT_CHARS: '100' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should create a session with normalized fields and a ws_url for the request host', async () => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text: '  Hello\u0007\n\n   there.  ',
      target_format: 'mulaw',
      language: 'en-us',
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({
      status: 'pending',
      text: 'Hello there.',
      provider: 'mock_tone',
      voice: 'en-US-mock-1',
      language: 'en-US',
      target_format: 'mulaw',
      sample_rate_hz: 8000,
      content_type: 'audio/basic',
    });
    expect(res.json.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json.ws_url).toBe(`${gw.baseUrl.replace('http', 'ws')}/v1/tts/stream/${res.json.session_id}`);
  });

  it('should honour the Host and X-Forwarded-Proto headers in ws_url', async () => {
    // fetch() may not override Host; a plain node:http request can.
    const res = await rawPost(gw.baseUrl, '/v1/tts/sessions', valid, {
      host: 'tts.example.com',
      'x-forwarded-proto': 'https',
    });
    expect(res.json.ws_url).toBe(`wss://tts.example.com/v1/tts/stream/${res.json.session_id}`);
  });

  it('should pick the voice for a language when only the language is given', async () => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', { ...valid, language: 'de' });
    expect(res.json).toMatchObject({ voice: 'de-DE-mock-1', language: 'de' });
  });

  it('should find the provider of a voice given without a provider', async () => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', { ...valid, voice: 'en-GB-mock-1' });
    expect(res.json).toMatchObject({ provider: 'mock_tone', voice: 'en-GB-mock-1', language: 'en-GB' });
  });

  it.each([
    ['missing text', { target_format: 'pcm16' }, 'text', /text/],
    ['empty text', { text: '   \u0000 ', target_format: 'pcm16' }, 'text', /must not be empty/],
    ['text not a string', { text: 42, target_format: 'pcm16' }, 'text', /string/],
    [
      'text over MAX_TEXT_CHARS',
      { text: 'a'.repeat(101), target_format: 'pcm16' },
      'text',
      /101 characters.*limit is 100/,
    ],
    ['missing target_format', { text: 'hi' }, 'target_format', /pcm16, mulaw, alaw, wav, mp3, opus/],
    ['unknown target_format', { text: 'hi', target_format: 'ogg' }, 'target_format', /must be one of/],
    ['sample_rate_hz below range', { ...valid, sample_rate_hz: 7999 }, 'sample_rate_hz', /8000 to 48000/],
    ['sample_rate_hz above range', { ...valid, sample_rate_hz: 96000 }, 'sample_rate_hz', /8000 to 48000/],
    ['sample_rate_hz not an integer', { ...valid, sample_rate_hz: 16000.5 }, 'sample_rate_hz', /integer/],
    ['sample_rate_hz as text', { ...valid, sample_rate_hz: 'fast' }, 'sample_rate_hz', /integer/],
    ['unknown provider', { ...valid, provider: 'acme' }, 'provider', /not an enabled provider.*mock_tone/],
    [
      'voice of no provider',
      { ...valid, provider: 'mock_tone', voice: 'nobody' },
      'voice',
      /does not belong.*en-US-mock-1/,
    ],
    [
      'language the voice does not speak',
      { ...valid, voice: 'en-US-mock-1', language: 'fr' },
      'language',
      /not spoken by voice/,
    ],
    ['language no voice speaks', { ...valid, language: 'ja-JP' }, 'language', /not spoken by any voice/],
    ['malformed language tag', { ...valid, language: 'en_US_x_1234567890' }, 'language', /BCP-47/],
    ['speed out of range', { ...valid, speed: 9 }, 'speed', /0.25 to 4/],
    ['unknown field', { ...valid, colour: 'blue' }, 'colour', /unknown field "colour"/],
    [
      'fallback_providers not an array',
      { ...valid, fallback_providers: 'mock_tone' },
      'fallback_providers',
      /array/,
    ],
  ])('should answer 400 naming the field for %s', async (_case, body, field, message) => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', body);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ statusCode: 400, error: 'Bad Request', field });
    expect(res.json.message).toMatch(message);
    expect(typeof res.json.code).toBe('string');
    expect(res.text).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it.each([
    [
      'opus at 44100',
      { ...valid, target_format: 'opus', sample_rate_hz: 44100 },
      /8000, 12000, 16000, 24000, 48000/,
    ],
    ['mp3 at 10000', { ...valid, target_format: 'mp3', sample_rate_hz: 10000 }, /allowed: 8000, 11025/],
  ])('should refuse rates a codec cannot take (%s) with the allowed list', async (_case, body, allowed) => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', body);
    expect(res.status).toBe(400);
    expect(res.json.field).toBe('sample_rate_hz');
    expect(res.json.message).toMatch(allowed);
  });

  it('should answer malformed JSON with 400 malformed_json', async () => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', '{"text": "hi", ');
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: 'malformed_json' });
  });

  it('should answer a JSON body that is not an object with 400', async () => {
    for (const body of ['[]', '"text"', '42', 'null']) {
      const res = await postJson(gw.baseUrl, '/v1/tts/sessions', body);
      expect(res.status).toBe(400);
      expect(res.json.statusCode).toBe(400);
    }
  });

  it('should reject an oversized body with 413 before parsing it', async () => {
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text: 'x'.repeat(2_000_000),
      target_format: 'pcm16',
    });
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
  });
});

describe('GET/DELETE /v1/tts/sessions/:id and /file', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp();
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should report a session before and after streaming with counters', async () => {
    const created = await createSession(gw.baseUrl, {
      text: 'Counting bytes.',
      target_format: 'wav',
      sample_rate_hz: 16000,
    });
    const before = await getJson(gw.baseUrl, `/v1/tts/sessions/${created.session_id}`);
    expect(before.json).toMatchObject({ status: 'pending', chunks_sent: 0, bytes_sent: 0 });

    const stream = await collectStream(created.ws_url);
    const after = await getJson(gw.baseUrl, `/v1/tts/sessions/${created.session_id}`);
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({
      status: 'completed',
      chunks_sent: stream.audio.length,
      bytes_sent: stream.bytes.length,
      served_by: 'mock_tone',
    });
    expect(after.json.time_to_first_audio_ms).toBeGreaterThanOrEqual(0);
    expect(after.json.audio_duration_ms).toBe(stream.eos.audio_duration_ms);
  });

  it('should answer 404 session_not_found for unknown and malformed ids', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await getJson(gw.baseUrl, `/v1/tts/sessions/${id}`);
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ statusCode: 404, code: 'session_not_found' });
      const del = await fetch(`${gw.baseUrl}/v1/tts/sessions/${id}`, { method: 'DELETE' });
      expect(del.status).toBe(404);
    }
  });

  it('should cancel a pending session with 204 so it never streams', async () => {
    const created = await createSession(gw.baseUrl, valid);
    const del = await fetch(`${gw.baseUrl}/v1/tts/sessions/${created.session_id}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${created.session_id}`)).json.status).toBe(
      'cancelled',
    );
    const stream = await collectStream(created.ws_url);
    expect(stream.error).toMatchObject({ code: 'cancelled' });
    expect(stream.closeCode).toBe(4499);
  });

  it('should serve the whole utterance as a WAV file with exact RIFF sizes', async () => {
    const created = await createSession(gw.baseUrl, {
      text: 'A whole file.',
      target_format: 'wav',
      sample_rate_hz: 22050,
    });
    const res = await fetch(`${gw.baseUrl}/v1/tts/sessions/${created.session_id}/file`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    expect(bytes.readUInt32LE(40)).toBe(bytes.length - 44);
    expect(bytes.readUInt32LE(24)).toBe(22050);
    const decoded = await decodeAudio(bytes, 'wav', 22050);
    expect(decoded.errors).toBe('');
    // The file equals what the stream carries (same deterministic provider), header sizes aside.
    const stream = await collectStream(created.ws_url);
    expect(bytes.subarray(44).equals(stream.bytes.subarray(44))).toBe(true);
  });

  it('should serve other formats from the same session with ?format=', async () => {
    const created = await createSession(gw.baseUrl, { text: 'Another format.', target_format: 'wav' });
    const res = await fetch(`${gw.baseUrl}/v1/tts/sessions/${created.session_id}/file?format=alaw`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/x-alaw-basic');
    const decoded = await decodeAudio(Buffer.from(await res.arrayBuffer()), 'alaw', 8000);
    expect(decoded).toMatchObject({ codec: 'pcm_alaw', sampleRate: 8000, errors: '' });
    const bad = await getJson(gw.baseUrl, `/v1/tts/sessions/${created.session_id}/file?format=aiff`);
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/format must be one of/);
  });
});

describe('Codec threads for a new session', () => {
  it('should start one when an MP3 session is created, before its WebSocket opens (none for pcm16)', async () => {
    const gw = await startApp();
    try {
      const pool = gw.app.get(CodecWorkerPool);
      expect(pool.threads).toBeGreaterThan(0);
      await createSession(gw.baseUrl, { text: 'Plain PCM.', target_format: 'pcm16' });
      expect(await pool.stats()).toEqual([]);
      const mp3 = await createSession(gw.baseUrl, { text: 'Soon in MP3.', target_format: 'mp3' });
      expect(await pool.stats()).toHaveLength(1);
      const stream = await collectStream(mp3.ws_url);
      expect(stream.eos).toBeDefined();
      const decoded = await decodeAudio(Buffer.concat(stream.audio.map((a) => a.data)), 'mp3', 24000);
      expect(decoded.errors).toBe('');
      expect(decoded.duration).toBeGreaterThan(0.5);
    } finally {
      await gw.close();
    }
  });
});

describe('Session creation rate limit', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ RATE_LIMIT_SESSIONS_PER_MINUTE: '3' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should answer 429 with Retry-After past the limit and count it in tts_rate_limited_total', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof postJson>> | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await postJson(gw.baseUrl, '/v1/tts/sessions', valid);
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect(limited!.json).toMatchObject({ statusCode: 429, code: 'rate_limited' });
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other routes are not limited.
    expect((await getJson(gw.baseUrl, '/v1/voices')).status).toBe(200);
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_rate_limited_total\{route="create_session"\} 2$/m);
  });
});

function rawPost(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ json: any }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('Rate limit behind a proxy', () => {
  const createAs = (baseUrl: string, forwardedFor: string) =>
    postJson(baseUrl, '/v1/tts/sessions', valid, { 'x-forwarded-for': forwardedFor }).then((r) => r.status);

  it('should ignore X-Forwarded-For without TRUST_PROXY, so a client cannot pick a fresh bucket', async () => {
    const gw = await startApp({ RATE_LIMIT_SESSIONS_PER_MINUTE: '2' });
    try {
      expect([
        await createAs(gw.baseUrl, '10.0.0.1'),
        await createAs(gw.baseUrl, '10.0.0.2'),
        await createAs(gw.baseUrl, '10.0.0.3'),
      ]).toEqual([201, 201, 429]);
    } finally {
      await gw.close();
    }
  });

  it('should key clients by X-Forwarded-For when the proxy is trusted', async () => {
    const gw = await startApp({ RATE_LIMIT_SESSIONS_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' });
    try {
      const a = [
        await createAs(gw.baseUrl, '10.0.0.1'),
        await createAs(gw.baseUrl, '10.0.0.1'),
        await createAs(gw.baseUrl, '10.0.0.1'),
      ];
      const b = await createAs(gw.baseUrl, '10.0.0.2');
      expect(a).toEqual([201, 201, 429]);
      expect(b).toBe(201);
    } finally {
      await gw.close();
    }
  });
});
