import OpenAI from 'openai';
import { segmentsOf } from '../src/providers/mock-tone/mock-tone.provider';
import { decodeAudio, rms } from './support/audio-check';
import { postJson, startApp, type RunningApp } from './support/app';

const EXPECTED: Record<string, { codec: string; decodedRate: number; raw?: string }> = {
  mp3: { codec: 'mp3', decodedRate: 24000 },
  opus: { codec: 'opus', decodedRate: 48000 },
  aac: { codec: 'aac', decodedRate: 24000 },
  flac: { codec: 'flac', decodedRate: 24000 },
  wav: { codec: 'pcm_s16le', decodedRate: 24000 },
  pcm: { codec: 'pcm_s16le', decodedRate: 24000, raw: 'pcm16' },
};

const INPUT = 'The official client talks to the gateway.';
/** Seconds of mock tone the input makes (the default voice is the female en-US one at 330 Hz). */
const INPUT_SECONDS = segmentsOf(INPUT, 330).reduce((n, s) => n + s.samples, 0) / 24000;

describe('POST /v1/audio/speech with the official openai client', () => {
  let gw: RunningApp;
  let client: OpenAI;

  beforeAll(async () => {
    gw = await startApp();
    client = new OpenAI({ baseURL: `${gw.baseUrl}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  });

  afterAll(async () => {
    await gw.close();
  });

  it.each(Object.keys(EXPECTED))('should return decodable %s audio of the whole input', async (format) => {
    const response = await client.audio.speech.create({
      model: 'tts-1',
      voice: 'alloy',
      input: INPUT,
      response_format: format as 'mp3',
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const expected = EXPECTED[format];
    const decoded = await decodeAudio(bytes, expected.raw ?? format, 24000);
    expect(decoded.errors).toBe('');
    expect(decoded.codec).toBe(expected.codec);
    expect(decoded.sampleRate).toBe(expected.decodedRate);
    // Codecs may add their priming delay and pad to a whole frame (MP3: 1105 + 576 samples), never cut.
    expect(decoded.duration).toBeGreaterThanOrEqual(INPUT_SECONDS - 0.001);
    expect(decoded.duration).toBeLessThan(INPUT_SECONDS + 0.12);
    expect(rms(decoded.samples)).toBeGreaterThan(500);
  });

  it('should stream with chunked transfer and the right content type', async () => {
    const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tts-1', voice: 'nova', input: INPUT, response_format: 'pcm' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/pcm');
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('x-sample-rate')).toBe('24000');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length % 2).toBe(0);
  });

  it('should map OpenAI voice names to gateway voices and accept gateway voice ids', async () => {
    const speak = async (voice: string) => {
      const res = await client.audio.speech.create({
        model: 'tts-1',
        voice,
        input: 'abc',
        response_format: 'pcm',
      });
      return Buffer.from(await res.arrayBuffer());
    };
    const female = await speak('nova');
    const male = await speak('onyx');
    const byId = await speak('en-GB-mock-1');
    // nova → a female voice, onyx → a male one: different pitch, same length.
    expect(female.equals(male)).toBe(false);
    expect(male.equals(byId)).toBe(true);
  });

  it('should send OpenAI SSE events with stream_format "sse"', async () => {
    const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'tts-1',
        voice: 'alloy',
        input: 'abc',
        response_format: 'pcm',
        stream_format: 'sse',
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = (await res.text())
      .split('\n\n')
      .filter(Boolean)
      .map((block) => JSON.parse(block.replace(/^data: /, '')));
    expect(events.at(-1)).toMatchObject({ type: 'speech.audio.done', usage: { input_tokens: 3 } });
    const deltas = events.filter((e) => e.type === 'speech.audio.delta');
    expect(deltas.length).toBeGreaterThan(0);
    const audio = Buffer.concat(deltas.map((e) => Buffer.from(e.audio, 'base64')));
    expect(audio.length).toBe(segmentsOf('abc', 330).reduce((n, s) => n + s.samples, 0) * 2);
  });

  it('should answer bad requests with the OpenAI error envelope and a 4xx status', async () => {
    const res = await postJson(gw.baseUrl, '/v1/audio/speech', {
      model: 'tts-1',
      voice: 'alloy',
      input: 'x',
      response_format: 'ogg',
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: {
        message: expect.stringMatching(/response_format must be one of: mp3, opus, aac, flac, wav, pcm/),
        type: 'invalid_request_error',
        param: 'response_format',
        code: 'validation_failed',
      },
    });
    await expect(
      client.audio.speech.create({ model: 'tts-1', voice: 'nobody', input: 'x' }),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'voice', code: 'voice_not_found' },
    });
  });
});
