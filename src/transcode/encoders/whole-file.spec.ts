import { Test, type TestingModule } from '@nestjs/testing';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AudioFormat } from '../audio-format';
import { LAME_ENCODER_DELAY, crc16, mp3FrameOffsets, parseMp3FrameHeader } from '../codecs/mp3-info-tag';
import {
  TempFiles,
  bestCorrelation,
  chunked,
  concat,
  decodeFile,
  probeFile,
  testSignal,
} from '../testing/audio-check';
import { TranscodeModule } from '../transcode.module';
import { TranscodeService } from '../transcode.service';

let moduleRef: TestingModule;
let transcode: TranscodeService;
const temp = new TempFiles();

beforeAll(async () => {
  moduleRef = await Test.createTestingModule({ imports: [TranscodeModule] }).compile();
  await moduleRef.init();
  transcode = moduleRef.get(TranscodeService);
});

afterAll(async () => {
  await moduleRef.close();
  temp.cleanup();
});

/** Encodes `source` (at `inRate`) as one whole file, announcing its exact length up front. */
async function encodeWhole(
  format: AudioFormat,
  outRate: number,
  source: Int16Array,
  inRate: number,
): Promise<{ parts: Uint8Array[]; total: number }> {
  const total = transcode.outputSamples(source.length, inRate, outRate);
  const stream = transcode.openStream({ format, sampleRate: outRate, wholeFile: true, totalSamples: total });
  const parts: Uint8Array[] = [];
  try {
    for (const pcm of chunked(source, inRate, 40))
      parts.push(await stream.write({ pcm, sampleRate: inRate }));
    parts.push(await stream.end());
  } finally {
    stream.dispose();
  }
  return { parts, total };
}

const u32le = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

describe('whole-file WAV', () => {
  it('should stream exact RIFF and data sizes in the very first bytes', async () => {
    const source = testSignal(22050, 1.3);
    const { parts, total } = await encodeWhole('wav', 16000, source, 22050);
    expect(total).toBe(Math.ceil((source.length * 16000) / 22050));
    const first = parts[0];
    expect(first.length).toBeGreaterThan(44); // header and audio together, not held to the end
    expect(u32le(first, 40)).toBe(total * 2);
    expect(u32le(first, 4)).toBe(36 + total * 2);
    expect(parts.slice(1, -1).some((p) => p.length > 0)).toBe(true);

    const file = temp.write(concat(parts), 'wav');
    const probed = await probeFile(file);
    expect(probed.duration).toBeCloseTo(total / 16000, 6);
    expect((await decodeFile(file)).pcm.length).toBe(total);
  });

  it('should fail rather than write a header that lies about the length', async () => {
    const factory = { format: 'wav' as const, sampleRate: 8000, wholeFile: true };
    const over = transcode.createEncoder({ ...factory, totalSamples: 100 });
    await over.encode(new Int16Array(60));
    await expect(over.encode(new Int16Array(60))).rejects.toThrow(/more samples than the 100 promised/);
    const short = transcode.createEncoder({ ...factory, totalSamples: 100 });
    await short.encode(new Int16Array(60));
    await expect(short.flush()).rejects.toThrow(/promised 100 samples but the stream carried 60/);
    expect(() => transcode.createEncoder({ ...factory, totalSamples: -1 })).toThrow(RangeError);
  });

  it('should write a valid empty file for a promised length of zero', async () => {
    const empty = transcode.createEncoder({
      format: 'wav',
      sampleRate: 8000,
      wholeFile: true,
      totalSamples: 0,
    });
    const bytes = await empty.flush();
    expect(bytes.length).toBe(44);
    expect(u32le(bytes, 40)).toBe(0);
  });
});

describe('whole-file FLAC', () => {
  /** STREAMINFO's 36-bit total-samples field. */
  const streamInfoTotal = (b: Uint8Array) =>
    (b[21] & 0x0f) * 2 ** 32 + new DataView(b.buffer, b.byteOffset).getUint32(22);

  it.each([16000, 24000, 44100])(
    'should carry the total sample count in STREAMINFO at %i Hz',
    async (rate) => {
      const source = testSignal(24000, 1.7);
      const { parts, total } = await encodeWhole('flac', rate, source, 24000);
      const bytes = concat(parts);
      expect(streamInfoTotal(bytes)).toBe(total);

      const file = temp.write(bytes, 'flac');
      const probed = await probeFile(file);
      expect(probed.duration).toBeCloseTo(total / rate, 6);
      const decoded = await decodeFile(file);
      expect(decoded.errors).toBe('');
      expect(decoded.pcm.length).toBe(total);
    },
  );

  it('should leave a streamed FLAC as ffmpeg writes it to a pipe (length unknown)', async () => {
    const stream = transcode.openStream({ format: 'flac', sampleRate: 24000 });
    const bytes = concat([
      await stream.write({ pcm: testSignal(24000, 0.5), sampleRate: 24000 }),
      await stream.end(),
    ]);
    expect(streamInfoTotal(bytes)).toBe(0);
    expect((await probeFile(temp.write(bytes, 'flac'))).duration).toBeUndefined();
  });

  it('should fail when fewer samples arrive than STREAMINFO says', async () => {
    const encoder = transcode.createEncoder({
      format: 'flac',
      sampleRate: 24000,
      wholeFile: true,
      totalSamples: 24000,
    });
    await encoder.encode(new Int16Array(1000));
    await expect(encoder.flush()).rejects.toThrow(/promised 24000 samples/);
    encoder.dispose();
  });
});

