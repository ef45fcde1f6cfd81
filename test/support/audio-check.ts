import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** ffmpeg input options for headerless formats; container formats need none. */
export function rawInputArgs(format: string, sampleRate: number): string[] {
  switch (format) {
    case 'pcm16':
      return ['-f', 's16le', '-ar', String(sampleRate), '-ac', '1'];
    case 'mulaw':
      return ['-f', 'mulaw', '-ar', String(sampleRate), '-ac', '1'];
    case 'alaw':
      return ['-f', 'alaw', '-ar', String(sampleRate), '-ac', '1'];
    default:
      return [];
  }
}

export interface DecodedAudio {
  codec: string;
  sampleRate: number;
  /** Seconds, from the decoded sample count. */
  duration: number;
  /** Whatever ffmpeg printed at -v error while decoding (empty = clean). */
  errors: string;
  /** Decoded mono s16 at the stream's rate. */
  samples: Int16Array;
}

/**
 * Decodes bytes with the real ffprobe/ffmpeg: codec and rate from ffprobe, duration from the decoded
 * samples, and every decoder complaint.
 */
export async function decodeAudio(bytes: Buffer, format: string, sampleRate: number): Promise<DecodedAudio> {
  const dir = mkdtempSync(join(tmpdir(), 'tts-audio-'));
  const file = join(dir, `audio.${format}`);
  try {
    writeFileSync(file, bytes);
    const input = [...rawInputArgs(format, sampleRate), '-i', file];
    const probe = await run(
      'ffprobe',
      ['-v', 'error', ...input, '-show_entries', 'stream=codec_name,sample_rate', '-of', 'json'],
      {
        maxBuffer: 1 << 20,
      },
    );
    const stream = JSON.parse(probe.stdout).streams[0];
    const decoded = await run('ffmpeg', ['-v', 'error', ...input, '-f', 's16le', '-ac', '1', 'pipe:1'], {
      encoding: 'buffer',
      maxBuffer: 1 << 28,
    });
    const pcm = decoded.stdout as Buffer;
    const samples = new Int16Array(pcm.buffer, pcm.byteOffset, Math.floor(pcm.length / 2));
    const rate = Number(stream.sample_rate);
    return {
      codec: stream.codec_name,
      sampleRate: rate,
      duration: samples.length / rate,
      errors: (decoded.stderr as Buffer).toString('utf8').trim(),
      samples,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}
