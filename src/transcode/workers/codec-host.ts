import type { PooledCodec, SyncCodec } from '../codecs/codec.types';
import { Mp3Codec, warmUpMp3 } from '../codecs/mp3.codec';
import { OpusOggCodec } from '../codecs/opus.codec';
import type { CodecReply, CodecRequest } from './codec-protocol';

/** Replies are posted at the end of a batch, or sooner once this much encoding has piled up behind them. */
const MAX_REPLY_DELAY_MS = 4;
/** How often a running queue looks for requests that arrived meanwhile (see `CodecHost.run`). */
const POLL_EVERY_MS = 0.5;

interface HostedStream {
  codec?: SyncCodec;
  /** Has returned encoded bytes: its listener is hearing audio, so it no longer goes first. */
  producing?: boolean;
  /** Requests that arrived while the codec was still being created (until LAME is compiled). */
  backlog?: CodecRequest[];
  error?: string;
}

export type ReplySink = (replies: CodecReply[], transfer: ArrayBuffer[]) => void;

/**
 * The codec side of the pool: owns the streams of one thread and answers batches of requests. Runs inside
 * a worker (codec-worker.ts) or, with `threads: 0`, directly on the main thread.
 */
export class CodecHost {
  private readonly streams = new Map<number, HostedStream>();
  /** Requests of streams that have not produced audio yet: served first. */
  private first: CodecRequest[] = [];
  /** Requests of streams with audio out. */
  private later: CodecRequest[] = [];
  private replies: CodecReply[] = [];
  private transfer: ArrayBuffer[] = [];
  private batchStart = 0;

  constructor(private readonly sink: ReplySink) {}

  get streamCount(): number {
    return this.streams.size;
  }

  async warmUp(codecs: readonly PooledCodec[]): Promise<void> {
    if (codecs.includes('mp3')) await warmUpMp3();
    // Opus needs nothing: the native binding is loaded with this module.
  }

  /** Queues `requests` and serves everything queued (see `run`). */
  handle(requests: readonly CodecRequest[]): void {
    this.enqueue(requests);
    this.run();
  }

  /**
   * Streams that have not produced audio yet go first: their listeners are waiting for first audio, while
   * the others have audio in flight (a burst of new MP3 streams otherwise waits behind the older streams'
   * backlog of chunks). The lane is chosen as a request arrives and a stream only ever moves from first to
   * later, so each stream's requests keep their order.
   */
  enqueue(requests: readonly CodecRequest[]): void {
    for (const request of requests) {
      if (this.streams.get(request.id)?.producing) this.later.push(request);
      else this.first.push(request);
    }
  }

  /**
   * Serves the queue until it is empty. `takeArrivals` (the worker's port, read without waiting) is called
   * between requests, at most every `POLL_EVERY_MS`: a new stream that arrives while older streams' chunks
   * are being encoded then waits for one of them, not for all of them.
   */
  run(takeArrivals?: () => void): void {
    this.batchStart = performance.now();
    let polledAt = this.batchStart;
    for (;;) {
      const request = this.first.length > 0 ? this.first.shift() : this.later.shift();
      if (request === undefined) {
        if (!takeArrivals) break;
        takeArrivals();
        if (this.first.length === 0 && this.later.length === 0) break;
        continue;
      }
      this.dispatch(request);
      if (takeArrivals && performance.now() - polledAt > POLL_EVERY_MS) {
        takeArrivals();
        polledAt = performance.now();
      }
    }
    this.post();
  }

  private dispatch(request: CodecRequest): void {
    if (request.op === 'open') {
      this.open(request.id, request.codec, request.sampleRate);
      return;
    }
    const stream = this.streams.get(request.id);
    if (!stream) {
      if (request.op !== 'close') this.reply({ id: request.id, error: 'unknown codec stream' });
      return;
    }
    if (stream.backlog) {
      stream.backlog.push(request);
      return;
    }
    this.execute(request.id, stream, request);
  }

  private execute(id: number, stream: HostedStream, request: Exclude<CodecRequest, { op: 'open' }>): void {
    if (request.op === 'close') {
      stream.codec?.free();
      this.streams.delete(id);
      return;
    }
    if (stream.error !== undefined || !stream.codec) {
      this.reply({ id, error: stream.error ?? 'codec stream is closed' });
      return;
    }
    try {
      if (request.op === 'encode') {
        const bytes = stream.codec.encode(request.pcm);
        if (bytes.length > 0) stream.producing = true;
        this.reply({ id, bytes });
      } else {
        const bytes = stream.codec.flush();
        this.streams.delete(id);
        this.reply({ id, bytes });
      }
    } catch (error) {
      // A codec that threw is in an unknown state: fail this stream only, keep serving the others.
      stream.codec.free();
      stream.codec = undefined;
      stream.error = describe(error);
      this.reply({ id, error: stream.error });
    }
    if (performance.now() - this.batchStart > MAX_REPLY_DELAY_MS) {
      this.post();
      this.batchStart = performance.now();
    }
  }

  private open(id: number, codec: PooledCodec, sampleRate: number): void {
    const stream: HostedStream = {};
    this.streams.set(id, stream);
    try {
      if (codec === 'opus') {
        stream.codec = new OpusOggCodec({ sampleRate });
        return;
      }
      const created = Mp3Codec.open(sampleRate);
      if (created instanceof Mp3Codec) {
        stream.codec = created;
        return;
      }
      // Only before LAME is compiled on this thread (a stream racing the warm-up).
      stream.backlog = [];
      created.then(
        (codec) => {
          stream.codec = codec;
          this.drainBacklog(id, stream);
        },
        (error: unknown) => {
          stream.error = describe(error);
          this.drainBacklog(id, stream);
        },
      );
    } catch (error) {
      stream.error = describe(error);
    }
  }

  private drainBacklog(id: number, stream: HostedStream): void {
    const backlog = stream.backlog ?? [];
    stream.backlog = undefined;
    this.batchStart = performance.now();
    for (const request of backlog) {
      if (request.op !== 'open') this.execute(id, stream, request);
    }
    this.post();
  }

  private reply(reply: CodecReply): void {
    this.replies.push(reply);
    if (reply.bytes && reply.bytes.byteLength > 0) this.transfer.push(reply.bytes.buffer as ArrayBuffer);
  }

  private post(): void {
    if (this.replies.length === 0) return;
    const replies = this.replies;
    const transfer = this.transfer;
    this.replies = [];
    this.transfer = [];
    this.sink(replies, transfer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
