import type { ProviderId } from '../../providers/provider.contract';
import type { WordTiming } from '../../text/word-timings';

/**
 * What a session stream is made of, in order, as a replay log keeps it: audio frames numbered by `seq`
 * (1, 2, ...), in-band notices (a mid-stream provider switch before the fallback's first frame), and one
 * final event (eos totals or the error that ended it).
 */
export type StreamEvent =
  | { readonly kind: 'audio'; readonly seq: number; readonly data: Uint8Array; readonly audioMs: number }
  | {
      readonly kind: 'switch';
      /** The seq of the next audio frame (the fallback's first). */
      readonly seq: number;
      readonly from: ProviderId;
      readonly to: ProviderId;
      readonly textOffset: number;
    }
  | { readonly kind: 'mark'; readonly name: string; readonly startMs: number }
  | {
      readonly kind: 'timings';
      readonly words: readonly WordTiming[];
      readonly source: 'native' | 'estimated';
    }
  | { readonly kind: 'eos'; readonly totals: EosTotals }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

export interface EosTotals {
  chunks: number;
  bytes: number;
  audioDurationMs: number;
}

/** Why a read cannot start where the client asked. */
export type ResumeRefusal = 'trimmed' | 'beyond_end';

/** A reader's position in the log; `next` waits for the producer when it has read everything. */
export interface ReplayCursor {
  /** The next event, waiting for the producer if needed; undefined once the final event has been read. */
  next(signal: AbortSignal): Promise<StreamEvent | undefined>;
}

/**
 * The replay buffer of one session stream: the producer (the synthesis) appends, a reader (the client's
 * socket) follows, and a reader that lost its socket can start again from any retained seq.
 *
 * Bounded: the producer waits (`waitForRoom`) while more than `lagLimit` bytes are unread — the socket's
 * high-water mark while a reader follows, the whole buffer while nobody does — so a slow or absent client
 * pauses the engine instead of growing memory; frames already read are dropped oldest first once the log
 * holds more than its byte bound, and a resume from a dropped seq is refused (`trimmed`).
 *
 * This is the seam for several replicas: the in-memory log serves one process; a Redis Streams log (one
 * stream per session, the seq in each entry) implements the same contract so a resume can land anywhere.
 */
export interface ReplayLog {
  readonly sessionId: string;
  /** Seq of the last audio frame appended (0 before the first). */
  readonly lastSeq: number;
  /** Seq of the oldest audio frame still held (lastSeq + 1 when none is). */
  readonly oldestSeq: number;
  /** The final event has been appended. */
  readonly finished: boolean;
  /** Bytes of audio held. */
  readonly bytes: number;

  append(event: StreamEvent): Promise<void>;
  /** Merges audio into the last frame while nobody has read it (coalescing); false = append a new frame. */
  tryMerge?(data: Uint8Array, audioMs: number, maxBytes: number): boolean;
  /** Resolves when the producer may append more (see the class comment); rejects when `signal` aborts. */
  waitForRoom(signal: AbortSignal): Promise<void>;
  /**
   * A cursor at the first event of `fromSeq` (a switch notice announcing that seq included), or why not.
   * Only one cursor drives the producer's backpressure: opening a new one replaces the previous reader.
   */
  open(fromSeq: number): Promise<ReplayCursor | ResumeRefusal>;
  /** Whether a reader on another replica reported its position recently (shared logs only). */
  followedElsewhere?(): boolean;
  /** Marks that no reader follows (the socket closed); the producer may then run ahead up to the bound. */
  detach(cursor: ReplayCursor): void;
  /** Frees everything; pending waits end. */
  dispose(): void;
}
