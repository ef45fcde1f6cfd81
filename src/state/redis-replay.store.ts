import { Logger } from '@nestjs/common';
import type { Gauge } from 'prom-client';
import { ErrorCode } from '../common/errors/error-codes';
import type { StreamingConfig } from '../config/configuration';
import type { ProviderId } from '../providers/provider.contract';
import { MemoryReplayLog } from '../synthesis/replay/memory-replay-log';
import type { ReplayCursor, ReplayLog, ResumeRefusal, StreamEvent } from '../synthesis/replay/replay-log';
import { ReplayStore } from '../synthesis/replay/replay-store';
import { RetainedLogs } from '../synthesis/replay/retained-logs';
import { GatewayException } from '../common/errors/gateway.exception';
import type { BlockingConnection, RedisService } from './redis.service';

/** The producer renews its lease this often; a reader that finds it gone declares the stream lost. */
const LEASE_MS = 3000;
const LEASE_RENEW_MS = 1000;
/** Pending mirror writes are sent together at most this often (one pipeline per batch). */
const MIRROR_FLUSH_MS = 10;
/** A remote reader reports its position this often (the producer's backpressure). */
const PROGRESS_EVERY_MS = 200;
const READ_BLOCK_MS = 1000;
/** A reader without a blocking connection of its own (all taken) polls the stream this often. */
const POLL_MS = 100;
/**
 * How long a resume on another replica waits for the mirror to ship frames its client already read. Longer
 * than the lease: a producer that died in the meantime is known to be gone (its lease lapsed) within it.
 */
const MIRROR_CATCH_UP_MS = LEASE_MS + 1000;
const CATCH_UP_POLL_MS = 25;
/** A mirror batch that failed is sent again this often, until Redis takes it. */
const MIRROR_RETRY_MS = 250;
/** A mirror that cannot write for this long gives up: the stream is marked as having a hole. */
const MIRROR_GIVE_UP_MS = 30_000;

export function audioStreamKey(sessionId: string): string {
  return `tts:{${sessionId}}:audio`;
}

function ownerKey(sessionId: string): string {
  return `tts:{${sessionId}}:owner`;
}

/** Set when a producer's mirror lost events (Redis was unavailable too long): its stream has a hole. */
function gapKey(sessionId: string): string {
  return `tts:{${sessionId}}:gap`;
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
 * (the documented outcome: the audio Redis held has been replayed, the rest is not produced again). The
 * mirror trails the producer's own socket by a few milliseconds, so a client that resumes from the frame
 * after the last it got may ask for frames Redis does not hold yet: while the lease lives the resume waits
 * for them; once it lapsed they are lost with the producer, and the answer is `stream_lost` too.
 *
 * A batch Redis did not take (down, no reply) is sent again until it lands, so a blip leaves no hole. A
 * mirror that cannot write for MIRROR_GIVE_UP_MS or past the log's byte bound gives up and marks the stream
 * (`tts:{<id>}:gap`): a resume elsewhere then gets `resume_unavailable` instead of audio with a hole in it.
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
    const mirror = new Mirror(sessionId, this.redis, this.config.resumeWindowSeconds, maxBytes, this.logger);
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
    entry.expiry = setTimeout(() => this.dropLocal(sessionId, true), Math.max(windowMs, 0)).unref();
    // Past the budget the local copies go first; Redis still holds the audio for a resume.
    for (const evicted of this.retained.add(sessionId, log.bytes)) this.dropLocal(evicted);
  }

  drop(sessionId: string): void {
    const entry = this.local.get(sessionId);
    this.dropLocal(sessionId, true);
    if (entry || this.redis.usable) {
      void this.redis
        .run('replay_drop', (c) => c.del([audioStreamKey(sessionId), ownerKey(sessionId), gapKey(sessionId)]))
        .catch(() => undefined);
    }
  }

  /**
   * Forgets the local copy. `abandon`: the stream's resume window is over (or it was deleted), so writes
   * the mirror still owes Redis are dropped too; otherwise (the retained budget) the mirror finishes them.
   */
  private dropLocal(sessionId: string, abandon = false): void {
    const entry = this.local.get(sessionId);
    if (!entry) return;
    this.retained.remove(sessionId);
    clearTimeout(entry.expiry);
    if (abandon) entry.mirror.abandon();
    else entry.mirror.finish();
    entry.log.dispose();
    this.local.delete(sessionId);
  }
}

