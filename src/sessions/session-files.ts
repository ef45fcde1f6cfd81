import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import { SynthesisRuns, type SynthesisRun } from '../synthesis/synthesis-runs';
import { SynthesisSlots } from '../synthesis/synthesis-slots';
import type { ProviderId } from '../providers/provider.contract';
import type { EncodedAudio, ProviderSwitch } from '../synthesis/synthesis.types';
import { TtsService, type PcmPiece } from '../synthesis/tts.service';
import { AUDIO_FORMAT_SPECS, type AudioFormat, type AudioFormatSpec } from '../transcode/audio-format';
import { Mp3InfoFrameBuilder } from '../transcode/codecs/mp3-info-tag';
import { TranscodeService } from '../transcode/transcode.service';
import type { Session } from './session.model';
import { SessionsService } from './sessions.service';

export interface FileRequest {
  format?: AudioFormat;
  sampleRateHz?: number;
}

export interface RenderedFile {
  spec: AudioFormatSpec;
  sampleRate: number;
  /** Exact body length when the format's size follows from the sample count (PCM, G.711, WAV). */
  contentLength?: number;
  /** The encoded file, streamed; iterate it once. Ends the run's accounting when done. */
  body: AsyncGenerator<Uint8Array>;
}

/**
 * Engine PCM up to this size stays in memory (about 21 s at 24 kHz); longer audio goes to a temporary file,
 * so a request holds the same few buffers whatever its length.
 */
const MEMORY_BYTES = 1024 * 1024;
/** Spilled bytes are written in batches of this size, and every spool is read back in chunks of it. */
const IO_BYTES = 64 * 1024;

/**
 * `GET /v1/tts/sessions/:id/file`: the whole utterance as one file with exact container sizes. The engine's
 * PCM is rendered first (bounded by MAX_AUDIO_SECONDS) into a spool, in memory up to MEMORY_BYTES and on
 * disk beyond, so the total sample count is known before the first byte and the encoded body then streams
 * from the spool with its real sizes up front (WAV RIFF sizes, FLAC STREAMINFO). An MP3's Info frame
 * describes every frame, so its frames are spooled the same way and sent behind it. Memory per request is
 * therefore a few buffers whatever the audio length; disk per request is bounded by MAX_AUDIO_SECONDS, and
 * every spool is freed at every ending (done, failed, client gone, or never read). The request holds one
 * synthesis slot (the global and per-client caps) while it runs, and counts in the metrics and the log
 * like any other synthesis (route `file`). A deleted session has no file.
 */
@Injectable()
export class SessionFiles {
  constructor(
    private readonly sessions: SessionsService,
    private readonly tts: TtsService,
    private readonly transcode: TranscodeService,
    private readonly slots: SynthesisSlots,
    private readonly runs: SynthesisRuns,
  ) {}

