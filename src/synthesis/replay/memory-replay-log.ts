import type { ReplayCursor, ReplayLog, ResumeRefusal, StreamEvent } from './replay-log';

export interface MemoryReplayLogOptions {
  /** Bytes of audio the log may hold (RESUME_BUFFER_BYTES); frames already read are dropped beyond it. */
  maxBytes: number;
  /** Unread bytes the producer may run ahead of a following reader (the socket's high-water mark). */
  followLagBytes: number;
  /** Called with the change in held bytes, for the process-wide gauge. */
  onBytes?: (delta: number) => void;
  /**
   * Called for every event appended, with its absolute index (0-based, in append order) and the index of
   * the oldest event still held: how a mirror (Redis Streams) keeps a copy that other replicas can read.
   */
  onAppend?: (event: StreamEvent, index: number, oldestIndex: number) => void;
  /**
   * Asked before the last event is merged with more audio (`tryMerge`): false when the mirror already
   * shipped it. Absent = always allowed.
   */
  onMerge?: (event: StreamEvent, index: number) => boolean;
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A reader elsewhere (another replica) reported its position less than this long ago: it counts as following. */
const REMOTE_READER_FRESH_MS = 3000;

/** The in-process replay log (see `ReplayLog`): an array of events with an offset for what was trimmed. */
export class MemoryReplayLog implements ReplayLog {
  private events: StreamEvent[] = [];
  /** Absolute index of events[0]. */
  private base = 0;
  private heldBytes = 0;
  private unreadBytes = 0;
  /** Absolute index up to which (exclusive) some reader has read; trimming never passes it. */
  private readUpTo = 0;
  private active: MemoryCursor | undefined;
  /** The last frame while merges grow it in place. */
  private growing: { index: number; buffer: Uint8Array } | undefined;
  /** performance.now() of the last position report of a reader on another replica. */
  private remoteSeenAt = -Infinity;
  private last = 0;
  private done = false;
  private disposed = false;
  private readers = new Set<() => void>();
  private roomWaiters = new Set<() => void>();

  constructor(
    readonly sessionId: string,
    private readonly options: MemoryReplayLogOptions,
  ) {}

  get lastSeq(): number {
    return this.last;
  }

  get oldestSeq(): number {
    for (const event of this.events) if (event.kind === 'audio') return event.seq;
    return this.last + 1;
  }

  get finished(): boolean {
    return this.done;
  }

  get bytes(): number {
    return this.heldBytes;
  }

  append(event: StreamEvent): Promise<void> {
    if (this.disposed || this.done) return Promise.resolve();
    this.sealGrowing();
    this.events.push(event);
    const index = this.base + this.events.length - 1;
    if (event.kind === 'audio') {
      this.last = event.seq;
      this.heldBytes += event.data.length;
      this.unreadBytes += event.data.length;
      this.options.onBytes?.(event.data.length);
    } else if (event.kind === 'eos' || event.kind === 'error') {
      this.done = true;
    }
    this.wake(this.readers);
    this.trim();
    this.options.onAppend?.(event, index, this.base);
    return Promise.resolve();
  }

  followedElsewhere(): boolean {
    return performance.now() - this.remoteSeenAt < REMOTE_READER_FRESH_MS;
  }

  /**
   * Coalescing: appends `data` to the last audio frame instead of making a new one, when no reader has
   * taken that frame yet and it stays within `maxBytes`. So chunks that are ready at the same time (the engine
   * ran ahead of the socket) leave as one message, one syscall, while a reader that waits still gets the
   * first chunk at once. Returns false when the data must be a frame of its own.
   */
  tryMerge(data: Uint8Array, audioMs: number, maxBytes: number): boolean {
    const lastIndex = this.base + this.events.length - 1;
    const last = this.events[this.events.length - 1];
    if (!last || last.kind !== 'audio' || this.done || this.disposed) return false;
    if (this.readUpTo > lastIndex || (this.active && this.active.index > lastIndex)) return false;
    const length = last.data.length + data.length;
    if (length > maxBytes) return false;
    // One buffer of maxBytes per frame being grown: each merge writes only the new bytes (O(n) overall).
    if (this.growing?.index !== lastIndex) {
      const buffer = new Uint8Array(maxBytes);
      buffer.set(last.data);
      this.growing = { index: lastIndex, buffer };
    }
    this.growing.buffer.set(data, last.data.length);
    const event: StreamEvent = {
      kind: 'audio',
      seq: last.seq,
      data: this.growing.buffer.subarray(0, length),
      audioMs,
    };
    if (this.options.onMerge && !this.options.onMerge(event, lastIndex)) return false;
    this.events[this.events.length - 1] = event;
    this.heldBytes += data.length;
    this.unreadBytes += data.length;
    this.options.onBytes?.(data.length);
    this.trim();
    return true;
  }

  /**
   * A reader on another replica (reading the mirror) has read up to `index` (exclusive): it counts for
   * backpressure and trimming like a local reader.
   */
  noteRemoteRead(index: number): void {
    this.remoteSeenAt = performance.now();
    if (index <= this.readUpTo) return;
    this.readUpTo = Math.min(index, this.base + this.events.length);
    if (!this.active) this.unreadBytes = this.bytesFrom(this.readUpTo);
    this.wakeRoom();
    this.trim();
  }

