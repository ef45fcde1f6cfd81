import { Test } from '@nestjs/testing';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import { ProviderError, type AudioChunk, type SynthesisRequest, type Voice } from '../provider.contract';
import { CoquiProvider } from './coqui.provider';
import { coquiVoices } from './coqui-voices';

type WavLayout = 'canonical' | 'list-before-data' | 'streaming-sizes' | 'zero-sizes';

interface FakeOptions {
  /** `C` = idiap fork (every endpoint); `A` = early server (only `/` without selects and `/api/tts`). */
  variant: 'A' | 'C';
  sampleRate: number;
  layout: WavLayout;
  speakers?: string[];
  languages?: string[];
  /** How long each synthesis takes, to make overlapping requests visible. */
  delayMs?: number;
  /** `model_name` on `/details` (variant C); default XTTS v2. */
  modelName?: string;
}

/**
 * A fake Coqui `tts-server` implementing the documented API (tts-apis.md §2.2): `GET /api/tts?text=&speaker_id=
 * &language_id=` → one WAV; MaryTTS `/voices` and `/locales`; `/` with the speaker/language selects; `/details`.
 * Like the real server it synthesizes one request at a time; it records how many ran at once anyway.
 * Texts containing FAIL_HTML / FAIL_JSON / HANG trigger Flask's HTML 500, the idiap JSON 500, or no answer.
 */
class FakeCoquiServer {
  readonly requests: Record<string, string>[] = [];
  active = 0;
  maxActive = 0;
  closedEarly = 0;
  private server!: Server;

  constructor(readonly options: FakeOptions) {}

