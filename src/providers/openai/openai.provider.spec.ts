import { Test } from '@nestjs/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import { ProviderError, type AudioChunk, type SynthesisRequest, type Voice } from '../provider.contract';
import { OpenAiProvider, normalizeOpenAiBaseUrl } from './openai.provider';
import { OPENAI_BUILTIN_VOICES, openAiVoice } from './openai-voices';

const KEY = 'sk-test-Sup3rSecretKeyValue42';

interface FakeOptions {
  /** What `GET /v1/audio/voices` answers: a JSON body, or undefined for 404 (like OpenAI itself). */
  voices?: unknown;
  /** 404 on `/v1/models` (some compatible servers lack it). */
  noModels?: boolean;
}

/**
 * A fake OpenAI-compatible speech server (tts-apis.md §2.1): `POST /v1/audio/speech` answering raw 24 kHz
 * s16le in deliberately odd-sized chunked writes, `/v1/audio/voices` Kokoro-style, `/v1/models`, Bearer
 * auth, and the OpenAI error envelope. Markers in `input` select behaviour: HOLD (first chunk, then wait
 * for `release()`), HANG (first chunk, never finish), BAD_REQUEST (400), RATE_LIMIT (429), SERVER_ERROR
 * (500), WAV (ignores response_format and sends a 22.05 kHz WAV).
 */
class FakeOpenAiServer {
  readonly speechRequests: { authorization?: string; body: Record<string, unknown> }[] = [];
  readonly sent: Int16Array[] = [];
  closedEarly = 0;
  private server!: Server;
  private releaseHeld: (() => void) | undefined;

  constructor(private readonly options: FakeOptions = {}) {}

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  release(): void {
    this.releaseHeld?.();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      const shown = (req.headers.authorization ?? '').replace('Bearer ', '');
      json(401, {
        error: {
          message: `Incorrect API key provided: ${shown}. Masked: ${shown.slice(0, 8)}****${shown.slice(-4)}.`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      });
      return;
    }
    if (req.method === 'GET' && req.url === '/v1/models') {
      if (this.options.noModels) json(404, { detail: 'Not Found' });
      else json(200, { object: 'list', data: [{ id: 'kokoro', object: 'model' }] });
      return;
    }
    if (req.method === 'GET' && req.url === '/v1/audio/voices') {
      if (this.options.voices === undefined) json(404, { detail: 'Not Found' });
      else json(200, this.options.voices);
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/audio/speech') {
      json(404, { detail: 'Not Found' });
      return;
    }

    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
    this.speechRequests.push({ authorization: req.headers.authorization, body });
    const input = String(body.input);
    if (input.includes('BAD_REQUEST')) return void json(400, { error: { message: 'Invalid voice: nope' } });
    if (input.includes('RATE_LIMIT')) return void json(429, { error: { message: 'Rate limit reached' } });
    if (input.includes('SERVER_ERROR')) {
      return void res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream model crashed');
    }

    let finished = false;
    res.on('close', () => {
      if (!finished) this.closedEarly++;
    });
    const pcm = tone(0.25, 180 + (input.length % 50));
    this.sent.push(pcm);
    let bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    if (input.includes('WAV')) {
      res.writeHead(200, { 'content-type': 'audio/wav' });
      bytes = Buffer.concat([wavHeader(22050), bytes]);
    } else {
      res.writeHead(200, { 'content-type': 'audio/pcm' });
    }
    if (input.includes('HOLD') || input.includes('HANG')) {
      res.write(bytes.subarray(0, 4801)); // an odd count: the last byte is half a sample
      if (input.includes('HANG')) return;
      await new Promise<void>((resolve) => (this.releaseHeld = resolve));
      bytes = bytes.subarray(4801);
    }
    // Odd-sized writes with pauses, so samples are split across network chunks.
    const sizes = [1, 3, 7, 499, 2, 1001, 5];
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const size = sizes[i % sizes.length];
      res.write(bytes.subarray(at, at + size));
      at += size;
      if (i % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    finished = true;
    res.end();
  }
}

function tone(seconds: number, hz: number, rate = 24000): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) =>
    Math.round(10000 * Math.sin(1 + (2 * Math.PI * hz * i) / rate)),
  );
}

function wavHeader(rate: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(0xffffffff, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(0xffffffff, 40);
  return h;
}

const config = (
  baseUrl: string | undefined,
  overrides: Partial<ProvidersConfig['openai']> = {},
): ProvidersConfig => ({
  enabled: undefined,
  defaultProvider: undefined,
  mockTone: { realtimeFactor: 0 },
  espeak: { binary: 'espeak-ng' },
  coqui: { baseUrl: undefined },
  openai: { baseUrl, apiKey: KEY, model: 'kokoro', voices: [], ...overrides },
});

async function createProvider(
  baseUrl: string | undefined,
  overrides: Partial<ProvidersConfig['openai']> = {},
): Promise<OpenAiProvider> {
  const moduleRef = await Test.createTestingModule({
    providers: [OpenAiProvider, { provide: providersConfig.KEY, useValue: config(baseUrl, overrides) }],
  }).compile();
  return moduleRef.get(OpenAiProvider);
}

async function collect(
  iterable: AsyncIterable<AudioChunk>,
): Promise<{ chunks: AudioChunk[]; pcm: Int16Array }> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return { chunks, pcm: Int16Array.from(chunks.flatMap((c) => [...c.pcm])) };
}

