import { Logger } from '@nestjs/common';
import type { Gauge } from 'prom-client';
import { ErrorCode } from '../common/errors/error-codes';
import type { StreamingConfig } from '../config/configuration';
import type { ProviderId } from '../providers/provider.contract';
import { MemoryReplayLog } from '../synthesis/replay/memory-replay-log';
import type { ReplayCursor, ReplayLog, ResumeRefusal, StreamEvent } from '../synthesis/replay/replay-log';
import { ReplayStore } from '../synthesis/replay/replay-store';
import { RetainedLogs } from '../synthesis/replay/retained-logs';
import type { RedisService } from './redis.service';

/** The producer renews its lease this often; a reader that finds it gone declares the stream lost. */
const LEASE_MS = 3000;
const LEASE_RENEW_MS = 1000;
/** Pending mirror writes are sent together at most this often (one pipeline per batch). */
const MIRROR_FLUSH_MS = 10;
/** A remote reader reports its position this often (the producer's backpressure). */
const PROGRESS_EVERY_MS = 200;
const READ_BLOCK_MS = 1000;
/** How long a resume on another replica waits for the mirror to ship frames its client already read. */
const MIRROR_CATCH_UP_MS = 1000;

export function audioStreamKey(sessionId: string): string {
  return `tts:{${sessionId}}:audio`;
}

function ownerKey(sessionId: string): string {
  return `tts:{${sessionId}}:owner`;
}

/**
 * Replay logs shared through Redis Streams: one stream per session (`tts:{<id>}:audio`), one entry per
 * event with the seq in it, trimmed (MINID) with the in-memory log it mirrors. The replica that synthesizes
 * keeps the log in memory (its own readers never touch Redis) and mirrors every event in batches; a resume
 * on any other replica reads the stream (XRANGE for the past, XREAD BLOCK for the live rest) and reports its
 * position on the control channel, which the producer counts for backpressure like a local reader.
 *
 * The producer holds a lease (`tts:{<id>}:owner`, renewed every second): a reader that finds the stream
 * unfinished and the lease gone knows the producing replica died and ends the stream with `stream_lost`
 * (the documented outcome: the audio Redis held has been replayed, the rest is not produced again).
 */
export class RedisReplayStore extends ReplayStore {
  private readonly logger = new Logger('RedisReplay');
  private readonly local = new Map<
    string,
    { log: MemoryReplayLog; mirror: Mirror; expiry?: NodeJS.Timeout }
  >();
  private readonly retained: RetainedLogs;

  constructor(
    private readonly redis: RedisService,
    private readonly config: StreamingConfig,
    private readonly gauge: Gauge<string>,
  ) {
    super();
    this.retained = new RetainedLogs(config.resumeRetainedBytes);
    redis.onControl((message) => {
      if (message.t === 'progress') this.local.get(message.s)?.log.noteRemoteRead(message.index);
    });
  }

  create(sessionId: string): ReplayLog {
    this.drop(sessionId);
    const maxBytes = this.config.resumeBufferBytes || this.config.sendHighWaterBytes;
    const mirror = new Mirror(sessionId, this.redis, this.config.resumeWindowSeconds, this.logger);
    const log = new MemoryReplayLog(sessionId, {
      maxBytes,
      followLagBytes: Math.min(this.config.sendHighWaterBytes, maxBytes),
      onBytes: (delta) => this.gauge.inc(delta),
      onAppend: (event, index, oldest) => mirror.push(event, index, oldest),
      onMerge: (event, index) => mirror.replace(event, index),
    });
    this.local.set(sessionId, { log, mirror });
    return log;
  }

  async get(sessionId: string): Promise<ReplayLog | undefined> {
    const local = this.local.get(sessionId);
    if (local) return local.log;
    return RemoteReplayLog.open(sessionId, this.redis);
  }

  retire(sessionId: string, log: ReplayLog): void {
    const entry = this.local.get(sessionId);
    if (!entry || entry.log !== log) {
      log.dispose();
      return;
    }
    entry.mirror.finish();
    clearTimeout(entry.expiry);
    const windowMs = this.config.resumeWindowSeconds * 1000;
    entry.expiry = setTimeout(() => this.dropLocal(sessionId), Math.max(windowMs, 0)).unref();
    // Past the budget the local copies go first; Redis still holds the audio for a resume.
    for (const evicted of this.retained.add(sessionId, log.bytes)) this.dropLocal(evicted);
  }