/**
 * Writes a local log's events to its Redis stream, in order, batched, and keeps the producer's lease.
 * Events stay pending until Redis acknowledged them; a failed batch is sent again (after asking Redis what
 * it already holds: a batch whose reply never came may have landed), so the stream never skips an event.
 */
class Mirror {
  /** Not yet acknowledged, in order. `sent`: it left at least once, so it may be in Redis and not change. */
  private pending: Array<{ event: StreamEvent; index: number; sent: boolean }> = [];
  private pendingBytes = 0;
  private oldest = 0;
  private flushing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private finished = false;
  private abandoned = false;
  /** The last batch failed: ask Redis how far the stream got before sending more. */
  private resync = false;
  /** performance.now() of the first failure since the last success. */
  private failingSince: number | undefined;
  /** Gave up: events were lost; `marked` once the stream carries the gap mark. */
  private broken = false;
  private marked = false;
  private readonly lease: NodeJS.Timeout;

  constructor(
    private readonly sessionId: string,
    private readonly redis: RedisService,
    private readonly windowSeconds: number,
    /** Pending bytes past which the mirror gives up (the log's own bound). */
    private readonly maxPendingBytes: number,
    private readonly logger: Logger,
  ) {
    this.renewLease();
    this.lease = setInterval(() => this.renewLease(), LEASE_RENEW_MS).unref();
  }

  push(event: StreamEvent, index: number, oldest: number): void {
    this.oldest = oldest;
    if (event.kind === 'eos' || event.kind === 'error') clearInterval(this.lease);
    if (this.abandoned || this.broken) return;
    this.pending.push({ event, index, sent: false });
    this.pendingBytes += bytesOf(event);
    if (this.pendingBytes > this.maxPendingBytes)
      this.giveUp(`more than ${this.maxPendingBytes} bytes unsent`);
    this.schedule(MIRROR_FLUSH_MS);
  }

  /** Replaces a pending event that has not left yet; false when it already did. */
  replace(event: StreamEvent, index: number): boolean {
    const pending = this.pending.find((p) => p.index === index);
    if (!pending || pending.sent) return false;
    this.pendingBytes += bytesOf(event) - bytesOf(pending.event);
    pending.event = event;
    return true;
  }

  /** The stream is done here: no more lease renewals (what is pending is still written). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.lease);
  }

  /** Nobody can resume this stream any more: drop what is pending and stop writing. */
  abandon(): void {
    this.finish();
    this.abandoned = true;
    this.pending = [];
    this.pendingBytes = 0;
  }