const voice: Voice = openAiVoice({ id: 'af_bella' });
const request = (text: string, speed = 1): SynthesisRequest => ({ text, voice, language: 'en-US', speed });

describe('OpenAiProvider against a fake OpenAI-compatible server', () => {
  let fake: FakeOpenAiServer;
  let provider: OpenAiProvider;

  beforeAll(async () => {
    fake = await new FakeOpenAiServer({ voices: { voices: ['af_bella', 'bm_george', 'jf_alpha'] } }).start();
    provider = await createProvider(`${fake.origin}/v1`);
  });
  afterAll(() => fake.stop());
  beforeEach(() => {
    fake.speechRequests.length = 0;
    fake.sent.length = 0;
  });

  it('should send model, input, voice, response_format pcm, speed and the Bearer key', async () => {
    await collect(
      provider.synthesize(request('Hello there, how are you today?', 1.5), new AbortController().signal),
    );
    expect(fake.speechRequests).toEqual([
      {
        authorization: `Bearer ${KEY}`,
        body: {
          model: 'kokoro',
          input: 'Hello there, how are you today?',
          voice: 'af_bella',
          response_format: 'pcm',
          speed: 1.5,
        },
      },
    ]);
  });

  it('should decode 24 kHz PCM exactly across odd byte splits (only the 5 ms edge fades differ)', async () => {
    const { chunks, pcm } = await collect(
      provider.synthesize(request('Odd splits everywhere.'), new AbortController().signal),
    );
    expect(chunks.every((c) => c.sampleRate === 24000)).toBe(true);
    const sent = fake.sent[0];
    expect(pcm.length).toBe(sent.length);
    const fade = 120;
    expect(pcm.subarray(fade, pcm.length - fade)).toEqual(sent.subarray(fade, sent.length - fade));
  });

  it('should hand the first chunk to the consumer before the response has ended', async () => {
    const iterator = provider
      .synthesize(request('HOLD the rest for a moment.'), new AbortController().signal)
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect(first.value?.pcm.length).toBeGreaterThan(0);
    expect(fake.sent).toHaveLength(1); // the server is still holding the rest of its body
    fake.release();
    let total = first.value?.pcm.length ?? 0;
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      total += next.value.pcm.length;
    expect(total).toBe(fake.sent[0].length);
  });

  it('should cancel the HTTP request when the stream is aborted', async () => {
    const controller = new AbortController();
    const iterator = provider
      .synthesize(request('HANG on forever.'), controller.signal)
      [Symbol.asyncIterator]();
    await iterator.next();
    controller.abort(new Error('client left'));
    await expect(iterator.next()).rejects.toThrow('client left');
    await until(() => fake.closedEarly >= 1);
  });

  it('should split long texts into requests that start with one sentence and never exceed 4096 characters', async () => {
    const sentence = (n: number) =>
      `Sentence ${n} is part of a long text read by an OpenAI-compatible server.`;
    const text = Array.from({ length: 80 }, (_, n) => sentence(n)).join(' ');
    expect(text.length).toBeGreaterThan(5000);
    await collect(provider.synthesize(request(text), new AbortController().signal));
    // With one request of look-ahead, the second request may reach the server before the first: order the
    // requests by where their text starts.
    const inputs = fake.speechRequests
      .map((r) => String(r.body.input))
      .sort((a, b) => text.indexOf(a) - text.indexOf(b));
    expect(inputs[0]).toBe(sentence(0));
    expect(inputs.every((i) => i.length <= 4096)).toBe(true);
    expect(inputs.length).toBeLessThan(10);
    expect(inputs.join(' ')).toBe(text);
  });

  it('should parse a WAV body from a server that ignores response_format, at its real rate', async () => {
    const { chunks } = await collect(
      provider.synthesize(request('Send a WAV instead.'), new AbortController().signal),
    );
    expect(chunks.every((c) => c.sampleRate === 22050)).toBe(true);
  });

  it('should map 4xx to non-retryable and 429/5xx to retryable ProviderErrors with the server message', async () => {
    const bad = collect(provider.synthesize(request('BAD_REQUEST please.'), new AbortController().signal));
    await expect(bad).rejects.toThrow(ProviderError);
    await expect(bad).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/HTTP 400: Invalid voice: nope/),
    });
    const limited = collect(provider.synthesize(request('RATE_LIMIT please.'), new AbortController().signal));
    await expect(limited).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/HTTP 429: Rate limit reached/),
    });
    const crashed = collect(
      provider.synthesize(request('SERVER_ERROR please.'), new AbortController().signal),
    );
    await expect(crashed).rejects.toMatchObject({
      retryable: true,
      message: expect.stringMatching(/HTTP 500: upstream model crashed/),
    });
  });

  it('should list configured voices, then discovered ones, with Kokoro languages and genders', async () => {
    const withConfig = await createProvider(`${fake.origin}/v1`, { voices: ['my_clone', 'af_bella'] });
    const voices = await withConfig.listVoices();
    expect(voices.map((v) => v.id)).toEqual(['my_clone', 'af_bella', 'bm_george', 'jf_alpha']);
    expect(voices[1]).toMatchObject({
      name: 'Bella',
      language: 'en-US',
      languages: ['en-US'],
      gender: 'female',
    });
    expect(voices[2]).toMatchObject({ language: 'en-GB', gender: 'male' });
    expect(voices[3]).toMatchObject({ language: 'ja', gender: 'female', sampleRateHz: 24000 });
    expect(voices[0].language).toBe('en-US');
    expect(voices[0].languages).toEqual(expect.arrayContaining(['en-US', 'de', 'fr', 'ja']));
  });

  it('should be up when /models answers', async () => {
    await expect(provider.checkHealth()).resolves.toEqual({ up: true });
  });

  describe('with a wrong key', () => {
    it('should never put the key into errors or health reasons, even when the server echoes it', async () => {
      const wrongKey = 'sk-wrong-AnotherSecretValue99';
      const wrong = await createProvider(`${fake.origin}/v1`, { apiKey: wrongKey });
      const run = collect(wrong.synthesize(request('Hello there, my friend.'), new AbortController().signal));
      await expect(run).rejects.toMatchObject({ retryable: false });
      const message = await run.then(
        () => '',
        (error: Error) => `${error.message} ${String(error.stack)}`,
      );
      expect(message).toMatch(/HTTP 401: Incorrect API key provided/);
      expect(message).not.toContain(wrongKey);
      expect(message).not.toContain('ue99');
      const health = await wrong.checkHealth();
      expect(health.up).toBe(false);
      expect(health.reason).toMatch(/401.*check OPENAI_TTS_API_KEY/);
      expect(health.reason).not.toContain(wrongKey);
    });
  });

  describe('against a server without /v1/models and /v1/audio/voices (base URL given without /v1)', () => {
    let bare: FakeOpenAiServer;

    beforeAll(async () => {
      bare = await new FakeOpenAiServer({ noModels: true }).start();
    });
    afterAll(() => bare.stop());

    it("should append /v1, count the server as up, and offer OpenAI's built-in voices", async () => {
      const plain = await createProvider(bare.origin);
      await expect(plain.checkHealth()).resolves.toEqual({ up: true });
      const voices = await plain.listVoices();
      expect(voices.map((v) => v.id)).toEqual([...OPENAI_BUILTIN_VOICES]);
      await collect(
        plain.synthesize(
          { ...request('Hello from the bare server.'), voice: voices[0] },
          new AbortController().signal,
        ),
      );
      expect(bare.speechRequests[0].body.voice).toBe('alloy');
    });
  });

  it('should report an unreachable server as down with a retryable synthesis error', async () => {
    const gone = await new FakeOpenAiServer().start();
    const origin = gone.origin;
    await gone.stop();
    const unreachable = await createProvider(origin);
    const health = await unreachable.checkHealth();
    expect(health.up).toBe(false);
    expect(health.reason).toMatch(/unreachable: .*ECONNREFUSED/);
    await expect(
      collect(unreachable.synthesize(request('Hello.'), new AbortController().signal)),
    ).rejects.toMatchObject({
      retryable: true,
    });
  });
});

describe('normalizeOpenAiBaseUrl', () => {
  it.each([
    ['http://h:8880', 'http://h:8880/v1'],
    ['http://h:8880/', 'http://h:8880/v1'],
    ['http://h:8880/v1', 'http://h:8880/v1'],
    ['http://h:8880/v1/', 'http://h:8880/v1'],
    ['https://gw.example/api/openai', 'https://gw.example/api/openai/v1'],
    ['https://gw.example/openai/v2', 'https://gw.example/openai/v2'],
  ])('should turn %s into %s', (input, expected) => {
    expect(normalizeOpenAiBaseUrl(input)).toBe(expected);
  });

  it('should reject what is not a URL', () => {
    expect(normalizeOpenAiBaseUrl('not a url')).toBeUndefined();
    expect(normalizeOpenAiBaseUrl(undefined)).toBeUndefined();
  });
});

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
