import { execFileSync } from 'node:child_process';
import { encodeALaw, encodeMuLaw } from './g711';

/** Every 16-bit value once, so the tables are checked exhaustively. */
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

function ffmpegEncode(codec: 'mulaw' | 'alaw', pcm: Int16Array): Buffer {
  return execFileSync(
    'ffmpeg',
    ['-v', 'error', '-f', 's16le', '-ar', '8000', '-ac', '1', '-i', 'pipe:0', '-f', codec, 'pipe:1'],
    { input: Buffer.from(pcm.buffer), maxBuffer: 1 << 22 },
  );
}

describe('G.711 encoders', () => {
  it('should encode mu-law exactly as ffmpeg does for every 16-bit sample', () => {
    expect(Buffer.from(encodeMuLaw(ALL_SAMPLES)).equals(ffmpegEncode('mulaw', ALL_SAMPLES))).toBe(true);
  });

  it('should encode A-law exactly as ffmpeg does for every 16-bit sample', () => {
    expect(Buffer.from(encodeALaw(ALL_SAMPLES)).equals(ffmpegEncode('alaw', ALL_SAMPLES))).toBe(true);
  });

  it('should map silence to the codes for zero (0xFF mu-law, 0xD5 A-law)', () => {
    expect(encodeMuLaw(new Int16Array([0]))[0]).toBe(0xff);
    expect(encodeALaw(new Int16Array([0]))[0]).toBe(0xd5);
  });
});