describe('whole-file MP3', () => {
  /** The Xing/Info and LAME fields of a file's first frame. */
  function infoTag(bytes: Uint8Array) {
    const header = parseMp3FrameHeader(bytes, 0)!;
    const at = 4 + (header.version === 3 ? 17 : 9);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const lame = at + 120;
    return {
      header,
      tag: new TextDecoder().decode(bytes.subarray(at, at + 4)),
      frames: view.getUint32(at + 8),
      bytes: view.getUint32(at + 12),
      encoder: new TextDecoder().decode(bytes.subarray(lame, lame + 4)),
      delay: (bytes[lame + 21] << 4) | (bytes[lame + 22] >> 4),
      padding: ((bytes[lame + 22] & 0x0f) << 8) | bytes[lame + 23],
      musicCrc: view.getUint16(lame + 32),
    };
  }

  it.each([8000, 22050, 24000, 44100])(
    'should start with an Info frame whose length, delay and padding decoders trim exactly (%i Hz)',
    async (rate) => {
      const source = testSignal(rate, 1.3);
      const { parts, total } = await encodeWhole('mp3', rate, source, rate);
      expect(parts.slice(0, -1).every((p) => p.length === 0)).toBe(true); // held until the end
      const bytes = concat(parts);
      const info = infoTag(bytes);
      const audio = bytes.subarray(info.header.frameBytes);

      expect(info.tag).toBe('Info');
      expect(info.encoder).toBe('LAME');
      expect(info.frames).toBe(mp3FrameOffsets(audio).length);
      expect(info.bytes).toBe(bytes.length);
      expect(info.musicCrc).toBe(crc16(audio));
      expect(info.delay).toBe(LAME_ENCODER_DELAY);
      expect(info.frames * info.header.samplesPerFrame - info.delay - info.padding).toBe(total);

      const file = temp.write(bytes, 'mp3');
      const probed = await probeFile(file);
      expect(probed.log).toBe(''); // no "estimating duration from bitrate"
      // ffmpeg reports the frames' span from the tag and starts the stream after LAME's 1105-sample delay ...
      expect(probed.duration).toBeCloseTo((info.frames * info.header.samplesPerFrame) / rate, 6);
      expect(probed.startTime).toBeCloseTo((LAME_ENCODER_DELAY + 529) / rate, 6);
      // ... and decodes exactly the real samples, delay and padding trimmed, with no lag.
      const decoded = await decodeFile(file);
      expect(decoded.errors).toBe('');
      expect(decoded.pcm.length).toBe(total);
      const window = { start: Math.floor(total / 4), length: Math.min(8000, Math.floor(total / 2)) };
      const { correlation, lag } = bestCorrelation(source, decoded.pcm, { max: 40 }, window);
      expect(lag).toBe(0);
      expect(correlation).toBeGreaterThan(0.98);
    },
  );

  it('should compute the tag CRC the way ffmpeg checks it (CRC-16 over 190 bytes)', () => {
    const file = `${temp.dir}/ffmpeg.mp3`;
    execFileSync('ffmpeg', [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=0.5:sample_rate=24000'],
      ...['-c:a', 'libmp3lame', '-b:a', '48k', '-id3v2_version', '0', file],
    ]);
    const bytes = readFileSync(file);
    const header = parseMp3FrameHeader(bytes, 0)!;
    const crcAt = 4 + 9 + 120 + 34;
    const frame = Uint8Array.from(bytes.subarray(0, header.frameBytes));
    const stored = (frame[crcAt] << 8) | frame[crcAt + 1];
    frame[crcAt] = frame[crcAt + 1] = 0;
    expect(crc16(frame.subarray(0, 190))).toBe(stored);
  });

  it('should leave streams untouched: no Info frame, frames as they are encoded', async () => {
    const stream = transcode.openStream({ format: 'mp3', sampleRate: 24000, wholeFile: true });
    const parts: Uint8Array[] = [];
    for (const pcm of chunked(testSignal(24000, 0.5), 24000, 40))
      parts.push(await stream.write({ pcm, sampleRate: 24000 }));
    parts.push(await stream.end());
    stream.dispose();
    expect(parts.slice(0, -1).some((p) => p.length > 0)).toBe(true);
    expect(infoTag(concat(parts)).tag).not.toBe('Info');
  });
});
