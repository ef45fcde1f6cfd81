import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { ErrorCode } from '../../common/errors/error-codes';
import { GatewayException } from '../../common/errors/gateway.exception';
import type { AudioFormat } from '../audio-format';
import type { AudioEncoder, AudioEncoderFactory, EncoderOptions } from '../transcoder.types';
import { pcm16Bytes } from './pcm.encoders';
import { concatBytes } from '../bytes';
import { SampleBudget } from './sample-budget';

export const FFMPEG_ENCODER_OPTIONS = Symbol('FFMPEG_ENCODER_OPTIONS');

export interface FfmpegEncoderOptions {
  /** The ffmpeg binary; default `ffmpeg` from PATH. */
  readonly ffmpegPath?: string;
}

type FfmpegFormat = 'flac' | 'aac';
const FFMPEG_FORMATS: readonly FfmpegFormat[] = ['flac', 'aac'];
/** The ffmpeg encoder each format needs (checked against `ffmpeg -encoders`). */
const ENCODER_NAME: Record<FfmpegFormat, string> = { flac: 'flac', aac: 'aac' };
/** ADTS can only signal these rates (ISO 14496-3 sampling_frequency_index). */
const AAC_SAMPLE_RATES = [7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const STDERR_TAIL_BYTES = 2048;
const EMPTY = new Uint8Array(0);
/** STREAMINFO's total-samples field is 36 bits. */
const FLAC_MAX_SAMPLES = 2 ** 36 - 1;
/** "fLaC", the STREAMINFO block header, then 34 bytes; total samples end at byte 26 (RFC 9639 §8.2). */
const FLAC_TOTAL_SAMPLES_END = 26;

/**
 * Writes the total sample count into a FLAC stream's STREAMINFO, which must be the first metadata block.
 * ffmpeg writing to a pipe cannot seek back to fill it in, so it leaves 0 ("unknown"); the MD5 stays zero,
 * which also means unknown. Returns false when the bytes are not a FLAC header.
 */
export function patchFlacTotalSamples(header: Uint8Array, totalSamples: number): boolean {
  const magic = header[0] === 0x66 && header[1] === 0x4c && header[2] === 0x61 && header[3] === 0x43;
  const streamInfo = (header[4] & 0x7f) === 0 && header[5] === 0 && header[6] === 0 && header[7] === 34;
  if (!magic || !streamInfo || header.length < FLAC_TOTAL_SAMPLES_END) return false;
  // 20 bits rate, 3 bits channels, 5 bits depth, then 36 bits of samples starting in byte 21's low nibble.
  header[21] = (header[21] & 0xf0) | (Math.floor(totalSamples / 2 ** 32) & 0x0f);
  new DataView(header.buffer, header.byteOffset, header.byteLength).setUint32(22, totalSamples >>> 0);
  return true;
}

/** AAC-LC mono bitrate: AAC-LC cannot exceed 6144 bits per 1024 samples, so low rates get less. */
function aacBitrate(sampleRate: number): string {
  if (sampleRate <= 12000) return '24k';
  if (sampleRate <= 24000) return '48k';
  return '64k';
}

/**
 * ffmpeg arguments for one long-lived encoder process reading raw PCM on stdin (codecs.md §6.7):
 * `-probesize 32 -analyzeduration 0` stop ffmpeg from buffering ~2 s of input to "analyse" a raw pipe,
 * `-flush_packets 1` writes each packet as soon as it is encoded.
 */
export function ffmpegArgs(format: FfmpegFormat, sampleRate: number): string[] {
  const input = ['-f', 's16le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0'];
  const output =
    format === 'flac'
      ? ['-c:a', 'flac', '-f', 'flac']
      : ['-c:a', 'aac', '-b:a', aacBitrate(sampleRate), '-f', 'adts'];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    ...input,
    ...output,
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/**
 * One ffmpeg process per stream, fed for the stream's whole life (never a process per chunk: that costs
 * ~64 ms of CPU per spawn and breaks the codec stream at every chunk, codecs.md §1-2).
 *
 * `encode` writes the PCM (waiting for `drain` when the pipe is full) and returns whatever ffmpeg has
 * produced so far; output lags input by a codec frame or two. `flush` closes stdin and collects the rest.
 * stderr is drained continuously (a full stderr pipe would stall ffmpeg) and its tail kept for errors.
 */
class FfmpegEncoder implements AudioEncoder {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly closed: Promise<number | null>;
  private output: Uint8Array[] = [];
  private stderrTail = '';
  private failure: Error | undefined;
  private exitCode: number | null | undefined;
  private ended = false;
  /** Whole-file FLAC: output is held until it holds STREAMINFO, which then gets the total sample count. */
  private headerPending: boolean;

  constructor(
    readonly format: FfmpegFormat,
    readonly sampleRate: number,
    ffmpegPath: string,
    private readonly budget?: SampleBudget,
  ) {
    this.headerPending = budget !== undefined;
    this.child = spawn(ffmpegPath, ffmpegArgs(format, sampleRate), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
    });
    // EPIPE when ffmpeg dies mid-write; the exit status carries the real reason.
    this.child.stdin.on('error', (error) => this.fail(`ffmpeg stdin: ${error.message}`));
    this.closed = new Promise((resolve) => {
      // A spawn failure (ENOENT, EACCES) emits 'error' and may never emit 'close': settle on either.
      this.child.on('error', (error) => {
        this.fail(`ffmpeg could not be run (${error.message})`);
        if (this.child.pid === undefined) resolve(null);
      });
      this.child.on('close', (code) => {
        this.exitCode = code;
        if (code !== 0 && !this.ended) this.fail(`ffmpeg exited with code ${String(code)}`);
        resolve(code);
      });
    });
  }

  /** ffmpeg's process id, or undefined if it could not be started. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async encode(pcm: Int16Array): Promise<Uint8Array> {
    this.assertUsable();
    this.budget?.take(pcm.length);
    // Copy: the stream may hold the buffer until the pipe takes it, and the caller may reuse its PCM.
    if (!this.child.stdin.write(Buffer.from(pcm16Bytes(pcm)))) {
      await Promise.race([once(this.child.stdin, 'drain'), this.closed]);
      this.assertHealthy();
    }
    return this.take();
  }

  async flush(): Promise<Uint8Array> {
    this.assertUsable();
    this.budget?.finish();
    this.ended = true;
    this.child.stdin.end();
    const code = await this.closed;
    this.assertHealthy();
    if (code !== 0) {
      throw new Error(
        `ffmpeg ${this.format} encoder exited with code ${String(code)}: ${this.stderrTail.trim()}`,
      );
    }
    const tail = this.take();
    if (this.headerPending) throw new Error('ffmpeg wrote no FLAC STREAMINFO');
    return tail;
  }

  dispose(): void {
    this.ended = true;
    this.output = [];
    if (this.exitCode === undefined && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private assertUsable(): void {
    this.assertHealthy();
    if (this.ended) throw new Error('encoder already flushed or disposed');
  }

  private assertHealthy(): void {
    if (this.failure) throw this.failure;
  }

  private take(): Uint8Array {
    if (this.output.length === 0) return EMPTY;
    const bytes = concatBytes(this.output);
    if (this.headerPending) {
      // ffmpeg writes the header in one go, so this waits for at most one more read in practice.
      if (bytes.length < FLAC_TOTAL_SAMPLES_END) {
        this.output = [bytes];
        return EMPTY;
      }
      if (!patchFlacTotalSamples(bytes, this.budget!.total)) {
        this.fail('ffmpeg output does not start with a FLAC STREAMINFO block');
        this.assertHealthy();
      }
      this.headerPending = false;
    }
    this.output = [];
    return bytes;
  }

  private fail(reason: string): void {
    const detail = this.stderrTail.trim();
    this.failure ??= new Error(detail ? `${reason}: ${detail}` : reason);
  }
}

/**
 * FLAC and AAC (ADTS) for the OpenAI-compatible route, through ffmpeg: no maintained in-process encoder
 * exists on npm (libflacjs is an unmaintained emscripten build; there is no AAC encoder at all). These are
 * whole-utterance formats, so a process per stream is affordable there, unlike for live streams.
 *
 * ffmpeg may be missing: the factory probes `ffmpeg -encoders` at start and reports the formats it cannot
 * produce as unavailable, so TranscodeService answers a clear 400 instead of failing mid-stream.
 */
@Injectable()
export class FfmpegEncoderFactory implements AudioEncoderFactory, OnModuleInit {
  readonly formats = FFMPEG_FORMATS;
  private readonly logger = new Logger(FfmpegEncoderFactory.name);
  private readonly ffmpegPath: string;
  private available: ReadonlySet<AudioFormat> | undefined;

  constructor(@Optional() @Inject(FFMPEG_ENCODER_OPTIONS) options: FfmpegEncoderOptions | null = null) {
    this.ffmpegPath = options?.ffmpegPath ?? 'ffmpeg';
  }

  async onModuleInit(): Promise<void> {
    await this.probe();
  }

  /** Asks ffmpeg which of our formats it can encode (async; run at module init). */
  async probe(): Promise<ReadonlySet<AudioFormat>> {
    const child = spawn(this.ffmpegPath, ['-hide_banner', '-encoders'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let listing = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => (listing += text));
    const ok = await new Promise<boolean>((resolve) => {
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
    return this.record(ok ? listing : undefined);
  }

  isAvailable(format: AudioFormat): boolean {
    // Normally answered by the probe at module init; without it (a bare factory), probe once synchronously.
    this.available ??= this.probeSync();
    return this.available.has(format);
  }

  create({ format, sampleRate, wholeFile, totalSamples }: EncoderOptions): AudioEncoder {
    if (format !== 'flac' && format !== 'aac')
      throw new Error(`FfmpegEncoderFactory cannot encode ${format}`);
    if (!this.isAvailable(format)) {
      throw new GatewayException(
        ErrorCode.UnsupportedFormat,
        `${format} is not available on this server (ffmpeg with the ${ENCODER_NAME[format]} encoder is not installed)`,
        { field: 'format' },
      );
    }
    if (format === 'aac' && !AAC_SAMPLE_RATES.includes(sampleRate)) {
      throw new GatewayException(
        ErrorCode.UnsupportedSampleRate,
        `aac cannot be encoded at ${sampleRate} Hz; allowed: ${AAC_SAMPLE_RATES.filter((r) => r >= 8000).join(', ')}`,
        { field: 'sample_rate_hz', allowed: AAC_SAMPLE_RATES.filter((r) => r >= 8000) },
      );
    }
    // Only FLAC states a length; an ADTS stream has no header to carry one.
    const budget =
      format === 'flac' && wholeFile && totalSamples !== undefined
        ? new SampleBudget(totalSamples, FLAC_MAX_SAMPLES)
        : undefined;
    return new FfmpegEncoder(format, sampleRate, this.ffmpegPath, budget);
  }

  private probeSync(): ReadonlySet<AudioFormat> {
    const result = spawnSync(this.ffmpegPath, ['-hide_banner', '-encoders'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    return this.record(result.status === 0 ? result.stdout : undefined);
  }

  private record(listing: string | undefined): ReadonlySet<AudioFormat> {
    const encoders = new Set<string>();
    for (const line of (listing ?? '').split('\n')) {
      const match = /^\s*A\S*\s+(\S+)/.exec(line);
      if (match) encoders.add(match[1]);
    }
    const available = new Set<AudioFormat>(FFMPEG_FORMATS.filter((f) => encoders.has(ENCODER_NAME[f])));
    const missing = FFMPEG_FORMATS.filter((f) => !available.has(f));
    if (missing.length > 0) {
      this.logger.warn(
        listing === undefined
          ? `${this.ffmpegPath} cannot be run: formats ${missing.join(', ')} are disabled`
          : `${this.ffmpegPath} lacks encoders for ${missing.join(', ')}: those formats are disabled`,
      );
    }
    this.available = available;
    return available;
  }
}
