import { LookAheadBuffer } from '../common/look-ahead-buffer';
import type { AudioChunk } from './provider.contract';
import { DEFAULT_SEAM_SHAPER_OPTIONS, SeamShaper, type SeamShaperOptions } from './audio/seam-shaper';
import type { SegmentEnd, TextSegment } from './text/sentence-splitter';

/** Synthesizes one segment; must stop promptly when `signal` aborts. */
export type SegmentSynthesizer = (
  segment: TextSegment,
  index: number,
  signal: AbortSignal,
) => AsyncIterable<AudioChunk>;

export interface SentencePipelineOptions {
  /**
   * Segments synthesized ahead of the one being played (default 2). Memory is bounded by this many
   * segments' audio; engines that serialize requests gain nothing above 1.
   */
  lookAhead?: number;
  /** Speaking rate; pauses shrink or grow with it (default 1). */
  speed?: number;
  /** Trim/fade of each segment's edges; `false` passes audio through untouched (still pauses). */
  shaping?: SeamShaperOptions | false;
  /**
   * Bytes of PCM one look-ahead segment may hold before its engine call is paused (default 4 MiB, about 90 s
   * at 24 kHz): look-ahead must not turn a stalled consumer into unbounded memory.
   */
  maxBufferedBytes?: number;
  /** Called when the consumer reaches segment `index` (before its first chunk), for callers that track it. */
  onSegment?: (index: number) => void;
}

/**
 * Pause inserted after a segment, by how it ends, at speed 1. Engines trim most of their own edge silence
 * (we trim the rest), so these are the whole gap between two segments: close to the pauses of read speech.
 */
export const PAUSE_MS: Readonly<Record<SegmentEnd, number>> = {
  period: 220,
  question: 260,
  exclamation: 260,
  ellipsis: 380,
  clause: 120,
  none: 40,
};

export const DEFAULT_LOOK_AHEAD = 2;
export const DEFAULT_MAX_BUFFERED_BYTES = 4 << 20;
/** Pauses are emitted in pieces no longer than this, like an engine's chunks. */
const PAUSE_CHUNK_MS = 100;

/**
 * Synthesizes segments in order with a bounded look-ahead and yields one continuous utterance:
 * segment i streams to the consumer as soon as it produces audio, while segments i+1..i+lookAhead are
 * synthesized concurrently into memory. So the first audio of a long text comes as soon as the first
 * segment's, and later segments are (usually) ready when their turn comes.
 *
 * Each segment's edges are trimmed and faded (`SeamShaper`), and a pause scaled by its final punctuation
 * and the speed is inserted between segments, so seams neither click nor vary with engine padding.
 * Aborting `signal`, an error, or the consumer stopping early aborts every in-flight segment and waits for
 * them to settle, so no process or socket outlives the call.
 */
export async function* synthesizeSegments(
  segments: readonly TextSegment[],
  synthesize: SegmentSynthesizer,
  signal: AbortSignal,
  options: SentencePipelineOptions = {},
): AsyncGenerator<AudioChunk> {
  signal.throwIfAborted();
  const lookAhead = Math.max(0, options.lookAhead ?? DEFAULT_LOOK_AHEAD);
  const speed = options.speed && options.speed > 0 ? options.speed : 1;
  const shaping = options.shaping === undefined ? DEFAULT_SEAM_SHAPER_OPTIONS : options.shaping;
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;

  const inner = new AbortController();
  const forward = () => inner.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  const jobs: (LookAheadBuffer<AudioChunk> | undefined)[] = [];
  const settled: Promise<void>[] = [];
  const startUpTo = (last: number) => {
    for (let i = jobs.length; i <= Math.min(last, segments.length - 1); i++) {
      const segment = segments[i];
      const index = i;
      const job = new LookAheadBuffer<AudioChunk>(
        (signal) => synthesize(segment, index, signal),
        inner.signal,
        {
          maxBytes: maxBufferedBytes,
          sizeOf: (chunk) => chunk.pcm.byteLength,
          keep: (chunk) => chunk.pcm.length > 0,
        },
      );
      jobs.push(job);
      settled.push(job.settled);
    }
  };

  try {
    for (let i = 0; i < segments.length; i++) {
      startUpTo(i + lookAhead);
      const job = jobs[i] as LookAheadBuffer<AudioChunk>;
      options.onSegment?.(i);
      let shaper: SeamShaper | undefined;
      let producedAt: number | undefined;
      for await (const chunk of job.items()) {
        if (shaping && shaper?.sampleRate !== chunk.sampleRate) {
          // A rate change inside a segment (never seen in practice): close the old shaper cleanly.
          if (shaper) yield* nonEmpty(shaper.finish(), shaper.sampleRate);
          shaper = new SeamShaper(chunk.sampleRate, shaping);
        }
        const pcm = shaper ? shaper.push(chunk.pcm) : chunk.pcm;
        if (pcm.length > 0) producedAt = chunk.sampleRate;
        yield* nonEmpty(pcm, chunk.sampleRate);
      }
      const tail = shaper?.finish();
      if (shaper && tail && tail.length > 0) {
        producedAt = shaper.sampleRate;
        yield { pcm: tail, sampleRate: shaper.sampleRate };
      }
      // The pause goes out right away (more audio buffered at the client while the next segment may still
      // be rendering), never after the last segment, and not after a segment that said nothing.
      if (producedAt !== undefined && i < segments.length - 1) {
        yield* silence(Math.round((producedAt * PAUSE_MS[segments[i].end]) / 1000 / speed), producedAt);
      }
      jobs[i] = undefined; // consumed: let its buffers go
    }
  } catch (error) {
    throw signal.aborted ? signal.reason : error;
  } finally {
    signal.removeEventListener('abort', forward);
    if (!inner.signal.aborted) inner.abort(new Error('sentence pipeline stopped'));
    await Promise.allSettled(settled);
  }
}

function* nonEmpty(pcm: Int16Array, sampleRate: number): Generator<AudioChunk> {
  if (pcm.length > 0) yield { pcm, sampleRate };
}

function* silence(samples: number, sampleRate: number): Generator<AudioChunk> {
  const max = Math.max(1, Math.round((sampleRate * PAUSE_CHUNK_MS) / 1000));
  for (let left = samples; left > 0; left -= max) {
    yield { pcm: new Int16Array(Math.min(max, left)), sampleRate };
  }
}
