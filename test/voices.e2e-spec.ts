import { decodeAudio, rms } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { startFakeCoqui, startFakeOpenAi, type FakeEngine } from './support/fake-engines';
import { collectStream } from './support/ws-stream';

/** Share of 20 ms frames louder than -40 dBFS: speech has many, silence none. */
function voicedShare(samples: Int16Array, rate: number): number {
  const frame = Math.round(rate * 0.02);
  let voiced = 0;
  let frames = 0;
  for (let i = 0; i + frame <= samples.length; i += frame, frames++) {
    if (rms(samples.subarray(i, i + frame)) > 328) voiced++;
  }
  return voiced / Math.max(1, frames);
}

describe('Real voices: espeak-ng through the gateway', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    // Default provider selection: espeak is present on this machine, so it becomes the default.
    gw = await startApp({ PROVIDERS: undefined });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should list espeak voices with languages and gender next to the mock voices', async () => {
    const res = await getJson(gw.baseUrl, '/v1/voices?provider=espeak');
    expect(res.json.providers).toEqual([expect.objectContaining({ id: 'espeak', status: 'up' })]);
    const voices: any[] = res.json.voices;
    expect(voices.length).toBeGreaterThan(50);
    for (const lang of ['en-US', 'en-GB', 'de', 'fr', 'es']) {
      expect(voices.some((v) => v.languages.includes(lang) || v.language === lang)).toBe(true);
    }
    expect(voices.every((v) => v.provider === 'espeak' && v.sample_rate_hz === 22050)).toBe(true);
    expect(voices.some((v) => v.gender === 'male')).toBe(true);
    const en = await getJson(gw.baseUrl, '/v1/voices?language=en&provider=espeak');
    const tags = new Set(en.json.voices.map((v: any) => v.language));
    expect(tags.has('en-US') && tags.has('en-GB')).toBe(true);
  });

  it('should use espeak as the default provider when it is present', async () => {
    const session = await createSession(gw.baseUrl, { text: 'Default voice.', target_format: 'pcm16' });
    expect(session.provider).toBe('espeak');
  });

  it.each([
    ['en-US', 'The weather is lovely today, and the birds are singing.'],
    ['de', 'Das Wetter ist heute schön, und die Vögel singen.'],
    ['fr', "Il fait beau aujourd'hui et les oiseaux chantent."],
    ['es', 'Hace buen tiempo hoy y los pájaros cantan.'],
  ])('should speak %s: audio that decodes and is speech, not silence', async (language, text) => {
    const session = await createSession(gw.baseUrl, {
      text,
      language,
      target_format: 'wav',
      sample_rate_hz: 16000,
    });
    expect(session.provider).toBe('espeak');
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    const decoded = await decodeAudio(stream.bytes, 'wav', 16000);
    expect(decoded).toMatchObject({ errors: '', codec: 'pcm_s16le', sampleRate: 16000 });
    expect(decoded.duration).toBeGreaterThan(1.5);
    expect(rms(decoded.samples)).toBeGreaterThan(500);
    const share = voicedShare(decoded.samples, 16000);
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(1); // pauses between words
  });

  it('should start a 5000-character text about as fast as a short one', async () => {
    const sentence = 'This is one sentence of a long document that keeps going for a while. ';
    const long = sentence.repeat(Math.floor(5000 / sentence.length)).trim();
    const firstAudio = async (text: string) => {
      const session = await createSession(gw.baseUrl, { text, target_format: 'pcm16', provider: 'espeak' });
      let ms = 0;
      await collectStream(session.ws_url, {
        onMessage: (ws, message) => {
          if (message.seq === 1) {
            ms = performance.now();
            ws.send('{"type":"cancel"}');
          }
        },
      });
      return ms;
    };
    const t0 = performance.now();
    const shortMs = (await firstAudio('One short sentence.')) - t0;
    const t1 = performance.now();
    const longMs = (await firstAudio(long)) - t1;
    // Whole-text synthesis of 5000 characters takes seconds; streaming starts within the same order as one sentence.
    expect(longMs).toBeLessThan(shortMs * 3 + 250);
  });
});