  waitForRoom(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.hasRoom() && !this.disposed) return;
        this.roomWaiters.delete(check);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.roomWaiters.delete(check);
        reject(signal.reason as Error);
      };
      this.roomWaiters.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  open(fromSeq: number): Promise<ReplayCursor | ResumeRefusal> {
    return Promise.resolve(this.openNow(fromSeq));
  }

  private openNow(fromSeq: number): ReplayCursor | ResumeRefusal {
    if (fromSeq > this.last + (this.done ? 0 : 1)) return 'beyond_end';
    let index: number;
    if (fromSeq > this.last) {
      index = this.base + this.events.length;
    } else {
      const at = this.events.findIndex(
        (e) => (e.kind === 'audio' || e.kind === 'switch') && e.seq >= fromSeq,
      );
      const first = this.events[at];
      if (
        at < 0 ||
        (first.kind === 'audio' && first.seq > fromSeq) ||
        (first.kind === 'switch' && first.seq > fromSeq)
      )
        return 'trimmed';
      index = this.base + at;
    }
    // Timings and marks since the last frame belong to the frame after them: a resume replays them too.
    while (index > this.base && isNote(this.events[index - this.base - 1])) index--;
    const cursor = new MemoryCursor(this, index);
    this.active = cursor;
    this.unreadBytes = this.bytesFrom(index);
    this.wakeRoom();
    return cursor;
  }

  detach(cursor: ReplayCursor): void {
    if (this.active !== cursor) return;
    this.active = undefined;
    this.unreadBytes = this.bytesFrom(this.readUpTo);
    this.wakeRoom();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.options.onBytes?.(-this.heldBytes);
    this.heldBytes = 0;
    this.events = [];
    this.wake(this.readers);
    this.wakeRoom();
  }

  /** @internal The event at absolute `index`, waiting for it; undefined after the final event. */
  async read(cursor: MemoryCursor, signal: AbortSignal): Promise<StreamEvent | undefined> {
    for (;;) {
      signal.throwIfAborted();
      if (this.disposed) return undefined;
      const offset = cursor.index - this.base;
      if (offset < 0) return undefined; // trimmed under a reader that was replaced
      if (offset < this.events.length) {
        const event = this.events[offset];
        cursor.index++;
        if (cursor === this.active) {
          if (event.kind === 'audio') this.unreadBytes -= event.data.length;
          this.readUpTo = Math.max(this.readUpTo, cursor.index);
          this.wakeRoom();
          this.trim();
        }
        return event;
      }
      if (this.done) return undefined;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.readers.delete(wake);
          reject(signal.reason as Error);
        };
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.readers.add(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      // Woken by new audio: past the first frame, let the producer finish this turn first, so chunks it
      // makes together are merged into one message (`tryMerge`) instead of one frame and syscall each.
      if (cursor.index > cursor.startIndex) await yieldTurn();
    }
  }

  /**
   * The frame that was grown by merges is final: keep only its bytes, not the whole growth buffer (one copy
   * per merged frame), so what RESUME_RETAINED_BYTES counts is what an ended stream holds.
   */
  private sealGrowing(): void {
    const growing = this.growing;
    if (!growing) return;
    this.growing = undefined;
    const offset = growing.index - this.base;
    const event = this.events[offset];
    if (
      event?.kind === 'audio' &&
      event.data.buffer === growing.buffer.buffer &&
      event.data.length < growing.buffer.length
    ) {
      this.events[offset] = { ...event, data: event.data.slice() };
    }
  }

  private hasRoom(): boolean {
    const following = this.active !== undefined || this.followedElsewhere();
    const limit = following ? this.options.followLagBytes : this.options.maxBytes;
    return this.unreadBytes <= limit;
  }

  /** Drops read frames from the front while the log holds more than its bound. */
  private trim(): void {
    let drop = 0;
    let freed = 0;
    while (
      drop < this.events.length &&
      this.base + drop < this.readUpTo &&
      this.heldBytes - freed > this.options.maxBytes
    ) {
      const event = this.events[drop];
      if (event.kind === 'audio') freed += event.data.length;
      drop++;
    }
    if (drop === 0) return;
    // In place: once the buffer is full this runs for nearly every frame, and V8 trims an array's front
    // without copying it (a `slice` would copy the whole log each time).
    this.events.splice(0, drop);
    this.base += drop;
    this.heldBytes -= freed;
    this.options.onBytes?.(-freed);
  }

  private bytesFrom(index: number): number {
    let total = 0;
    for (let i = Math.max(0, index - this.base); i < this.events.length; i++) {
      const event = this.events[i];
      if (event.kind === 'audio') total += event.data.length;
    }
    return total;
  }

  /** Room waiters re-check their own condition and leave the set only when satisfied. */
  private wakeRoom(): void {
    for (const check of [...this.roomWaiters]) check();
  }

  private wake(set: Set<() => void>): void {
    const waiting = [...set];
    set.clear();
    for (const fn of waiting) fn();
  }
}

class MemoryCursor implements ReplayCursor {
  readonly startIndex: number;

  constructor(
    private readonly log: MemoryReplayLog,
    public index: number,
  ) {
    this.startIndex = index;
  }

  next(signal: AbortSignal): Promise<StreamEvent | undefined> {
    return this.log.read(this, signal);
  }
}

/** A timings or mark event: it announces the audio after it. */
function isNote(event: StreamEvent | undefined): boolean {
  return event?.kind === 'timings' || event?.kind === 'mark';
}
