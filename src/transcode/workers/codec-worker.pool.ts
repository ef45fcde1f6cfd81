import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PooledCodec } from '../codecs/codec.types';
import { OpusAddonCopies } from '../codecs/opus-binding';
import { CodecHost } from './codec-host';
import type { CodecReply, CodecRequest, CodecWorkerData, FromWorker, ToWorker } from './codec-protocol';

export const CODEC_POOL_OPTIONS = Symbol('CODEC_POOL_OPTIONS');

export interface CodecPoolOptions {
  /** Worker threads; default one per core. 0 runs the codecs on the calling thread (benchmarks, debugging). */
  readonly threads?: number;
  /**
   * Start every thread and compile the codecs at application bootstrap (CODEC_THREADS_AT_BOOT, which also
   * sets `idleTimeoutMs` to 0). Default: no, threads start with
   * the first MP3/Opus streams (each costs ~12 MiB of RSS, plus up to ~16 MiB of MP3 encoders it keeps for
   * reuse, mp3.codec.ts: memory a server that never encodes either should not pay), and each new thread
   * compiles LAME as it starts.
   */
  readonly warmUp?: boolean;
  /**
   * A thread with no streams for this long is stopped (its memory returned) and started again when
   * needed. Default 60 s; 0 keeps threads once started.
   */
  readonly idleTimeoutMs?: number;
  /**
   * Linux nice value for the worker threads (0 = same priority as the event loop). Default 5: when the
   * cores are busy the kernel then runs the event loop first, so sockets and timers stay on time. Measured
   * with 200 real-time MP3 streams on a 2-core machine shared with other jobs: 4727 of 30000 chunks late
   * at nice 0, 38 at nice 5. On a dedicated machine the difference is small.
   */
  readonly nice?: number;
}

/** One stream's link to the codec that a worker holds for it. Calls are made one after another. */
export interface CodecChannel {
  readonly threadId: number;
  encode(pcm: Int16Array): Promise<Uint8Array>;
  flush(): Promise<Uint8Array>;
  /** Frees the worker-side codec. In-flight calls resolve empty; later calls reject. Idempotent. */
  close(): void;
}

export interface CodecThreadStats {
  readonly threadId: number;
  /** Streams the thread holds a codec for. */
  readonly streams: number;
  /** Streams the pool has assigned to it (equals `streams` once every message is through). */
  readonly assigned: number;
  readonly heapUsed: number;
}

/**
 * Relative CPU cost per second of audio at 24 kHz, only used to balance streams across threads. Measured
 * (docs/BENCHMARKS.md): LAME wasm and libopus at our settings (complexity 5, signal voice) both encode
 * ~200 s of audio per CPU-second, so they weigh the same.
 */
const CODEC_COST: Record<PooledCodec, number> = { mp3: 1, opus: 1 };
const EMPTY = new Uint8Array(0);

/**
 * Keeps @evan/opus's own addon loaded on this thread, for threads that encode with it instead of a private
 * copy: no thread's exit may unload it (that crashes the process, see opus-binding.ts).
 */
function pinPackageOpus(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@evan/opus');
}

/**
 * Worker code run with `eval`, so one file serves both layouts: from `dist/` it requires the compiled
 * codec-worker.js; from TypeScript sources (ts-jest, ts-node) it first registers ts-node in that worker
 * only. No plain .js file needs copying next to the compiled output.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.tsNode) {
  require(workerData.tsNode).register({
    transpileOnly: true,
    projectSearchDir: require('node:path').dirname(workerData.entry),
    compilerOptions: { module: 'commonjs' },
  });
}
require(workerData.entry);
`;

interface Deferred {
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

interface HostLink {
  readonly threadId: number;
  post(message: ToWorker, transfer: ArrayBuffer[]): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<unknown>;
}

/** One codec thread (or the inline host) and the streams assigned to it. */
class Slot {
  readonly channels = new Map<number, PoolChannel>();
  load = 0;
  lastError: Error | undefined;
  /** Set when the pool stopped this thread for being idle: its exit is expected. */
  retired = false;
  /** The thread has been told which Opus addon to use (see CodecWorkerPool.prepareOpus). */
  opusReady = false;
  idleTimer: NodeJS.Timeout | undefined;
  private outbox: CodecRequest[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  private readonly statsWaiters = new Map<number, (s: CodecThreadStats) => void>();

  constructor(
    readonly index: number,
    readonly link: HostLink,
    private readonly onIdle: (slot: Slot) => void = () => undefined,
  ) {}

  /** Queues a request; everything queued in one event-loop turn goes to the thread as one message. */
  enqueue(request: CodecRequest, transfer?: ArrayBuffer): void {
    this.outbox.push(request);
    if (transfer) this.transfer.push(transfer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.send());
    }
  }