  async render(id: string, request: FileRequest, client: string, signal: AbortSignal): Promise<RenderedFile> {
    const session = await this.sessions.get(id, client);
    if (session.purged) {
      throw new GatewayException(ErrorCode.SessionNotFound, `session "${id}" was deleted; its audio is gone`);
    }
    this.sessions.refuseWhileDraining();
    const plan = await this.sessions.planFor(session, {
      format: request.format,
      sampleRateHz: request.sampleRateHz,
      wholeFile: true,
    });
    const release = await this.slots.acquireShared(client, 'file');
    const run = this.startRun(session, plan.format, plan.sampleRate);
    const pcm = new Spool();
    try {
      const runs = await spoolPcm(this.tts.pcm(plan, signal), pcm);
      const totalSamples = this.outputSamplesOf(runs, plan.sampleRate);
      const mp3 = plan.format === 'mp3';
      const encoded = this.tts.encode(replayPcm(pcm, runs), {
        format: plan.format,
        sampleRate: plan.sampleRate,
        wholeFile: true,
        // MP3 frames come plain and get their Info frame here (see mp3Body), not from a held encoder.
        ...(mp3 ? {} : { totalSamples }),
      });
      const frames = mp3 ? new Spool() : undefined;
      // Every ending settles once: the body's end, or the client leaving before or while it is read (a body
      // nobody starts never runs its `finally`).
      let settled = false;
      const settle = (outcome: 'completed' | 'disconnected') => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        release();
        run.end(outcome);
        void pcm.close();
        void frames?.close();
      };
      const onAbort = () => settle('disconnected');
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      return {
        spec: AUDIO_FORMAT_SPECS[plan.format],
        sampleRate: plan.sampleRate,
        contentLength: exactLength(plan.format, totalSamples),
        body: this.body(frames ? this.mp3Body(encoded, totalSamples, frames, run) : encoded, run, settle),
      };
    } catch (error) {
      void pcm.close();
      release();
      const e = toGatewayException(signal.aborted ? signal.reason : error);
      run.end(signal.aborted ? 'disconnected' : 'failed', { code: e.code, message: e.message });
      throw error;
    }
  }

  private async *body(
    encoded: AsyncGenerator<EncodedAudio>,
    run: SynthesisRun,
    settle: (outcome: 'completed' | 'disconnected') => void,
  ): AsyncGenerator<Uint8Array> {
    let outcome: 'completed' | 'disconnected' = 'disconnected';
    try {
      for await (const audio of encoded) {
        run.sent(audio);
        if (audio.data.length > 0) yield audio.data;
      }
      outcome = 'completed';
    } finally {
      settle(outcome);
    }
  }

  /**
   * Whole-file MP3: the Info frame (exact length, gapless trim, seek table, CRC of every frame) goes first
   * yet describes every frame, so the frames go to a spool while the builder notes what the frame needs,
   * then the frame is sent and the spooled frames behind it.
   */
  private async *mp3Body(
    encoded: AsyncGenerator<EncodedAudio>,
    totalSamples: number,
    frames: Spool,
    run: SynthesisRun,
  ): AsyncGenerator<EncodedAudio> {
    const info = new Mp3InfoFrameBuilder();
    let last: EncodedAudio | undefined;
    for await (const audio of encoded) {
      if (audio.switched) run.sent(audio, 0);
      if (audio.data.length === 0) continue;
      info.push(audio.data);
      await frames.write(audio.data);
      last = audio;
    }
    await frames.end();
    if (!last) throw new Error('the MP3 encoder produced no frames');
    const { providerId, audioMs } = last;
    yield { data: info.finish(totalSamples), providerId, audioMs };
    // A copy of each read: the socket keeps what it is given until it is written out.
    for (let data = await frames.read(IO_BYTES); data.length > 0; data = await frames.read(IO_BYTES))
      yield { data: data.slice(), providerId, audioMs };
  }

  private startRun(session: Session, format: AudioFormat, sampleRateHz: number): SynthesisRun {
    return this.runs.start({
      route: 'file',
      provider: session.provider,
      format,
      sampleRateHz,
      voice: session.voice,
      textChars: session.text.length,
      sessionId: session.id,
      client: session.client,
    });
  }

  /** Output samples the resampler will produce: exact per stretch of equal input rate. */
  private outputSamplesOf(runs: readonly PcmRun[], outRate: number): number {
    let total = 0;
    let rate = 0;
    let samples = 0;
    for (const run of runs) {
      if (run.sampleRate !== rate) {
        if (samples > 0) total += this.transcode.outputSamples(samples, rate, outRate);
        rate = run.sampleRate;
        samples = 0;
      }
      samples += run.samples;
    }
    if (samples > 0) total += this.transcode.outputSamples(samples, rate, outRate);
    return total;
  }
}

/** Consecutive spooled PCM of one rate from one provider; a failover starts a new run. */
interface PcmRun {
  readonly sampleRate: number;
  readonly provider: ProviderId;
  readonly switched?: ProviderSwitch;
  readonly fromCache?: boolean;
  samples: number;
}

/**
 * Drains the engine's PCM into `spool` and returns its runs. Marks and word timings have no place in a
 * file and are dropped; an empty chunk is kept only when it announces a failover.
 */
async function spoolPcm(pieces: AsyncIterable<PcmPiece>, spool: Spool): Promise<PcmRun[]> {
  const runs: PcmRun[] = [];
  let current: PcmRun | undefined;
  for await (const { chunk, provider, switched, mark, timings, fromCache } of pieces) {
    if (mark !== undefined || timings !== undefined) continue;
    if (chunk.pcm.length === 0 && !switched) continue;
    if (!current || switched || current.sampleRate !== chunk.sampleRate || current.provider !== provider) {
      current = {
        sampleRate: chunk.sampleRate,
        provider,
        samples: 0,
        ...(switched ? { switched } : {}),
        ...(runs.length === 0 && fromCache !== undefined ? { fromCache } : {}),
      };
      runs.push(current);
    }
    current.samples += chunk.pcm.length;
    await spool.write(new Uint8Array(chunk.pcm.buffer, chunk.pcm.byteOffset, chunk.pcm.byteLength));
  }
  await spool.end();
  return runs;
}

/**
 * The spooled PCM back as pieces, run by run (each run at least once, so a failover is announced). Each
 * piece is a view of the spool's buffer, which the next read refills: `TtsService.encode` is done with a
 * piece (the resampler and encoder copy what they keep) before it asks for the next.
 */
