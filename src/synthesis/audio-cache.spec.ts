import { STORED_PIECE_MS, cacheConfig, compactStoredPieces } from './audio-cache';
import type { ProviderId } from '../providers/provider.contract';
import type { PcmPiece } from './tts.service';

const RATE = 24000;

/** A 20 ms engine chunk whose samples count up from `first`. */
function piece(
  first: number,
  provider: ProviderId = 'mock_tone',
  samples = 480,
  sampleRate = RATE,
): PcmPiece {
  return {
    provider,
    chunk: { sampleRate, pcm: Int16Array.from({ length: samples }, (_, i) => (first + i) % 30000) },
  };
}

function samplesOf(pieces: readonly PcmPiece[]): number[] {
  return pieces.flatMap((p) => Array.from(p.chunk.pcm));
}

describe('cacheConfig', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('should take an empty variable as the default, not as 0 (which turns the cache off)', () => {
    process.env.CACHE_MAX_BYTES = '';
    process.env.CACHE_TTL_SECONDS = '';
    expect(cacheConfig()).toMatchObject({ maxBytes: 64 * 1024 * 1024, ttlSeconds: 3600 });
  });

  it('should honour an explicit 0 and explicit sizes', () => {
    process.env.CACHE_MAX_BYTES = '0';
    process.env.CACHE_MAX_ENTRY_BYTES = '4096';
    expect(cacheConfig()).toMatchObject({ maxBytes: 0, maxEntryBytes: 4096 });
  });
});

describe('compactStoredPieces', () => {
  it('should replay the same samples in pieces that ramp up to STORED_PIECE_MS, the first as the engine made it', () => {
    const engine = Array.from({ length: 45 }, (_, i) => piece(i * 480)); // 0.9 s in 20 ms chunks
    const stored = compactStoredPieces(engine);

    expect(samplesOf(stored)).toEqual(samplesOf(engine));
    expect(stored[0]).toBe(engine[0]);
    // Each piece at most as long as the audio before it (20, 20, 40, 80, 160 ms), then STORED_PIECE_MS.
    const limit = (RATE * STORED_PIECE_MS) / 1000;
    expect(limit).toBe(4800);
    expect(stored.map((p) => p.chunk.pcm.length)).toEqual([480, 480, 960, 1920, 3840, 4800, 4800, 4320]);
  });

  it('should keep marks, word timings and provider switches in place and never join across them', () => {
    const mark: PcmPiece = {
      provider: 'mock_tone',
      chunk: { sampleRate: RATE, pcm: new Int16Array(0) },
      mark: 'm1',
    };
    const timings = {
      provider: 'mock_tone',
      chunk: { sampleRate: RATE, pcm: new Int16Array(0) },
      timings: { sentence: 1 },
    } as unknown as PcmPiece;
    const engine = [piece(0), piece(480), piece(960), mark, piece(1440), timings, piece(1920), piece(2400)];
    const stored = compactStoredPieces(engine);

    expect(samplesOf(stored)).toEqual(samplesOf(engine));
    expect(stored.map((p) => p.mark ?? (p.timings ? 'timings' : p.chunk.pcm.length))).toEqual([
      480,
      480,
      480,
      'm1',
      480,
      'timings',
      960,
    ]);
  });

  it('should not join pieces of different rates or providers', () => {
    const engine = [piece(0), piece(480), piece(960, 'mock_tone', 441, 22050), piece(1401, 'espeak')];
    expect(compactStoredPieces(engine).map((p) => p.chunk.pcm.length)).toEqual([480, 480, 441, 480]);
  });
});