  attach(channel: PoolChannel, weight: number): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.channels.size === 0) this.link.ref();
    this.channels.set(channel.id, channel);
    this.load += weight;
  }

  detach(channel: PoolChannel, weight: number): void {
    if (!this.channels.delete(channel.id)) return;
    this.load -= weight;
    // An idle pool must not keep the process alive (scripts, tests that forget to close the app).
    if (this.channels.size === 0) {
      this.link.unref();
      this.onIdle(this);
    }
  }

  receive(message: FromWorker): void {
    if (message.type === 'replies') {
      for (const reply of message.replies) this.channels.get(reply.id)?.settle(reply);
      return;
    }
    this.statsWaiters.get(message.token)?.({
      threadId: this.link.threadId,
      streams: message.streams,
      assigned: this.channels.size,
      heapUsed: message.heapUsed,
    });
    this.statsWaiters.delete(message.token);
  }

  stats(token: number): Promise<CodecThreadStats> {
    return new Promise((resolve) => {
      this.statsWaiters.set(token, resolve);
      this.send(); // queued requests first, so the answer reflects every call made before it
      this.link.post({ type: 'stats', token }, []);
    });
  }

  fail(error: Error): void {
    for (const channel of [...this.channels.values()]) channel.fail(error);
    for (const waiter of this.statsWaiters.values()) {
      waiter({ threadId: this.link.threadId, streams: 0, assigned: 0, heapUsed: 0 });
    }
    this.statsWaiters.clear();
    this.outbox = [];
    this.transfer = [];
  }

  private send(): void {
    this.scheduled = false;
    if (this.outbox.length === 0) return;
    const requests = this.outbox;
    const transfer = this.transfer;
    this.outbox = [];
    this.transfer = [];
    this.link.post({ type: 'batch', requests }, transfer);
  }
}

class PoolChannel implements CodecChannel {
  private readonly pending: Deferred[] = [];
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly slot: Slot,
    private readonly weight: number,
  ) {}

  get threadId(): number {
    return this.slot.link.threadId;
  }

  encode(pcm: Int16Array): Promise<Uint8Array> {
    // Copy into a buffer of our own so it can be transferred: the caller may reuse or keep its PCM.
    const own = pcm.slice();
    return this.request({ op: 'encode', id: this.id, pcm: own }, own.buffer);
  }

  flush(): Promise<Uint8Array> {
    const result = this.request({ op: 'flush', id: this.id });
    // The worker drops its codec after a flush; the channel is done once that reply is in.
    this.closed = true;
    return result;
  }

  close(): void {
    if (this.closed) {
      if (this.pending.length === 0) this.slot.detach(this, this.weight);
      return;
    }
    this.closed = true;
    if (!this.failure) this.slot.enqueue({ op: 'close', id: this.id });
    for (const deferred of this.pending.splice(0)) deferred.resolve(EMPTY);
    this.slot.detach(this, this.weight);
  }

  settle(reply: CodecReply): void {
    const deferred = this.pending.shift();
    if (reply.error !== undefined) deferred?.reject(new Error(`encoder failed: ${reply.error}`));
    else deferred?.resolve(reply.bytes ?? EMPTY);
    if (this.closed && this.pending.length === 0) this.slot.detach(this, this.weight);
  }

  fail(error: Error): void {
    this.failure = error;
    this.closed = true;
    for (const deferred of this.pending.splice(0)) deferred.reject(error);
    this.slot.detach(this, this.weight);
  }

  private request(request: CodecRequest, transfer?: ArrayBuffer): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('encoder already flushed or disposed'));
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.slot.enqueue(request, transfer);
    });
  }
}

/**
 * Runs the CPU-heavy codecs (MP3, Opus) on a few worker threads so encoding never stalls the event loop
 * (one loop saturates at ~150 real-time MP3 streams, codecs.md §6.6). Each thread owns whole streams, so a
 * codec's state never crosses threads; a stream is placed on the least-loaded thread when it opens.
 *
 * Threads start with the first streams that need them (and compile LAME as they start) and stop after
 * `idleTimeoutMs` without streams, so an idle server holds none.
 *
 * Opus runs on every thread: each thread encodes with its own copy of @evan/opus's native addon, whose
 * single static output buffer would otherwise be shared by the whole process (opus-binding.ts). Where no
 * copy can be made (no writable temp directory), every Opus stream falls back to thread 0, as before.
 *
 * A thread that dies fails its own streams with an error (pending calls reject) and is replaced on demand;
 * other threads' streams carry on. Threads are terminated at application shutdown.
 */
