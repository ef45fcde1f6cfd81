/**
 * Helpers for specs and benchmarks that check encoded audio the way a client would: decode it with the
 * real ffmpeg/ffprobe and compare with the source signal. Not used by the server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatBytes } from '../bytes';

/**
 * A test signal that exercises a speech codec: a 200 Hz → `top` Hz chirp plus a steady 440 Hz tone, with a
 * slow amplitude envelope. Defined as a function of time so the same signal can be sampled at the source
 * rate and at a decoder's output rate (Opus always decodes at 48 kHz).
 */
export function signalAt(t: number, top: number, seconds: number): number {
  const f0 = 200;
  const k = (top - f0) / seconds;
  const chirp = Math.sin(2 * Math.PI * (f0 * t + (k * t * t) / 2));
  const tone = Math.sin(2 * Math.PI * 440 * t);
  const envelope = 0.6 + 0.4 * Math.sin(2 * Math.PI * 1.5 * t);
  return 9000 * envelope * (0.7 * chirp + 0.3 * tone);
}

/** Highest chirp frequency that every codec at `sampleRate` keeps (well under any low-pass it applies). */
export function chirpTop(sampleRate: number): number {
  return Math.min(3000, sampleRate * 0.3);
}

export function testSignal(sampleRate: number, seconds: number, top = chirpTop(sampleRate)): Int16Array {
  const out = new Int16Array(Math.round(sampleRate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(signalAt(i / sampleRate, top, seconds));
  return out;
}

/** Splits PCM into chunks of `chunkMs` (the last one shorter), as a provider would yield them. */
export function chunked(pcm: Int16Array, sampleRate: number, chunkMs: number): Int16Array[] {
  const size = Math.max(1, Math.round((sampleRate * chunkMs) / 1000));
  const chunks: Int16Array[] = [];
  for (let i = 0; i < pcm.length; i += size) chunks.push(pcm.slice(i, i + size));
  return chunks;
}

/** Joins encoder output chunks. */
export const concat = concatBytes;

function run(cmd: string, args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      // A non-zero exit is a result (the decoder's verdict); failing to run the binary is an error.
      if (error && typeof error.code !== 'number')
        reject(new Error(`${cmd} could not be run: ${error.message}`));
      else
        resolve({
          stdout,
          stderr: stderr.toString('utf8'),
          code: typeof error?.code === 'number' ? error.code : 0,
        });
    });
  });
}

export interface Decoded {
  readonly codec: string;
  readonly sampleRate: number;
  /** Everything `ffmpeg -v error` printed while decoding; empty for a clean stream. */
  readonly errors: string;
  /** Mono s16 at the stream's own rate. */
  readonly pcm: Int16Array;
}

/** A temp directory for encoded files, removed by `cleanup()`. */
export class TempFiles {
  readonly dir = mkdtempSync(join(tmpdir(), 'tts-transcode-'));
  private n = 0;

  write(bytes: Uint8Array, extension: string): string {
    const file = join(this.dir, `out-${++this.n}.${extension}`);
    writeFileSync(file, bytes);
    return file;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Probes codec and rate with ffprobe, then decodes the whole file with ffmpeg. */
export async function decodeFile(file: string): Promise<Decoded> {
  const probe = await run('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file]);
  const streams = (JSON.parse(probe.stdout.toString('utf8')) as { streams?: Record<string, string>[] })
    .streams;
  const stream = streams?.[0] ?? {};
  const decoded = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 's16le', '-ac', '1', '-']);
  const bytes = decoded.stdout;
  const pcm = new Int16Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~1)),
  );
  return {
    codec: stream.codec_name ?? '',
    sampleRate: Number(stream.sample_rate ?? 0),
    errors: (probe.stderr + decoded.stderr).trim() + (decoded.code !== 0 ? `exit ${decoded.code}` : ''),
    pcm,
  };
}

export interface Probed {
  readonly codec: string;
  readonly sampleRate: number;
  /** Stream duration in seconds as the demuxer reports it (from the header where there is one). */
  readonly duration: number | undefined;
  readonly startTime: number | undefined;
  /** What ffprobe logged (it warns when it has to estimate the duration from the bitrate). */
  readonly log: string;
}

/** ffprobe's view of a file's first stream, without decoding it. */
export async function probeFile(file: string): Promise<Probed> {
  const probe = await run('ffprobe', ['-v', 'warning', '-show_streams', '-of', 'json', file]);
  const parsed = JSON.parse(probe.stdout.toString('utf8')) as { streams?: Record<string, string>[] };
  const stream = parsed.streams?.[0] ?? {};
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    codec: stream.codec_name ?? '',
    sampleRate: Number(stream.sample_rate ?? 0),
    duration: number(stream.duration),
    startTime: number(stream.start_time),
    log: probe.stderr.trim(),
  };
}

/** `ffmpeg -v error -i file -f null -`: prints nothing for a clean stream. */
export async function decodeErrors(file: string): Promise<string> {
  const result = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return result.stderr.trim();
}

/**
 * Best normalized cross-correlation between `reference` and `decoded` delayed by min..max samples,
 * over a window of the reference. Returns the lag too, so specs can check alignment.
 */
export function bestCorrelation(
  reference: Int16Array,
  decoded: Int16Array,
  lags: { min?: number; max: number },
  window = { start: 0, length: reference.length },
): { correlation: number; lag: number } {
  const start = window.start;
  const end = Math.min(reference.length, start + window.length);
  let best = { correlation: -1, lag: 0 };
  for (let lag = lags.min ?? 0; lag <= lags.max; lag++) {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = start; i < end && i + lag < decoded.length; i++) {
      const x = reference[i];
      const y = decoded[i + lag];
      xy += x * y;
      xx += x * x;
      yy += y * y;
    }
    const c = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : 0;
    if (c > best.correlation) best = { correlation: c, lag };
  }
  return best;
}