  drop(sessionId: string): void {
    const entry = this.local.get(sessionId);
    this.dropLocal(sessionId);
    if (entry || this.redis.ready) {
      void this.redis
        .run('replay_drop', (c) => c.del([audioStreamKey(sessionId), ownerKey(sessionId)]))
        .catch(() => undefined);
    }
  }

  private dropLocal(sessionId: string): void {
    const entry = this.local.get(sessionId);
    if (!entry) return;
    this.retained.remove(sessionId);
    clearTimeout(entry.expiry);
    entry.mirror.finish();
    entry.log.dispose();
    this.local.delete(sessionId);
  }
}

/** Writes a local log's events to its Redis stream, in order, batched, and keeps the producer's lease. */
class Mirror {
  private pending: Array<{ event: StreamEvent; index: number }> = [];
  private oldest = 0;
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private finished = false;
  private readonly lease: NodeJS.Timeout;

  constructor(
    private readonly sessionId: string,
    private readonly redis: RedisService,
    private readonly windowSeconds: number,
    private readonly logger: Logger,
  ) {
    this.renewLease();
    this.lease = setInterval(() => this.renewLease(), LEASE_RENEW_MS).unref();
  }

  push(event: StreamEvent, index: number, oldest: number): void {
    this.pending.push({ event, index });
    this.oldest = oldest;
    if (event.kind === 'eos' || event.kind === 'error') clearInterval(this.lease);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.flushing = this.flushing.then(() => this.flush());
    }, MIRROR_FLUSH_MS).unref();
  }

  /** Replaces a pending (not yet shipped) event; false when it already left. */
  replace(event: StreamEvent, index: number): boolean {
    const pending = this.pending.find((p) => p.index === index);
    if (!pending) return false;
    pending.event = event;
    return true;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.lease);
  }

  private renewLease(): void {
    if (!this.redis.ready) return;
    void this.redis
      .run('replay_lease', (c) => c.set(ownerKey(this.sessionId), this.redis.replicaId, { PX: LEASE_MS }))
      .catch(() => undefined);
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0 || !this.redis.ready) return;
    const key = audioStreamKey(this.sessionId);
    const done = batch.some(({ event }) => event.kind === 'eos' || event.kind === 'error');
    try {
      await this.redis.run('replay_append', (c) => {
        const pipeline = c.multi();
        for (const { event, index } of batch) {
          pipeline.addCommand([
            'XADD',
            key,
            'MINID',
            '~',
            `${this.oldest + 1}-0`,
            `${index + 1}-1`,
            ...fieldsOf(event),
          ]);
        }
        // While streaming the stream lives as long as a resume might need it; once done, for the window.
        pipeline.pExpire(key, (done ? this.windowSeconds : this.windowSeconds + 600) * 1000 + 1000);
        if (done) pipeline.del(ownerKey(this.sessionId));
        return pipeline.execAsPipeline();
      });
    } catch (error) {
      // Redis is down: this replica's own readers are served from memory; a resume elsewhere cannot be.
      this.logger.debug(
        `mirror of ${this.sessionId} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

function fieldsOf(event: StreamEvent): Array<string | Buffer> {
  switch (event.kind) {
    case 'audio':
      return [
        'k',
        'audio',
        'seq',
        String(event.seq),
        'ms',
        String(event.audioMs),
        'd',
        // A view, not a copy: a frame's bytes never change once it is in the log (merges only append past
        // the length of the frame the mirror holds).
        Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength),
      ];
    case 'switch':
      return [
        'k',
        'switch',
        'seq',
        String(event.seq),
        'from',
        event.from,
        'to',
        event.to,
        'off',
        String(event.textOffset),
      ];
    case 'mark':
      return ['k', 'mark', 'name', event.name, 'ms', String(event.startMs)];
    case 'timings':
      return ['k', 'timings', 'words', JSON.stringify(event.words), 'source', event.source];
    case 'eos':
      return ['k', 'eos', 'totals', JSON.stringify(event.totals)];
    case 'error':
      return ['k', 'error', 'code', event.code, 'msg', event.message];
  }
}

type Entry = [Buffer, Buffer[]];

function entryOf(raw: Entry): { index: number; event: StreamEvent } {
  const id = raw[0].toString('latin1');
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < raw[1].length; i += 2) fields.set(raw[1][i].toString('latin1'), raw[1][i + 1]);
  const text = (name: string) => fields.get(name)?.toString('utf8') ?? '';
  const index = Number(id.split('-')[0]) - 1;
  switch (text('k')) {
    case 'audio':
      return {
        index,
        event: {
          kind: 'audio',
          seq: Number(text('seq')),
          audioMs: Number(text('ms')),
          data: new Uint8Array(fields.get('d') ?? Buffer.alloc(0)),
        },
      };
    case 'switch':
      return {
        index,
        event: {
          kind: 'switch',
          seq: Number(text('seq')),
          from: text('from') as ProviderId,
          to: text('to') as ProviderId,
          textOffset: Number(text('off')),
        },
      };
    case 'mark':
      return { index, event: { kind: 'mark', name: text('name'), startMs: Number(text('ms')) } };
    case 'timings':
      return {
        index,
        event: {
          kind: 'timings',
          words: JSON.parse(text('words')) as never,
          source: text('source') as 'native',
        },
      };
    case 'eos':
      return { index, event: { kind: 'eos', totals: JSON.parse(text('totals')) as never } };
    default:
      return { index, event: { kind: 'error', code: text('code'), message: text('msg') } };
  }
}

/** Whether a replica holds the session's producer lease (it is synthesizing the stream). */
async function producing(sessionId: string, redis: RedisService): Promise<boolean> {
  return (await redis.run('replay_owner', (c) => c.get(ownerKey(sessionId)))) !== null;
}

/** A session's replay log as another replica sees it: read-only, from its Redis stream. */
class RemoteReplayLog implements ReplayLog {
  private constructor(
    readonly sessionId: string,
    private readonly redis: RedisService,
    private readonly first: { index: number; event: StreamEvent },
    private readonly last: { index: number; event: StreamEvent },
  ) {}

  /** The log, once Redis holds some of it (waiting briefly while its producer has not mirrored any yet). */
  static async open(sessionId: string, redis: RedisService): Promise<RemoteReplayLog | undefined> {
    const deadline = performance.now() + MIRROR_CATCH_UP_MS;
    for (;;) {
      if (!redis.ready) return undefined;
      const key = audioStreamKey(sessionId);
      const [head, tail] = await redis.runBinary('replay_probe', async (c) =>
        Promise.all([
          c.sendCommand(['XRANGE', key, '-', '+', 'COUNT', '1']) as Promise<Entry[]>,
          c.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1']) as Promise<Entry[]>,
        ]),
      );
      if (head?.length && tail?.length)
        return new RemoteReplayLog(sessionId, redis, entryOf(head[0]), entryOf(tail[0]));
      if (performance.now() > deadline || !(await producing(sessionId, redis))) return undefined;
      await new Promise((resolve) => setTimeout(resolve, MIRROR_FLUSH_MS * 2));
    }
  }

  get lastSeq(): number {
    const e = this.last.event;
    return e.kind === 'audio' || e.kind === 'switch' ? e.seq : Number.MAX_SAFE_INTEGER;
  }

  get oldestSeq(): number {
    const e = this.first.event;
    return e.kind === 'audio' || e.kind === 'switch' ? e.seq : 1;
  }

  get finished(): boolean {
    return this.last.event.kind === 'eos' || this.last.event.kind === 'error';
  }

  get bytes(): number {
    return 0;
  }

  append(): Promise<void> {
    return Promise.reject(new Error('a remote replay log is read-only'));
  }

  waitForRoom(): Promise<void> {
    return Promise.reject(new Error('a remote replay log is read-only'));
  }

  /**
   * The mirror ships a producer's frames every few milliseconds, so a client that read frame N on the
   * producing replica may ask here for N+1 before Redis has N: while the producer holds its lease, wait a
   * moment for the mirror to catch up before calling the request beyond the end.
   */
  async open(fromSeq: number): Promise<ReplayCursor | ResumeRefusal> {
    const deadline = performance.now() + MIRROR_CATCH_UP_MS;
    for (;;) {
      const opened = await this.seek(fromSeq);
      if (opened !== 'beyond_end' || performance.now() > deadline) return opened;
      // The producer let go of its lease: it ended, and its last batch (written before) is all there is.
      if (!(await producing(this.sessionId, this.redis))) return this.seek(fromSeq);
      await new Promise((resolve) => setTimeout(resolve, MIRROR_FLUSH_MS * 2));
    }
  }

  private async seek(fromSeq: number): Promise<ReplayCursor | ResumeRefusal> {
    const key = audioStreamKey(this.sessionId);
    let start = '-';
    let lastAudioSeq = 0;
    let lastId = '0-0';
    // Timings and marks since the last frame belong to the frame after them: a resume replays them too.
    let notesFrom: number | undefined;
    for (;;) {
      const batch = (await this.redis.runBinary('replay_seek', (c) =>
        c.sendCommand(['XRANGE', key, start, '+', 'COUNT', '200']),
      )) as Entry[];
      if (!batch?.length) break;
      for (const raw of batch) {
        const entry = entryOf(raw);
        const e = entry.event;
        lastId = raw[0].toString('latin1');
        if (e.kind === 'mark' || e.kind === 'timings') {
          notesFrom ??= entry.index;
          continue;
        }
        if (e.kind !== 'audio' && e.kind !== 'switch') return 'beyond_end'; // the stream ended before fromSeq
        if (e.seq >= fromSeq) {
          // The first entry held is already past it: the frames before were trimmed.
          if (e.seq > fromSeq && lastAudioSeq === 0) return 'trimmed';
          return new RemoteCursor(this.sessionId, this.redis, `${(notesFrom ?? entry.index) + 1}-0`);
        }
        if (e.kind === 'audio') lastAudioSeq = e.seq;
        notesFrom = undefined;
      }
      start = `(${lastId}`;
    }
    // Nothing at or past fromSeq yet: the stream is live and the client has everything so far.
    if (fromSeq !== lastAudioSeq + 1) return 'beyond_end';
    return new RemoteCursor(
      this.sessionId,
      this.redis,
      notesFrom === undefined ? lastId : `${notesFrom + 1}-0`,
    );
  }

  detach(): void {}

  dispose(): void {}
}

/** Reads a session stream from Redis from an event index on, following the live rest. */
class RemoteCursor implements ReplayCursor {
  private buffered: Array<{ index: number; event: StreamEvent }> = [];
  /** The id after which to read next. */
  private after: string;
  private reportedAt = 0;
  private done = false;

  /** `after`: the stream id after which reading starts (entries with a greater id are returned). */
  constructor(
    private readonly sessionId: string,
    private readonly redis: RedisService,
    after: string,
  ) {
    this.after = after;
  }

  async next(signal: AbortSignal): Promise<StreamEvent | undefined> {
    const key = audioStreamKey(this.sessionId);
    for (;;) {
      signal.throwIfAborted();
      const entry = this.buffered.shift();
      if (entry) {
        this.after = `${entry.index + 1}-1`;
        this.report(entry.index + 1);
        if (entry.event.kind === 'eos' || entry.event.kind === 'error') this.done = true;
        return entry.event;
      }
      if (this.done) return undefined;
      const reply = (await this.redis.runBinary('replay_read', (c) =>
        c.sendCommand(['XREAD', 'COUNT', '100', 'BLOCK', String(READ_BLOCK_MS), 'STREAMS', key, this.after]),
      )) as Record<string, Entry[]> | Array<[Buffer, Entry[]]> | null;
      const entries =
        reply === null ? [] : Array.isArray(reply) ? (reply[0]?.[1] ?? []) : (Object.values(reply)[0] ?? []);
      if (entries.length > 0) {
        this.buffered.push(...entries.map(entryOf));
        continue;
      }
      // Nothing new for a second: is anyone still producing this stream?
      if (!(await producing(this.sessionId, this.redis))) {
        this.done = true;
        return {
          kind: 'error',
          code: ErrorCode.StreamLost,
          message:
            'the replica producing this stream stopped before its end; the audio it had sent was replayed, the rest is lost — create a new session',
        };
      }
    }
  }

  /** Tells the producer how far this reader got, at most every PROGRESS_EVERY_MS. */
  private report(index: number): void {
    const now = performance.now();
    if (now - this.reportedAt < PROGRESS_EVERY_MS) return;
    this.reportedAt = now;
    void this.redis.publish({ t: 'progress', s: this.sessionId, index }).catch(() => undefined);
  }
}
