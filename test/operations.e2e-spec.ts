import { createApp } from '../src/app.factory';
import { createSession, getJson, startApp, type RunningApp } from './support/app';
import { collectStream } from './support/ws-stream';

describe('Operations routes', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp();
  });

  afterAll(async () => {
    await gw.close();
  });

  it('GET /healthz should answer 200 {"status":"ok"}', async () => {
    const res = await getJson(gw.baseUrl, '/healthz');
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('ok');
  });

  it('GET /readyz should answer 200 with the default provider and every provider in the details', async () => {
    const res = await getJson(gw.baseUrl, '/readyz');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      status: 'ok',
      details: {
        accepting_sessions: { status: 'up' },
        default_provider: { status: 'up', provider: 'mock_tone' },
        providers: { mock_tone: { status: 'up' } },
      },
    });
  });

  it('GET /metrics should expose every contract metric, counting a finished stream', async () => {
    const session = await createSession(gw.baseUrl, { text: 'metrics', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    const res = await fetch(`${gw.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    for (const name of [
      'tts_sessions_total',
      'tts_active_streams',
      'tts_stream_bytes_total',
      'tts_time_to_first_audio_seconds',
      'tts_provider_requests_total',
      'tts_provider_circuit_state',
      'tts_rate_limited_total',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).toMatch(/^tts_sessions_total\{provider="mock_tone",format="pcm16"\} [1-9]/m);
    expect(text).toMatch(
      new RegExp(`^tts_stream_bytes_total\\{format="pcm16",route="stream"\\} ${stream.bytes.length}$`, 'm'),
    );
    expect(text).toMatch(
      /^tts_time_to_first_audio_seconds_count\{provider="mock_tone",format="pcm16",route="stream"\} 1$/m,
    );
    expect(text).toMatch(/^tts_provider_requests_total\{provider="mock_tone",outcome="success"\} 1$/m);
    expect(text).toMatch(/^tts_provider_circuit_state\{provider="mock_tone"\} 0$/m);
    // No session ids in labels.
    expect(text).not.toContain(session.session_id);
  });

  it('GET /docs-json should be an OpenAPI 3 document of every REST route', async () => {
    const res = await getJson(gw.baseUrl, '/docs-json');
    expect(res.status).toBe(200);
    expect(res.json.openapi).toMatch(/^3\./);
    const paths = Object.keys(res.json.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v1/tts/sessions',
        '/v1/tts/sessions/{id}',
        '/v1/tts/sessions/{id}/file',
        '/v1/voices',
        '/healthz',
        '/readyz',
        '/v1/audio/speech',
      ]),
    );
    const speech = res.json.paths['/v1/audio/speech'].post;
    expect(speech.requestBody.content['application/json'].schema.$ref).toMatch(/CreateSpeechDto/);
    const create = res.json.paths['/v1/tts/sessions'].post;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '429', '503']));
    const schema = res.json.components.schemas.CreateSessionDto;
    expect(schema.required).toEqual(expect.arrayContaining(['text', 'target_format']));
    expect(schema.properties.target_format.enum).toEqual(['pcm16', 'mulaw', 'alaw', 'wav', 'mp3', 'opus']);
  });

  it('GET /docs should serve Swagger UI', async () => {
    const res = await fetch(`${gw.baseUrl}/docs`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/swagger/i);
  });

  it('GET / should serve the demo page', async () => {
    const res = await fetch(`${gw.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('should answer unknown routes with 404 in the error shape', async () => {
    const res = await getJson(gw.baseUrl, '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'not_found' });
  });

  it('GET /v1/voices should filter by provider and by language prefix', async () => {
    const all = await getJson(gw.baseUrl, '/v1/voices');
    expect(all.json.voices.length).toBe(3);
    expect(all.json.voices[0]).toMatchObject({
      id: 'en-US-mock-1',
      provider: 'mock_tone',
      language: 'en-US',
      sample_rate_hz: 24000,
      supported_formats: expect.arrayContaining(['pcm16', 'wav', 'mulaw', 'alaw']),
    });
    const en = await getJson(gw.baseUrl, '/v1/voices?language=en');
    expect(en.json.voices.map((v: any) => v.id).sort()).toEqual(['en-GB-mock-1', 'en-US-mock-1']);
    const us = await getJson(gw.baseUrl, '/v1/voices?language=EN-us&provider=mock_tone');
    expect(us.json.voices.map((v: any) => v.id)).toEqual(['en-US-mock-1']);
    const bad = await getJson(gw.baseUrl, '/v1/voices?provider=nope');
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('provider');
  });
});

describe('Configuration validation', () => {
  it.each([
    ['PORT', 'eighty'],
    ['MAX_TEXT_CHARS', '0'],
    ['PROVIDERS', 'mock_tone,acme'],
    ['LOG_LEVEL', 'loud'],
    ['COQUI_BASE_URL', 'not a url'],
  ])('should refuse to start with a bad %s and name it', async (name, value) => {
    const saved = process.env[name];
    process.env[name] = value;
    try {
      await expect(createApp()).rejects.toThrow(new RegExp(`${name}=`));
    } finally {
      if (saved === undefined) delete process.env[name];
      else process.env[name] = saved;
    }
  });

  it('should refuse PROVIDERS naming an engine whose settings are missing', async () => {
    await expect(startApp({ PROVIDERS: 'mock_tone,coqui', COQUI_BASE_URL: undefined })).rejects.toThrow(
      /coqui.*COQUI_BASE_URL/,
    );
  });
});