async function* replayPcm(spool: Spool, runs: readonly PcmRun[]): AsyncGenerator<PcmPiece> {
  for (const run of runs) {
    let left = run.samples * 2;
    let first = true;
    do {
      const bytes = await spool.read(Math.min(left, IO_BYTES));
      if (bytes.length === 0 && left > 0) throw new Error('the spooled PCM ended early');
      left -= bytes.length;
      const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
      yield {
        chunk: { pcm, sampleRate: run.sampleRate },
        provider: run.provider,
        ...(first && run.switched ? { switched: run.switched } : {}),
        ...(first && run.fromCache !== undefined ? { fromCache: run.fromCache } : {}),
      };
      first = false;
    } while (left > 0);
  }
}

/**
 * Bytes written once in order, then read back once in order, through one buffer: in memory up to
 * MEMORY_BYTES, beyond that in a temporary file in os.tmpdir() with the buffer as its write batch and then
 * its read buffer. The file is unlinked as soon as it is open (the handle keeps its data), so no ending
 * leaves a file behind, not even a crash; `close()` frees the handle and with it the disk space.
 */
class Spool {
  private buffer = new Uint8Array(IO_BYTES);
  private length = 0;
  private file: FileHandle | undefined;
  /** The file's name while it still has one. */
  private path: string | undefined;
  private fileBytes = 0;
  private readAt = 0;
  private ended = false;
  private closed = false;

  /** Copies `bytes` (the caller may reuse its buffer). */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('the file request ended');
    if (!this.file && this.length + bytes.length > this.buffer.length) {
      if (this.length + bytes.length <= MEMORY_BYTES) this.grow(this.length + bytes.length);
      else await this.openFile();
    }
    for (let done = 0; done < bytes.length;) {
      const n = Math.min(bytes.length - done, this.buffer.length - this.length);
      this.buffer.set(bytes.subarray(done, done + n), this.length);
      this.length += n;
      done += n;
      if (this.length === this.buffer.length) await this.flush();
    }
  }

  /** After the last write: what is still buffered goes to the file (or stays, when it all fits). */
  async end(): Promise<void> {
    if (this.file) await this.flush();
    this.ended = true;
  }

  /** The next `n` bytes or fewer (none at the end), valid until the next call. */
  async read(n: number): Promise<Uint8Array> {
    if (this.closed) throw new Error('the file request ended');
    if (!this.ended) throw new Error('a spool is read after its last write');
    if (!this.file) {
      const out = this.buffer.subarray(this.readAt, Math.min(this.length, this.readAt + n));
      this.readAt += out.length;
      return out;
    }
    const out = this.buffer.subarray(0, Math.min(n, this.buffer.length, this.fileBytes - this.readAt));
    for (let got = 0; got < out.length;) {
      const { bytesRead } = await this.file.read(out, got, out.length - got, this.readAt + got);
      if (bytesRead === 0) throw new Error('the temporary audio file ended early');
      got += bytesRead;
    }
    this.readAt += out.length;
    return out;
  }

  /** Frees the buffer, the file handle and the file. Idempotent; never rejects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffer = EMPTY;
    this.length = 0;
    const file = this.file;
    this.file = undefined;
    // FileHandle.close() waits for a read or write still running on the handle; it rejects only for a
    // handle that is already closed, which leaves nothing to free.
    if (file) await file.close().catch(() => undefined);
    await this.removeName();
  }

  private grow(needed: number): void {
    let size = this.buffer.length;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(Math.min(size, MEMORY_BYTES));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  /** Writes the buffer to the file and empties it. */
  private async flush(): Promise<void> {
    const file = this.file;
    if (!file || this.length === 0) return;
    for (let done = 0; done < this.length;) {
      const { bytesWritten } = await file.write(this.buffer, done, this.length - done, this.fileBytes + done);
      done += bytesWritten;
    }
    this.fileBytes += this.length;
    this.length = 0;
  }

  private async openFile(): Promise<void> {
    const path = join(tmpdir(), `tts-file-${randomUUID()}.spool`);
    const file = await open(path, 'wx+', 0o600);
    this.path = path;
    await this.removeName();
    if (this.closed) {
      // The request ended while the file was being opened.
      await file.close();
      throw new Error('the file request ended');
    }
    this.file = file;
    // The buffer becomes the write batch: what memory held goes out first, at full batch size from now on.
    if (this.buffer.length < MEMORY_BYTES) this.grow(MEMORY_BYTES);
    await this.flush();
  }

  private async removeName(): Promise<void> {
    const path = this.path;
    if (path === undefined) return;
    try {
      await unlink(path);
      this.path = undefined;
    } catch {
      // A platform that cannot unlink an open file: close() tries again once the handle is closed.
    }
  }
}

function exactLength(format: AudioFormat, samples: number): number | undefined {
  switch (format) {
    case 'pcm16':
      return samples * 2;
    case 'mulaw':
    case 'alaw':
      return samples;
    case 'wav':
      return 44 + samples * 2;
    case 'mp3':
    case 'opus':
    case 'flac':
    case 'aac':
      return undefined;
  }
}

const EMPTY = new Uint8Array(0);