  get baseUrl(): string {
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const { variant, speakers = [], languages = [] } = this.options;
    if (url.pathname === '/') {
      const select = (id: string, values: string[]) =>
        values.length === 0
          ? ''
          : `<select id="${id}" name=${id} method="GET" action="/">\n${values
              .map((v) => `  <option value="${v}" SELECTED>${v}</option>"`)
              .join('\n')}\n</select><br /><br />`;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(
        variant === 'A'
          ? '<html><body><input id="text"></body></html>'
          : `<html><body>${select('speaker_id', speakers)}${select('language_id', languages)}</body></html>`,
      );
      return;
    }
    if (variant === 'C' && url.pathname === '/voices') {
      res.end(speakers.map((s) => `${s} multilingual u\n`).join(''));
      return;
    }
    if (variant === 'C' && url.pathname === '/locales') {
      res.end('multilingual\n');
      return;
    }
    if (variant === 'C' && url.pathname === '/details') {
      res.end(
        `<table><tr>\n<td>model_name</td>\n<td>${this.options.modelName ?? 'tts_models/multilingual/multi-dataset/xtts_v2'}</td>\n</tr>` +
          '<tr>\n<td>language_idx</td>\n<td>en</td>\n</tr></table>',
      );
      return;
    }
    if (url.pathname !== '/api/tts') {
      res.statusCode = 404;
      res.end('<!doctype html><title>404 Not Found</title><h1>Not Found</h1>');
      return;
    }

    const query = Object.fromEntries(url.searchParams);
    this.requests.push(query);
    this.maxActive = Math.max(this.maxActive, ++this.active);
    let finished = false;
    res.on('close', () => {
      this.active--;
      if (!finished) this.closedEarly++;
    });
    const text = query.text ?? '';
    if (text.includes('HANG')) return;
    await new Promise((resolve) => setTimeout(resolve, this.options.delayMs ?? 5));
    finished = true;
    if (!text.trim()) {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end('{"error":"Text parameter is required"}');
    } else if (text.includes('FAIL_HTML')) {
      res
        .writeHead(500, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n' +
            '<p>The server encountered an internal error and was unable to complete your request.</p>\n',
        );
    } else if (text.includes('FAIL_JSON')) {
      res
        .writeHead(500, { 'content-type': 'application/json' })
        .end('{"error":"TTS synthesis failed: CUDA out of memory"}');
    } else {
      res.writeHead(200, { 'content-type': 'audio/wav' }).end(this.wav(text));
    }
  }

  /** 0.2 s of a tone per request, its pitch chosen by the text length, in the configured WAV layout. */
  private wav(text: string): Buffer {
    const rate = this.options.sampleRate;
    const samples = Buffer.alloc(Math.round(rate * 0.2) * 2);
    for (let i = 0; i < samples.length / 2; i++) {
      samples.writeInt16LE(
        Math.round(9000 * Math.sin((2 * Math.PI * (200 + text.length) * i) / rate)),
        i * 2,
      );
    }
    const chunk = (id: string, body: Buffer, size = body.length) => {
      const head = Buffer.alloc(8);
      head.write(id, 0, 'ascii');
      head.writeUInt32LE(size, 4);
      return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
    };
    const fmt = Buffer.alloc(16);
    fmt.writeUInt16LE(1, 0);
    fmt.writeUInt16LE(1, 2);
    fmt.writeUInt32LE(rate, 4);
    fmt.writeUInt32LE(rate * 2, 8);
    fmt.writeUInt16LE(2, 12);
    fmt.writeUInt16LE(16, 14);
    const layout = this.options.layout;
    const unknown = layout === 'streaming-sizes' ? 0xffffffff : layout === 'zero-sizes' ? 0 : undefined;
    const parts = [
      chunk('fmt ', fmt),
      ...(layout === 'list-before-data'
        ? [chunk('LIST', Buffer.from('INFOISFT\x0e\x00\x00\x00Lavf58.76.100\x00'))]
        : []),
      chunk('data', samples, unknown ?? samples.length),
    ];
    const body = Buffer.concat([Buffer.from('WAVE'), ...parts]);
    const riff = Buffer.alloc(8);
    riff.write('RIFF', 0, 'ascii');
    riff.writeUInt32LE(unknown ?? body.length, 4);
    return Buffer.concat([riff, body]);
  }
}

const config = (baseUrl: string | undefined): ProvidersConfig => ({
  enabled: undefined,
  defaultProvider: undefined,
  mockTone: { realtimeFactor: 0 },
  espeak: { binary: 'espeak-ng' },
  coqui: { baseUrl },
  openai: { baseUrl: undefined, apiKey: undefined, model: 'tts-1', voices: [] },
});

async function createProvider(baseUrl: string | undefined): Promise<CoquiProvider> {
  const moduleRef = await Test.createTestingModule({
    providers: [CoquiProvider, { provide: providersConfig.KEY, useValue: config(baseUrl) }],
  }).compile();
  return moduleRef.get(CoquiProvider);
}

async function collect(iterable: AsyncIterable<AudioChunk>): Promise<AudioChunk[]> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return chunks;
}

const request = (voice: Voice, text: string, language = voice.language): SynthesisRequest => ({
  text,
  voice,
  language,
  speed: 1,
});

const XTTS_SPEAKERS = ['Claribel Dervla', 'Daisy Studious', 'Ana Florence'];
const XTTS_LANGUAGES = ['en', 'es', 'fr', 'de', 'pt', 'zh-cn', 'ja'];

describe('CoquiProvider against a fake Coqui tts-server', () => {
  describe('variant C (idiap fork), multi-speaker multilingual XTTS at 24 kHz', () => {
    let fake: FakeCoquiServer;
    let provider: CoquiProvider;

    beforeAll(async () => {
      fake = await new FakeCoquiServer({
        variant: 'C',
        sampleRate: 24000,
        layout: 'list-before-data',
        speakers: XTTS_SPEAKERS,
        languages: XTTS_LANGUAGES,
        delayMs: 15,
      }).start();
      provider = await createProvider(fake.baseUrl);
    });
    afterAll(() => fake.stop());
    beforeEach(() => {
      fake.requests.length = 0;
      fake.maxActive = 0;
    });

    it('should be up', async () => {
      await expect(provider.checkHealth()).resolves.toEqual({ up: true });
    });

    it('should discover speakers and languages and map them to voices', async () => {
      const voices = await provider.listVoices();
      expect(voices.map((v) => v.id)).toEqual(XTTS_SPEAKERS);
      expect(voices[0]).toMatchObject({
        provider: 'coqui',
        name: 'Claribel Dervla',
        language: 'en',
        languages: ['en', 'es', 'fr', 'de', 'pt', 'zh-CN', 'ja'],
        sampleRateHz: 24000,
        extra: { speakerId: 'Claribel Dervla', languageIds: 'en,es,fr,de,pt,zh-cn,ja', model: 'xtts_v2' },
      });
    });

    it('should key the audio cache on the server and the model it reports, so another model is another engine', async () => {
      await provider.listVoices();
      expect(provider.cacheIdentity()).toBe(`${fake.baseUrl}\nxtts_v2`);
      // The same URL serving another model (the server restarted with it): a gateway discovering it keys anew.
      fake.options.modelName = 'tts_models/multilingual/multi-dataset/xtts_v1.1';
      try {
        const restarted = await createProvider(fake.baseUrl);
        await restarted.listVoices();
        expect(restarted.cacheIdentity()).toBe(`${fake.baseUrl}\nxtts_v1.1`);
      } finally {
        fake.options.modelName = undefined;
      }
    });

    it('should pass speaker_id and the server-spelled language_id, one request per sentence', async () => {
      const [, daisy] = await provider.listVoices();
      const text = 'Wir sind hier. Der Himmel ist blau und weit. 今天的天气非常好，我们出去走走吧。';
      await collect(provider.synthesize(request(daisy, text, 'zh-CN'), new AbortController().signal));
      expect(fake.requests).toHaveLength(3);
      expect(fake.requests[0]).toEqual({
        text: 'Wir sind hier.',
        speaker_id: 'Daisy Studious',
        language_id: 'zh-cn',
      });
      expect(fake.requests.map((r) => r.text)).toEqual([
        'Wir sind hier.',
        'Der Himmel ist blau und weit.',
        '今天的天气非常好，我们出去走走吧。',
      ]);
      fake.requests.length = 0;
      await collect(
        provider.synthesize(
          request(daisy, 'Hola a todos, buenos días.', 'es-MX'),
          new AbortController().signal,
        ),
      );
      expect(fake.requests[0].language_id).toBe('es');
    });

    it('should parse the WAV (LIST chunk before data) and stream its PCM at the header rate', async () => {
      const [voice] = await provider.listVoices();
      const chunks = await collect(
        provider.synthesize(request(voice, 'One sentence only.'), new AbortController().signal),
      );
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.every((c) => c.sampleRate === 24000)).toBe(true);
      const samples = chunks.reduce((n, c) => n + c.pcm.length, 0);
      // 0.2 s of tone, edges trimmed by at most a few ms.
      expect(samples).toBeGreaterThan(24000 * 0.18);
      expect(samples).toBeLessThanOrEqual(24000 * 0.2);
      const peak = Math.max(...chunks.flatMap((c) => [...c.pcm].map(Math.abs)));
      expect(peak).toBeGreaterThan(8900);
    });

    it('should never send the server more than one request at a time, across sessions', async () => {
      const [voice] = await provider.listVoices();
      const text = Array.from({ length: 6 }, (_, i) => `This is sentence number ${i}.`).join(' ');
      await Promise.all(
        [0, 1, 2].map(() => collect(provider.synthesize(request(voice, text), new AbortController().signal))),
      );
      expect(fake.requests).toHaveLength(18);
      expect(fake.maxActive).toBe(1);
    });

    it('should map the HTML 500 and the JSON error to readable, retryable ProviderErrors', async () => {
      const [voice] = await provider.listVoices();
      const html = collect(
        provider.synthesize(request(voice, 'Please FAIL_HTML now.'), new AbortController().signal),
      );
      await expect(html).rejects.toThrow(ProviderError);
      await expect(html).rejects.toThrow(
        /HTTP 500: Internal Server Error: The server encountered an internal error/,
      );
      await expect(html).rejects.toMatchObject({ retryable: true, providerId: 'coqui' });
      const json = collect(
        provider.synthesize(request(voice, 'Please FAIL_JSON now.'), new AbortController().signal),
      );
      await expect(json).rejects.toThrow('HTTP 500: TTS synthesis failed: CUDA out of memory');
    });

    it('should cancel the HTTP request when the stream is aborted', async () => {
      const [voice] = await provider.listVoices();
      const controller = new AbortController();
      const run = collect(provider.synthesize(request(voice, 'This will HANG forever.'), controller.signal));
      await until(() => fake.requests.length === 1);
      controller.abort(new Error('client left'));
      await expect(run).rejects.toThrow('client left');
      await until(() => fake.closedEarly >= 1);
      expect(fake.active).toBe(0);
      expect(provider.load).toEqual({ active: 0, waiting: 0 });
    });
  });

  describe.each([
    ['canonical', 22050],
    ['streaming-sizes', 22050],
    ['zero-sizes', 24000],
  ] as const)(
    'variant A (early server, nothing to discover) with a %s WAV at %i Hz',
    (layout, sampleRate) => {
      let fake: FakeCoquiServer;
      let provider: CoquiProvider;

      beforeAll(async () => {
        fake = await new FakeCoquiServer({ variant: 'A', sampleRate, layout }).start();
        provider = await createProvider(fake.baseUrl);
      });
      afterAll(() => fake.stop());

      it('should fall back to one default voice and send neither speaker_id nor language_id', async () => {
        const voices = await provider.listVoices();
        expect(voices).toEqual([
          expect.objectContaining({ id: 'default', language: 'en', languages: ['en'], provider: 'coqui' }),
        ]);
        const chunks = await collect(
          provider.synthesize(request(voices[0], 'Hello there, world.'), new AbortController().signal),
        );
        expect(fake.requests).toEqual([{ text: 'Hello there, world.' }]);
        expect(chunks.every((c) => c.sampleRate === sampleRate)).toBe(true);
        expect(chunks.reduce((n, c) => n + c.pcm.length, 0)).toBeGreaterThan(sampleRate * 0.18);
      });
    },
  );

  describe('with the server unreachable or unset', () => {
    it('should report down with the reason, list no voices and fail synthesis with a retryable ProviderError', async () => {
      const stopped = await new FakeCoquiServer({
        variant: 'C',
        sampleRate: 22050,
        layout: 'canonical',
      }).start();
      const baseUrl = stopped.baseUrl;
      await stopped.stop();
      const provider = await createProvider(baseUrl);
      const health = await provider.checkHealth();
      expect(health.up).toBe(false);
      expect(health.reason).toMatch(
        /Coqui tts-server at http:\/\/127\.0\.0\.1:\d+ is unreachable: .*ECONNREFUSED/,
      );
      await expect(provider.listVoices()).resolves.toEqual([]);
      const voice = coquiVoices({})[0];
      const run = collect(provider.synthesize(request(voice, 'Hello.'), new AbortController().signal));
      await expect(run).rejects.toMatchObject({ name: 'ProviderError', retryable: true });
    });

    it('should say that COQUI_BASE_URL is not set', async () => {
      const provider = await createProvider(undefined);
      await expect(provider.checkHealth()).resolves.toEqual({
        up: false,
        reason: 'COQUI_BASE_URL is not set',
      });
    });
  });
});

describe('coquiVoices', () => {
  it('should read a single-speaker model from /voices and /locales (variant B)', () => {
    expect(coquiVoices({ indexHtml: '<html></html>', maryVoices: 'vits de u\n', locales: 'de\n' })).toEqual([
      expect.objectContaining({
        id: 'vits',
        name: 'Coqui vits',
        language: 'de',
        languages: ['de'],
        sampleRateHz: 22050,
      }),
    ]);
  });

  it('should take speakers from /voices when the demo page is unavailable, keeping spaces in names', () => {
    const voices = coquiVoices({
      maryVoices: 'Ana Florence multilingual u\nAndrew Chipper multilingual u\n',
    });
    expect(voices.map((v) => v.id)).toEqual(['Ana Florence', 'Andrew Chipper']);
    expect(voices[0].extra).toEqual({ speakerId: 'Ana Florence' });
  });
});

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
