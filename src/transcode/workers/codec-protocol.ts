import type { PooledCodec } from '../codecs/codec.types';

/**
 * Messages between CodecWorkerPool (main thread) and a codec worker. Requests travel in batches (one
 * postMessage per event-loop turn per worker, not one per chunk) and their PCM buffers are transferred,
 * not copied. Each `encode`/`flush` gets exactly one reply, in order per stream; `open`/`close` get none
 * (a failed open surfaces as the error of the stream's next request).
 */
export type CodecRequest =
  | { readonly op: 'open'; readonly id: number; readonly codec: PooledCodec; readonly sampleRate: number }
  | { readonly op: 'encode'; readonly id: number; readonly pcm: Int16Array }
  | { readonly op: 'flush'; readonly id: number }
  | { readonly op: 'close'; readonly id: number };

export interface CodecReply {
  readonly id: number;
  readonly bytes?: Uint8Array;
  readonly error?: string;
}

export type ToWorker =
  | { readonly type: 'batch'; readonly requests: readonly CodecRequest[] }
  /** Load the codec modules now so the first stream does not pay for it. */
  | { readonly type: 'warm-up'; readonly codecs: readonly PooledCodec[] }
  | { readonly type: 'stats'; readonly token: number }
  /** Encode Opus with this private copy of the native addon (opus-binding.ts); sent before any Opus open. */
  | { readonly type: 'opus-addon'; readonly file: string };

export type FromWorker =
  | { readonly type: 'replies'; readonly replies: readonly CodecReply[] }
  | { readonly type: 'stats'; readonly token: number; readonly streams: number; readonly heapUsed: number };

/** What the pool passes as `workerData`. */
export interface CodecWorkerData {
  readonly entry: string;
  /** Set when running from TypeScript sources (ts-jest, ts-node): the worker registers ts-node itself. */
  readonly tsNode?: string;
  /** Lower the worker thread's scheduling priority (Linux nice value), so the event loop wins the CPU. */
  readonly nice?: number;
}