@Injectable()
export class CodecWorkerPool implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CodecWorkerPool.name);
  private readonly size: number;
  private readonly nice: number;
  private readonly warmUpAtBoot: boolean;
  private readonly idleTimeoutMs: number;
  private readonly slots: (Slot | undefined)[];
  private readonly opusAddons = new OpusAddonCopies();
  /** Whether Opus may use every thread; decided when the first thread starts. */
  private opusPerThread: boolean | undefined;
  private nextId = 1;
  private nextToken = 1;
  private closed = false;

  constructor(@Optional() @Inject(CODEC_POOL_OPTIONS) options: CodecPoolOptions | null = null) {
    this.size = Math.max(0, Math.floor(options?.threads ?? availableParallelism()));
    this.nice = options?.nice ?? 5;
    this.warmUpAtBoot = options?.warmUp ?? false;
    this.idleTimeoutMs = options?.idleTimeoutMs ?? 60_000;
    this.slots = new Array<Slot | undefined>(Math.max(1, this.size)).fill(undefined);
  }

  /** Worker threads this pool runs (0 = inline on the calling thread). */
  get threads(): number {
    return this.size;
  }

  open(codec: PooledCodec, sampleRate: number): CodecChannel {
    if (this.closed) throw new Error('codec pool is shut down');
    const slot = this.slotFor(codec);
    if (codec === 'opus' && !slot.opusReady) this.prepareOpus(slot);
    const weight = (CODEC_COST[codec] * sampleRate) / 24000;
    const channel = new PoolChannel(this.nextId++, slot, weight);
    slot.attach(channel, weight);
    slot.enqueue({ op: 'open', id: channel.id, codec, sampleRate });
    return channel;
  }

  /**
   * A stream is on its way (a session was created): starts one thread that is not running yet, so its
   * start-up (thread boot and LAME compile, ~40 ms) overlaps the client's WebSocket round trip instead of
   * delaying first audio. One per call: a lone session gets one thread booting alone (booting all at once
   * would slow that one down on a small machine), a burst gets every thread from its first sessions.
   * Threads started this way stop again after `idleTimeoutMs` without streams.
   */
  prepare(): void {
    if (this.closed) return;
    const missing = this.slots.findIndex((slot) => slot === undefined);
    if (missing >= 0) this.spawn(missing);
  }

  /** Starts every thread now and compiles the codecs (benchmarks; `warmUp: true` at bootstrap). */
  async warmUp(): Promise<void> {
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]) this.spawn(i);
    await this.stats(); // resolves once every thread has booted and answered
  }

  async stats(): Promise<CodecThreadStats[]> {
    const live = this.slots.filter((s): s is Slot => s !== undefined);
    return Promise.all(live.map((slot) => slot.stats(this.nextToken++)));
  }

  onApplicationBootstrap(): void {
    if (!this.warmUpAtBoot) return;
    this.warmUp().catch((error: unknown) => this.logger.warn(`codec warm-up failed: ${String(error)}`));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const shutdown = new Error('codec pool is shutting down');
    const live = this.slots.filter((s): s is Slot => s !== undefined);
    this.slots.fill(undefined);
    for (const slot of live) {
      clearTimeout(slot.idleTimer);
      slot.fail(shutdown);
    }
    await Promise.all(live.map((slot) => slot.link.terminate()));
  }

  private slotFor(codec: PooledCodec): Slot {
    if (this.size === 0) return this.slots[0] ?? this.spawn(0);
    if (codec === 'opus' && !this.opusOnEveryThread()) return this.slots[0] ?? this.spawn(0);
    let best = 0;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.slots.length; i++) {
      const load = this.slots[i]?.load ?? 0;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return this.slots[best] ?? this.spawn(best);
  }

  private spawn(index: number): Slot {
    const slot = this.size === 0 ? this.inlineSlot() : this.workerSlot(index);
    this.slots[index] = slot;
    // Compile LAME at once: the stream that made us start the thread waits for it anyway, and the next
    // ones find it ready (an MP3 open is then ~0.5 ms, mp3.codec.ts).
    slot.link.post({ type: 'warm-up', codecs: ['mp3'] }, []);
    this.scheduleRetire(slot); // cancelled by the first stream it gets
    return slot;
  }

  /**
   * Before a thread's first Opus stream: hands it its private addon copy (posted ahead of the stream's
   * open request, so no encoder on that thread exists before it). Threads that never encode Opus never
   * load the addon, and the copy is only made then.
   */
  private prepareOpus(slot: Slot): void {
    slot.opusReady = true;
    if (this.size === 0 || !this.opusOnEveryThread()) return; // the inline host uses the package's addon
    const file = this.opusAddons.forSlot(slot.index);
    if (file) slot.link.post({ type: 'opus-addon', file }, []);
    // A copy that failed for this slot alone (disk full): the thread then uses the package's addon, alone
    // among the threads, which is correct as long as that addon stays loaded here.
    else pinPackageOpus();
  }

  private opusOnEveryThread(): boolean {
    if (this.opusPerThread === undefined) {
      this.opusPerThread = this.opusAddons.perThread;
      if (!this.opusPerThread) {
        this.logger.warn(
          `Opus is limited to one codec thread: no private copy of its native addon (${String(this.opusAddons.error?.message)})`,
        );
        pinPackageOpus();
      }
    }
    return this.opusPerThread;
  }

  /** Stops a thread that has had no streams for `idleTimeoutMs` (started again when needed). */
  private scheduleRetire(slot: Slot): void {
    if (this.idleTimeoutMs <= 0 || this.size === 0 || this.closed) return;
    clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      if (slot.channels.size > 0 || this.slots[slot.index] !== slot) return;
      this.slots[slot.index] = undefined;
      slot.retired = true;
      slot.fail(new Error('codec thread stopped while idle'));
      void slot.link.terminate();
    }, this.idleTimeoutMs);
    slot.idleTimer.unref();
  }

  private inlineSlot(): Slot {
    let slot: Slot | undefined = undefined;
    const host = new CodecHost((replies) => {
      // Delivered on a later turn, like a worker's reply, so callers see the same ordering either way.
      setImmediate(() => slot?.receive({ type: 'replies', replies }));
    });
    const link: HostLink = {
      threadId: -1,
      post: (message) => {
        switch (message.type) {
          case 'batch':
            host.handle(message.requests);
            break;
          case 'warm-up':
            host
              .warmUp(message.codecs)
              .catch((error: unknown) => this.logger.warn(`warm-up failed: ${String(error)}`));
            break;
          case 'stats': {
            const reply: FromWorker = {
              type: 'stats',
              token: message.token,
              streams: host.streamCount,
              heapUsed: 0,
            };
            setImmediate(() => slot?.receive(reply));
            break;
          }
          case 'opus-addon':
            break; // inline, Opus uses the package's addon (never sent here)
        }
      },
      ref: () => undefined,
      unref: () => undefined,
      terminate: () => Promise.resolve(),
    };
    slot = new Slot(0, link);
    return slot;
  }

  private workerSlot(index: number): Slot {
    const ts = __filename.endsWith('.ts');
    const workerData: CodecWorkerData = {
      entry: join(__dirname, ts ? 'codec-worker.ts' : 'codec-worker.js'),
      tsNode: ts ? require.resolve('ts-node') : undefined,
      nice: this.nice,
    };
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData, name: `codec-${index}` });
    worker.unref();
    const slot = new Slot(
      index,
      {
        threadId: worker.threadId,
        post: (message, transfer) => worker.postMessage(message, transfer),
        ref: () => worker.ref(),
        unref: () => worker.unref(),
        terminate: () => worker.terminate(),
      },
      (idle) => this.scheduleRetire(idle),
    );
    worker.on('message', (message: FromWorker) => slot.receive(message));
    worker.on('error', (error) => (slot.lastError = error));
    worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private onExit(slot: Slot, code: number): void {
    clearTimeout(slot.idleTimer);
    if (this.slots[slot.index] === slot) this.slots[slot.index] = undefined;
    if (this.closed || slot.retired) return;
    const cause = slot.lastError ? `: ${slot.lastError.message}` : '';
    const error = new Error(`codec worker ${slot.link.threadId} died (exit code ${code})${cause}`);
    this.logger.error(`${error.message}; failing its ${slot.channels.size} stream(s)`);
    slot.fail(error);
  }
}