  private schedule(ms: number): void {
    if (this.scheduled || this.abandoned) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.flushing = this.flushing.then(() => this.flush());
    }, ms).unref();
  }

  private renewLease(): void {
    if (!this.redis.usable) return;
    void this.redis
      .run('replay_lease', (c) => c.set(ownerKey(this.sessionId), this.redis.replicaId, { PX: LEASE_MS }))
      .catch(() => undefined);
  }

  private giveUp(why: string): void {
    if (this.broken) return;
    this.broken = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.logger.warn(
      `mirror of ${this.sessionId} gave up (${why}): a resume of this stream on another replica gets resume_unavailable`,
    );
  }

  private async flush(): Promise<void> {
    if (this.abandoned) return;
    if (this.broken) return this.markGap();
    if (this.pending.length === 0) return;
    const key = audioStreamKey(this.sessionId);
    const batch = this.pending.slice();
    const recovering = this.resync;
    try {
      if (!this.redis.usable) throw new Error(`Redis is ${this.redis.unreadyReason ?? 'unavailable'}`);
      if (this.resync) {
        const top = (await this.redis.runBinary('replay_resync', (c) =>
          c.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1']),
        )) as Entry[];
        const held = top?.length ? entryOf(top[0]).index : -1;
        this.acknowledge(held);
        batch.splice(0, batch.length, ...this.pending);
        this.resync = false;
      }
      for (const p of batch) p.sent = true;
      const done = batch.some(({ event }) => event.kind === 'eos' || event.kind === 'error');
      if (batch.length > 0) {
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
          // Back after a failure: the lease may have lapsed meanwhile; renew it with the first batch.
          else if (recovering && !this.finished)
            pipeline.set(ownerKey(this.sessionId), this.redis.replicaId, { PX: LEASE_MS });
          return pipeline.execAsPipeline();
        });
        this.acknowledge(batch[batch.length - 1].index);
      }
      this.failingSince = undefined;
      if (this.pending.length > 0) this.schedule(MIRROR_FLUSH_MS);
    } catch (error) {
      // Redis down or slow: this replica's own readers are served from memory; keep the batch for later.
      this.resync = true;
      this.failingSince ??= performance.now();
      this.logger.debug(
        `mirror of ${this.sessionId} failed, retrying: ${error instanceof Error ? error.message : String(error)}`,
      );
      if (performance.now() - this.failingSince > MIRROR_GIVE_UP_MS)
        this.giveUp(`Redis unavailable for ${MIRROR_GIVE_UP_MS / 1000} s`);
      this.schedule(MIRROR_RETRY_MS);
    }
  }

  /** Redis holds every event up to `index`: they are no longer pending. */
  private acknowledge(index: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n].index <= index) {
      this.pendingBytes -= bytesOf(this.pending[n].event);
      n++;
    }
    this.pending.splice(0, n);
  }

  /** Marks the stream as having a hole, retrying until Redis takes it (within the resume window). */
  private async markGap(): Promise<void> {
    if (this.marked) return;
    this.failingSince ??= performance.now();
    try {
      await this.redis.run('replay_gap', (c) =>
        c.set(gapKey(this.sessionId), '1', { PX: (this.windowSeconds + 600) * 1000 + 1000 }),
      );
      this.marked = true;
    } catch {
      if (performance.now() - this.failingSince < (this.windowSeconds + 600) * 1000) this.schedule(1000);
    }
  }
}

