import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A sine sweep as s16le, standing in for speech from a remote engine. */
export function sweepPcm(sampleRate: number, seconds: number): Buffer {
  const n = Math.round(sampleRate * seconds);
  const out = Buffer.alloc(n * 2);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    phase += (2 * Math.PI * (200 + (600 * i) / n)) / sampleRate;
    out.writeInt16LE(Math.round(8000 * Math.sin(phase)), i * 2);
  }
  return out;
}

function wav(pcm: Buffer, sampleRate: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

export interface FakeEngine {
  baseUrl: string;
  requests: { path: string; query: Record<string, string>; body?: any; headers: Record<string, unknown> }[];
  close(): Promise<void>;
}

async function listen(server: Server, requests: FakeEngine['requests'], suffix = ''): Promise<FakeEngine> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}${suffix}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A fake Coqui `tts-server` (documented API, shared/research/tts-apis.md §2.2): `GET /api/tts?text=&speaker_id=`
 * answers one 22.05 kHz WAV per request; MaryTTS-style `GET /voices` lists two speakers. A text containing
 * FAIL gets Flask's HTML 500, as the real server answers a synthesis failure.
 */
export function startFakeCoqui(): Promise<FakeEngine> {
  const requests: FakeEngine['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers });
    if (url.pathname === '/voices') return res.end('p225 en u\np226 en u\n');
    if (url.pathname === '/locales') return res.end('en\n');
    if (url.pathname === '/api/tts') {
      const text = url.searchParams.get('text') ?? '';
      if (text.includes('FAIL')) {
        res.statusCode = 500;
        return res.end('<html><title>500 Internal Server Error</title><h1>Internal Server Error</h1></html>');
      }
      res.setHeader('content-type', 'audio/wav');
      return res.end(wav(sweepPcm(22050, 0.05 * text.length), 22050));
    }
    if (url.pathname === '/') return res.end('<html><body>Coqui TTS</body></html>');
    res.statusCode = 404;
    res.end('not found');
  });
  return listen(server, requests);
}

/**
 * A fake OpenAI-compatible speech server (shared/research/tts-apis.md §2.1): `POST /v1/audio/speech` with
 * `response_format: "pcm"` answers raw 24 kHz s16le in chunked writes; `GET /v1/models` says it is up.
 */
export function startFakeOpenAi(apiKey: string): Promise<FakeEngine> {
  const requests: FakeEngine['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      requests.push({ path: url.pathname, query: {}, body, headers: req.headers });
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        res.statusCode = 401;
        return res.end(JSON.stringify({ error: { message: 'Incorrect API key provided' } }));
      }
      if (url.pathname === '/v1/models') return res.end(JSON.stringify({ data: [{ id: 'tts-1' }] }));
      if (url.pathname === '/v1/audio/speech' && req.method === 'POST') {
        res.setHeader('content-type', 'audio/pcm');
        const pcm = sweepPcm(24000, 0.04 * String(body.input).length);
        // Odd-sized writes, so samples straddle network chunks.
        for (let i = 0; i < pcm.length; i += 4801) res.write(pcm.subarray(i, i + 4801));
        return res.end();
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { message: 'not found' } }));
    });
  });
  return listen(server, requests, '/v1');
}