describe('espeak-ng missing', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ PROVIDERS: undefined, ESPEAK_BINARY: '/nonexistent/espeak-ng' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should report espeak down with a reason and fall back to mock_tone, not crash', async () => {
    const ready = await getJson(gw.baseUrl, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.details.default_provider.provider).toBe('mock_tone');
    expect(ready.json.details.providers.espeak).toMatchObject({
      status: 'down',
      reason: expect.stringMatching(/espeak/),
    });
    const voices = await getJson(gw.baseUrl, '/v1/voices');
    expect(voices.json.providers).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'espeak', status: 'down', voice_count: 0 })]),
    );
    const res = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text: 'hi',
      target_format: 'pcm16',
      provider: 'espeak',
    });
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ code: 'provider_unavailable', field: 'provider' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('should answer /readyz 503 when the only provider is down', async () => {
    const only = await startApp({ PROVIDERS: 'espeak', ESPEAK_BINARY: '/nonexistent/espeak-ng' });
    try {
      const ready = await getJson(only.baseUrl, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.error.default_provider).toMatchObject({ status: 'down', provider: 'espeak' });
    } finally {
      await only.close();
    }
  });
});

describe('Remote engines through the gateway (against in-test fakes of their APIs)', () => {
  let coqui: FakeEngine;
  let openai: FakeEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    coqui = await startFakeCoqui();
    openai = await startFakeOpenAi('sk-test-secret');
    gw = await startApp({
      PROVIDERS: 'mock_tone,coqui,openai',
      COQUI_BASE_URL: coqui.baseUrl,
      OPENAI_TTS_BASE_URL: openai.baseUrl,
      OPENAI_TTS_API_KEY: 'sk-test-secret',
      OPENAI_TTS_MODEL: 'kokoro',
    });
  });

  afterAll(async () => {
    await gw.close();
    await coqui.close();
    await openai.close();
  });

  it('should stream a fake Coqui tts-server with the chosen speaker, resampled from 22.05 kHz', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'First sentence here. And a second one.',
      provider: 'coqui',
      voice: 'p226',
      target_format: 'wav',
      sample_rate_hz: 24000,
    });
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    const calls = coqui.requests.filter((r) => r.path === '/api/tts');
    expect(calls.length).toBe(2); // one request per sentence
    expect(calls.every((c) => c.query.speaker_id === 'p226')).toBe(true);
    const decoded = await decodeAudio(stream.bytes, 'wav', 24000);
    expect(decoded).toMatchObject({ errors: '', sampleRate: 24000 });
    expect(rms(decoded.samples)).toBeGreaterThan(1000);
  });

  it('should stream a fake OpenAI-compatible server, asking for pcm with the key and model', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'Hello there.',
      provider: 'openai',
      voice: 'alloy',
      target_format: 'mulaw',
    });
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    const call = openai.requests.find((r) => r.path === '/v1/audio/speech')!;
    expect(call.body).toMatchObject({
      model: 'kokoro',
      input: 'Hello there.',
      voice: 'alloy',
      response_format: 'pcm',
    });
    expect(call.headers.authorization).toBe('Bearer sk-test-secret');
    const decoded = await decodeAudio(stream.bytes, 'mulaw', 8000);
    expect(decoded).toMatchObject({ errors: '', codec: 'pcm_mulaw' });
    expect(decoded.duration).toBeCloseTo(0.04 * 'Hello there.'.length, 2);
  });

  it('should fail over to the next provider when the first fails before any audio', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'FAIL on the first engine.',
      provider: 'coqui',
      voice: 'p225',
      fallback_providers: ['mock_tone'],
      target_format: 'pcm16',
    });
    expect(session.fallback_providers).toEqual(['mock_tone']);
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect(stream.audio.length).toBeGreaterThan(0);
    const after = await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`);
    expect(after.json).toMatchObject({ status: 'completed', provider: 'coqui', served_by: 'mock_tone' });
  });

  it('should fail with provider_error when the engine fails and there is no fallback', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'FAIL again.',
      provider: 'coqui',
      target_format: 'pcm16',
    });
    const stream = await collectStream(session.ws_url);
    expect(stream.error).toMatchObject({ code: 'provider_error', message: expect.stringMatching(/coqui/i) });
    expect(stream.closeCode).toBe(4502);
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_provider_requests_total\{provider="coqui",outcome="error"\} [1-9]/m);
  });
});