function bytesOf(event: StreamEvent): number {
  return event.kind === 'audio' ? event.data.byteLength : 64;
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

/** Whether a replica holds the session's producer lease (it is synthesizing), and whether the stream has a hole. */
async function producerState(
  sessionId: string,
  redis: RedisService,
): Promise<{ alive: boolean; gap: boolean }> {
  const [owner, gap] = await redis.run('replay_owner', (c) =>
    Promise.all([c.get(ownerKey(sessionId)), c.exists(gapKey(sessionId))]),
  );
  return { alive: owner !== null, gap: gap > 0 };
}

const streamLostMessage =
  'the replica producing this stream stopped before its end; the audio it had sent was replayed, the rest is lost — create a new session';

function gapError(sessionId: string): GatewayException {
  return new GatewayException(
    ErrorCode.ResumeUnavailable,
    `session ${sessionId} cannot be resumed on this replica: Redis was unavailable while it streamed, so the shared copy of its audio has a hole; create a new session`,
  );
}

/** Where the mirrored stream ends when it holds nothing at or past a requested seq. */
interface PastEnd {
  past: true;
  /** Seq of the last audio frame Redis holds (0: none). */
  lastSeq: number;
  /** The stream's final event (eos or error) is in Redis: no frame past it will ever come. */
  terminal: boolean;
}

function isPastEnd(found: ReplayCursor | 'trimmed' | PastEnd): found is PastEnd {
  return typeof found === 'object' && 'past' in found;
}

/** A session's replay log as another replica sees it: read-only, from its Redis stream. */
class RemoteReplayLog implements ReplayLog {
  private constructor(
    readonly sessionId: string,
    private readonly redis: RedisService,
    private readonly first: { index: number; event: StreamEvent },
    private last: { index: number; event: StreamEvent },
    private readonly gap: boolean,
  ) {}

  /** The log, once Redis holds some of it (waiting briefly while its producer has not mirrored any yet). */
  static async open(sessionId: string, redis: RedisService): Promise<RemoteReplayLog | undefined> {
    const deadline = performance.now() + MIRROR_CATCH_UP_MS;
    for (;;) {
      if (!redis.usable) return undefined;
      const key = audioStreamKey(sessionId);
      const [head, tail, state] = await Promise.all([
        redis.runBinary('replay_probe', (c) =>
          c.sendCommand(['XRANGE', key, '-', '+', 'COUNT', '1']),
        ) as Promise<Entry[]>,
        redis.runBinary('replay_probe', (c) =>
          c.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1']),
        ) as Promise<Entry[]>,
        producerState(sessionId, redis),
      ]);
      if (head?.length && tail?.length)
        return new RemoteReplayLog(sessionId, redis, entryOf(head[0]), entryOf(tail[0]), state.gap);
      if (state.gap) throw gapError(sessionId);
      if (performance.now() > deadline || !state.alive) return undefined;
      await sleep(MIRROR_FLUSH_MS * 2);
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
   * A cursor at `fromSeq`. The mirror ships a producer's frames every few milliseconds, so a client that
   * read frame N on the producing replica may ask here for N+1 before Redis has N. When Redis holds nothing
   * that far and the stream has no final event: while the producer holds its lease, wait (up to
   * MIRROR_CATCH_UP_MS, longer than a lease lives) for the mirror to catch up; once the lease is gone, the
   * producer died with frames Redis never got — `stream_lost`. Only a seq the producer never reached
   * within the wait (or past a finished stream's end) is `beyond_end` (`invalid_from_seq`).
   */
  async open(fromSeq: number): Promise<ReplayCursor | ResumeRefusal> {
    if (this.gap) throw gapError(this.sessionId);
    const deadline = performance.now() + MIRROR_CATCH_UP_MS;
    for (;;) {
      const found = await this.seek(fromSeq);
      if (!isPastEnd(found)) return found;
      if (found.terminal) return 'beyond_end';
      // Wait until the tail moves, then look again; meanwhile watch the lease.
      for (;;) {
        const state = await producerState(this.sessionId, this.redis);
        if (state.gap) throw gapError(this.sessionId);
        if (!state.alive) {
          // The lease may have been dropped by a producer that just wrote its final batch: one more look.
          const again = await this.seek(fromSeq);
          if (!isPastEnd(again)) return again;
          if (again.terminal) return 'beyond_end';
          throw new GatewayException(
            ErrorCode.StreamLost,
            `the replica producing session ${this.sessionId} stopped before its end, after sending frame ${fromSeq - 1} but before Redis held it; the rest of this stream is lost — create a new session`,
          );
        }
        if (performance.now() > deadline) return 'beyond_end';
        await sleep(CATCH_UP_POLL_MS);
        const tail = await this.tail();
        if (!tail) continue;
        this.last = tail;
        const e = tail.event;
        const moved = e.kind === 'eos' || e.kind === 'error' || ('seq' in e && e.seq >= fromSeq - 1);
        if (moved) break;
      }
    }
  }

  private async tail(): Promise<{ index: number; event: StreamEvent } | undefined> {
    const tail = (await this.redis.runBinary('replay_probe', (c) =>
      c.sendCommand(['XREVRANGE', audioStreamKey(this.sessionId), '+', '-', 'COUNT', '1']),
    )) as Entry[];
    return tail?.length ? entryOf(tail[0]) : undefined;
  }

  private async seek(fromSeq: number): Promise<ReplayCursor | 'trimmed' | PastEnd> {
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
        this.last = entry;
        if (e.kind === 'mark' || e.kind === 'timings') {
          notesFrom ??= entry.index;
          continue;
        }
        // The stream ended before fromSeq.
        if (e.kind !== 'audio' && e.kind !== 'switch')
          return { past: true, lastSeq: lastAudioSeq, terminal: true };
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
    if (fromSeq !== lastAudioSeq + 1) return { past: true, lastSeq: lastAudioSeq, terminal: false };
    return new RemoteCursor(
      this.sessionId,
      this.redis,
      notesFrom === undefined ? lastId : `${notesFrom + 1}-0`,
    );
  }

  /** The socket stopped reading: its cursor's connection is closed. */
  detach(cursor: ReplayCursor): void {
    if (cursor instanceof RemoteCursor) cursor.close();
  }

  dispose(): void {}
}

/**
 * Reads a session stream from Redis from an event index on, following the live rest: XREAD BLOCK on a
 * connection of its own (closed when the stream ends, the socket leaves or aborts), or polling on the
 * shared one when this replica has no blocking connection to spare.
 */
class RemoteCursor implements ReplayCursor {
  private buffered: Array<{ index: number; event: StreamEvent }> = [];
  /** The id after which to read next. */
  private after: string;
  private reportedAt = 0;
  private done = false;
  private readonly connection: BlockingConnection;

  /** `after`: the stream id after which reading starts (entries with a greater id are returned). */
  constructor(
    private readonly sessionId: string,
    private readonly redis: RedisService,
    after: string,
  ) {
    this.after = after;
    this.connection = redis.blockingConnection();
  }

  close(): void {
    this.connection.close();
  }

  async next(signal: AbortSignal): Promise<StreamEvent | undefined> {
    const key = audioStreamKey(this.sessionId);
    let idleSince = performance.now();
    for (;;) {
      signal.throwIfAborted();
      const entry = this.buffered.shift();
      if (entry) {
        this.after = `${entry.index + 1}-1`;
        this.report(entry.index + 1);
        if (entry.event.kind === 'eos' || entry.event.kind === 'error') {
          this.done = true;
          this.close();
        }
        return entry.event;
      }
      if (this.done) return undefined;
      const entries = await this.read(key, signal);
      if (entries.length > 0) {
        this.buffered.push(...entries.map(entryOf));
        idleSince = performance.now();
        continue;
      }
      if (performance.now() - idleSince < READ_BLOCK_MS) continue;
      idleSince = performance.now();
      // Nothing new for a second: is anyone still producing this stream, and is what Redis holds whole?
      const state = await producerState(this.sessionId, this.redis);
      if (state.gap) {
        this.done = true;
        this.close();
        const error = gapError(this.sessionId);
        return { kind: 'error', code: error.code, message: error.message };
      }
      if (!state.alive) {
        this.done = true;
        this.close();
        return { kind: 'error', code: ErrorCode.StreamLost, message: streamLostMessage };
      }
    }
  }

  /** New entries after `this.after`: waits up to READ_BLOCK_MS on the blocking connection, or POLL_MS polling. */
  private async read(key: string, signal: AbortSignal): Promise<Entry[]> {
    const args = ['XREAD', 'COUNT', '100', 'BLOCK', String(READ_BLOCK_MS), 'STREAMS', key, this.after];
    const blocked = await this.connection.send('replay_read', args, READ_BLOCK_MS, signal);
    const reply = blocked
      ? blocked.reply
      : await this.redis.runBinary('replay_poll', (c) =>
          c.sendCommand(['XREAD', 'COUNT', '100', 'STREAMS', key, this.after]),
        );
    const entries = entriesOf(reply as XReadReply);
    if (!blocked && entries.length === 0) await sleep(POLL_MS, signal);
    return entries;
  }

  /** Tells the producer how far this reader got, at most every PROGRESS_EVERY_MS. */
  private report(index: number): void {
    const now = performance.now();
    if (now - this.reportedAt < PROGRESS_EVERY_MS) return;
    this.reportedAt = now;
    void this.redis.publish({ t: 'progress', s: this.sessionId, index }).catch(() => undefined);
  }
}

type XReadReply = Record<string, Entry[]> | Array<[Buffer, Entry[]]> | null;

function entriesOf(reply: XReadReply): Entry[] {
  if (reply === null) return [];
  return Array.isArray(reply) ? (reply[0]?.[1] ?? []) : (Object.values(reply)[0] ?? []);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
