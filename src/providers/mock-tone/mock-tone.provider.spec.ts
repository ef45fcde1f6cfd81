import { Test } from '@nestjs/testing';
import { providersConfig } from '../../config/configuration';
import type { AudioChunk, SynthesisRequest, Voice } from '../provider.contract';
import { MockToneProvider } from './mock-tone.provider';

async function providerWith(realtimeFactor: number): Promise<MockToneProvider> {
  const moduleRef = await Test.createTestingModule({
    providers: [
      MockToneProvider,
      { provide: providersConfig.KEY, useValue: { mockTone: { realtimeFactor } } },
    ],
  }).compile();
  return moduleRef.get(MockToneProvider);
}

async function collect(iterable: AsyncIterable<AudioChunk>): Promise<AudioChunk[]> {
  const chunks: AudioChunk[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return chunks;
}

const joined = (chunks: AudioChunk[]) =>
  Buffer.concat(chunks.map((c) => Buffer.from(c.pcm.buffer, c.pcm.byteOffset, c.pcm.byteLength)));

describe(MockToneProvider.name, () => {
  let provider: MockToneProvider;
  let voice: Voice;
  const request = (text: string, overrides: Partial<SynthesisRequest> = {}): SynthesisRequest => ({
    text,
    voice,
    language: voice.language,
    speed: 1,
    ...overrides,
  });

  beforeAll(async () => {
    provider = await providerWith(0);
    voice = (await provider.listVoices())[0];
  });

  it('should keep the contract voice en-US-mock-1', async () => {
    expect((await provider.listVoices()).map((v) => v.id)).toContain('en-US-mock-1');
    expect(voice).toMatchObject({
      id: 'en-US-mock-1',
      provider: 'mock_tone',
      language: 'en-US',
      sampleRateHz: 24000,
    });
  });

  it('should stream 20 ms chunks at 24 kHz', async () => {
    const chunks = await collect(provider.synthesize(request('hello world'), new AbortController().signal));
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.slice(0, -1).every((c) => c.pcm.length === 480 && c.sampleRate === 24000)).toBe(true);
  });

  it('should be deterministic and text-dependent', async () => {
    const signal = new AbortController().signal;
    const a = joined(await collect(provider.synthesize(request('abc'), signal)));
    const b = joined(await collect(provider.synthesize(request('abc'), signal)));
    const c = joined(await collect(provider.synthesize(request('abd'), signal)));
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBe(c.length);
    expect(a.equals(c)).toBe(false);
  });

  it('should scale the duration with speed', async () => {
    const signal = new AbortController().signal;
    const normal = joined(await collect(provider.synthesize(request('speed test'), signal))).length;
    const fast = joined(
      await collect(provider.synthesize(request('speed test', { speed: 2 }), signal)),
    ).length;
    expect(fast / normal).toBeCloseTo(0.5, 1);
  });

  it('should have no clicks: no sample-to-sample jump larger than the loudest tone step', async () => {
    const bytes = joined(await collect(provider.synthesize(request('a b. c'), new AbortController().signal)));
    // A view of exactly these bytes: a Buffer may sit inside a larger (pooled) ArrayBuffer.
    const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    let maxJump = 0;
    for (let i = 1; i < pcm.length; i++) maxJump = Math.max(maxJump, Math.abs(pcm[i] - pcm[i - 1]));
    // Highest pitch (4 × 330 Hz) at 0.3 full scale moves at most 2π·f/fs·A per sample ≈ 3400.
    expect(maxJump).toBeLessThan(3500);
  });

  it('should stop when the signal aborts', async () => {
    const controller = new AbortController();
    const chunks: AudioChunk[] = [];
    await expect(
      (async () => {
        for await (const chunk of provider.synthesize(
          request('a long enough text to abort'),
          controller.signal,
        )) {
          chunks.push(chunk);
          if (chunks.length === 3) controller.abort(new Error('stop'));
        }
      })(),
    ).rejects.toThrow('stop');
    expect(chunks).toHaveLength(3);
  });

  it('should pace output at real time when configured', async () => {
    const paced = await providerWith(1);
    const started = performance.now();
    const chunks = await collect(paced.synthesize(request('ab'), new AbortController().signal)); // 140 ms of audio
    const audioMs = (chunks.reduce((n, c) => n + c.pcm.length, 0) / 24000) * 1000;
    expect(performance.now() - started).toBeGreaterThanOrEqual(audioMs - 40);
  });
});
