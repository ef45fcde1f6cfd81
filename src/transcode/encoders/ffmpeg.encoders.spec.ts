import { Logger } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-codes';
import { GatewayException } from '../../common/errors/gateway.exception';
import { TempFiles, bestCorrelation, chunked, concat, decodeFile, testSignal } from '../testing/audio-check';
import { TranscodeService } from '../transcode.service';
import type { AudioEncoder } from '../transcoder.types';
import { FfmpegEncoderFactory } from './ffmpeg.encoders';
import { PcmEncoderFactory } from './pcm.encoders';

/** AAC-LC priming (1024 samples) that a raw ADTS stream cannot signal, plus one 1024-sample frame of padding. */
const AAC_PRIMING = 1024;
const AAC_FRAME = 1024;

const temp = new TempFiles();
afterAll(() => temp.cleanup());

async function encodeAll(encoder: AudioEncoder, pcm: Int16Array, chunkMs: number): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (const chunk of chunked(pcm, encoder.sampleRate, chunkMs)) parts.push(await encoder.encode(chunk));
  parts.push(await encoder.flush());
  return parts;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: no such process
  }
}

describe(FfmpegEncoderFactory.name, () => {
  const factory = new FfmpegEncoderFactory();
  beforeAll(() => factory.onModuleInit());

  it('should report flac and aac as available when ffmpeg has their encoders', () => {
    expect(factory.isAvailable('flac')).toBe(true);
    expect(factory.isAvailable('aac')).toBe(true);
  });

  it.each([
    [16000, 20],
    [24000, 100],
    [44100, 40],
  ])(
    'should encode FLAC at %i Hz from %i ms chunks that decodes to the exact source',
    async (rate, chunkMs) => {
      const source = testSignal(rate, 1.5);
      const decoded = await decodeFile(
        temp.write(
          concat(await encodeAll(factory.create({ format: 'flac', sampleRate: rate }), source, chunkMs)),
          'flac',
        ),
      );
      expect(decoded.errors).toBe('');
      expect(decoded.codec).toBe('flac');
      expect(decoded.sampleRate).toBe(rate);
      expect(Buffer.from(decoded.pcm.buffer).equals(Buffer.from(source.buffer))).toBe(true); // lossless
    },
  );

  it.each([
    [16000, 20],
    [24000, 100],
    [48000, 40],
  ])('should encode AAC (ADTS) at %i Hz from %i ms chunks', async (rate, chunkMs) => {
    const source = testSignal(rate, 1.5);
    const decoded = await decodeFile(
      temp.write(
        concat(await encodeAll(factory.create({ format: 'aac', sampleRate: rate }), source, chunkMs)),
        'aac',
      ),
    );
    expect(decoded.errors).toBe('');
    expect(decoded.codec).toBe('aac');
    expect(decoded.sampleRate).toBe(rate);
    expect(decoded.pcm.length).toBeGreaterThanOrEqual(source.length);
    expect(decoded.pcm.length).toBeLessThanOrEqual(source.length + AAC_PRIMING + AAC_FRAME);
    const window = { start: Math.floor(source.length / 4), length: 8000 };
    expect(
      bestCorrelation(source, decoded.pcm, { max: 2 * AAC_PRIMING }, window).correlation,
    ).toBeGreaterThan(0.95);
  });

  it('should stream: output arrives before the input ends', async () => {
    const encoder = factory.create({ format: 'aac', sampleRate: 24000 });
    const chunks = chunked(testSignal(24000, 3), 24000, 40);
    let streamed = 0;
    for (const chunk of chunks) {
      streamed += (await encoder.encode(chunk)).length;
      await new Promise((resolve) => setTimeout(resolve, 5)); // give ffmpeg a moment, as real pacing would
    }
    const tail = (await encoder.flush()).length;
    expect(streamed).toBeGreaterThan(tail);
  });

  it('should wait for the pipe to drain when one write is larger than its buffer', async () => {
    const encoder = factory.create({ format: 'flac', sampleRate: 48000 });
    const big = testSignal(48000, 8); // 768 KB in one call, far beyond the 64 KiB pipe buffer
    const bytes = concat([await encoder.encode(big), await encoder.flush()]);
    const decoded = await decodeFile(temp.write(bytes, 'flac'));
    expect(decoded.pcm.length).toBe(big.length);
  });

  it('should kill its ffmpeg process on dispose', async () => {
    const encoder = factory.create({ format: 'flac', sampleRate: 24000 });
    await encoder.encode(testSignal(24000, 0.1));
    const pid = (encoder as unknown as { pid: number }).pid;
    expect(isAlive(pid)).toBe(true);
    encoder.dispose();
    encoder.dispose();
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(isAlive(pid)).toBe(false);
    await expect(encoder.encode(new Int16Array(10))).rejects.toThrow(/disposed/);
  });

  it('should refuse sample rates ADTS cannot signal', () => {
    expect(() => factory.create({ format: 'aac', sampleRate: 23000 })).toThrow(GatewayException);
  });

  describe('without ffmpeg', () => {
    const missing = new FfmpegEncoderFactory({ ffmpegPath: '/nonexistent/ffmpeg' });
    let warn: jest.SpyInstance;
    beforeAll(async () => {
      warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      await missing.onModuleInit();
    });
    afterAll(() => warn.mockRestore());

    it('should report its formats as unavailable and log why', () => {
      expect(missing.isAvailable('flac')).toBe(false);
      expect(missing.isAvailable('aac')).toBe(false);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('cannot be run'));
    });

    it('should make TranscodeService answer a clear 400 for those formats', () => {
      const service = new TranscodeService([new PcmEncoderFactory(), missing]);
      expect(service.supportedFormats()).not.toContain('flac');
      expect(service.supportedFormats()).toContain('wav');
      let error: unknown;
      try {
        service.assertSupported('aac', 'response_format');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(GatewayException);
      expect((error as GatewayException).code).toBe(ErrorCode.UnsupportedFormat);
      expect((error as GatewayException).status).toBe(400);
      expect((error as GatewayException).message).toMatch(/response_format "aac" is not available/);
    });

    it('should fail an encoder cleanly if ffmpeg vanishes after the probe', async () => {
      const gone = new FfmpegEncoderFactory({ ffmpegPath: '/nonexistent/ffmpeg' });
      (gone as unknown as { available: Set<string> }).available = new Set(['flac']); // probe said yes earlier
      const encoder = gone.create({ format: 'flac', sampleRate: 24000 });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await expect(encoder.encode(new Int16Array(100))).rejects.toThrow(/could not be run/);
      await expect(encoder.flush()).rejects.toThrow(/could not be run/);
      encoder.dispose();
    });
  });
});
