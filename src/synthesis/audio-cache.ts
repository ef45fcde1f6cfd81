import { Inject, Injectable } from '@nestjs/common';
import { registerAs } from '@nestjs/config';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { LRUCache } from 'lru-cache';
import { createHash } from 'node:crypto';
import type { Counter, Gauge } from 'prom-client';
import { countCharacters } from '../common/text/normalize-text';
import { int } from '../config/env-values';
import { METRIC } from '../metrics/metric-names';
import { concatPcm } from '../providers/audio/pcm';
import type { ProviderId } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import type { SynthesisPlan } from './synthesis.types';
import type { PcmPiece } from './tts.service';

export const cacheConfig = registerAs('cache', () => ({
  /** Total bytes of engine PCM kept; 0 turns the cache off. */
  maxBytes: int(process.env.CACHE_MAX_BYTES, 64 * 1024 * 1024),
  /** Largest single entry; longer utterances are not cached (and not joined). */
  maxEntryBytes: int(process.env.CACHE_MAX_ENTRY_BYTES, 8 * 1024 * 1024),
  ttlSeconds: int(process.env.CACHE_TTL_SECONDS, 3600),
}));
export type CacheConfig = ReturnType<typeof cacheConfig>;

/** A rough upper bound of the PCM an utterance makes (24 kHz s16, 100 ms per character at speed 1). */
const BYTES_PER_CHAR_AT_SPEED_1 = 0.1 * 24000 * 2;

/**
 * Stored audio is replayed in pieces of up to this much: engines hand over small chunks (the tone
 * generator 20 ms, 45 for a short reply), and every piece costs a trip through the async generators, the
 * resampler, the encoder and the stream's coalescing; a hit's audio is all there at once, so it goes in
 * fewer, larger pieces. Small enough that `pace: "realtime"` still runs at most this far past its lead.
 */
export const STORED_PIECE_MS = 200;

/**
 * The pieces a stored entry replays: runs of plain audio pieces (same provider and rate, no mark, timings or
 * switch) joined into pieces that ramp up — each at most as long as all the audio before it, and at most
 * {@link STORED_PIECE_MS}. The first piece stays as the engine made it and the next ones stay small, so a
 * hit's first audio is as quick as the engine's also where the encoder needs some audio before its first
 * output (an MP3 frame is 1152 samples); marks and timings keep their place.
 */
export function compactStoredPieces(pieces: readonly PcmPiece[]): PcmPiece[] {
  const out: PcmPiece[] = [];
  let run: PcmPiece[] = [];
  let runSamples = 0;
  let runLimit = 0;
  /** Milliseconds of audio in `out`. */
  let doneMs = 0;
  const flush = () => {
    if (run.length === 1) out.push(run[0]);
    else if (run.length > 1) {
      const { provider, chunk } = run[0];
      out.push({
        provider,
        chunk: { sampleRate: chunk.sampleRate, pcm: concatPcm(run.map((p) => p.chunk.pcm)) },
      });
    }
    if (run.length > 0) doneMs += (runSamples * 1000) / run[0].chunk.sampleRate;
    run = [];
    runSamples = 0;
  };
  pieces.forEach((piece, index) => {
    const { pcm, sampleRate } = piece.chunk;
    const plain =
      index > 0 &&
      piece.switched === undefined &&
      piece.mark === undefined &&
      piece.timings === undefined &&
      pcm.length > 0;
    if (!plain) {
      flush();
      out.push(piece);
      doneMs += (pcm.length * 1000) / sampleRate;
      return;
    }
    const first = run[0];
    if (
      first &&
      (first.provider !== piece.provider ||
        first.chunk.sampleRate !== sampleRate ||
        runSamples + pcm.length > runLimit)
    )
      flush();
    if (run.length === 0) runLimit = (sampleRate * Math.min(STORED_PIECE_MS, doneMs)) / 1000;
    run.push(piece);
    runSamples += pcm.length;
  });
  flush();
  return out;
}

/** One utterance's engine PCM, complete or still being synthesized (then joinable). */
class CacheEntry {
  readonly pieces: PcmPiece[] = [];
  bytes = 0;
  done = false;
  failed: { error: unknown } | undefined;
  /** Pieces came from another provider than the plan's first (a failover): not stored. */
  storable = true;
  readers = 0;
  private waiters: Array<() => void> = [];
  readonly abort = new AbortController();

  push(piece: PcmPiece): void {
    this.pieces.push(piece);
    this.bytes += piece.chunk.pcm.byteLength;
    this.wake();
  }

  finish(error?: unknown): void {
    this.done = true;
    if (error !== undefined) this.failed = { error };
    this.wake();
  }

  async *read(signal: AbortSignal): AsyncGenerator<PcmPiece> {
    for (let i = 0; ; i++) {
      while (i >= this.pieces.length) {
        if (this.failed) throw this.failed.error;
        if (this.done) return;
        signal.throwIfAborted();
        await new Promise<void>((resolve) => {
          const onAbort = () => resolve();
          signal.addEventListener('abort', onAbort, { once: true });
          this.waiters.push(() => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          });
        });
      }
      signal.throwIfAborted();
      yield this.pieces[i];
    }
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }
}

/**
 * Content-addressed cache of the engine's PCM, with single-flight: the same prompt ("Please hold.", a
 * menu, a greeting) is synthesized once and then served, in any format and rate, through the transcoder.
 *
 * - Key: SHA-256 of a canonical JSON encoding of every field that changes the audio — the spoken text after
 *   normalization, the SSML segments, the provider and its engine identity (model, server, binary), voice,
 *   language and speed. Values as well as keys are encoded (Home Assistant once hashed option keys only).
 * - Single-flight: a request for a key that is being synthesized joins the running synthesis and reads
 *   its audio from the beginning as it is produced; no second engine call. The synthesis runs while at
 *   least one reader is attached, and stops (uncached) when the last one leaves before the end.
 * - Bounds: CACHE_MAX_BYTES in all (LRU), CACHE_TTL_SECONDS, and CACHE_MAX_ENTRY_BYTES per entry:
 *   utterances predicted larger bypass the cache (and a synthesis that turns out larger is not kept).
 *   CACHE_MAX_BYTES=0 turns it off; a request may opt out (`cache: false`).
 * - Only audio of the plan's own provider is stored (not a fallback's).
 * Per replica, also with Redis: PCM is large and cheap to redo compared to shipping it around.
 */
@Injectable()
export class AudioCache {
  private readonly stored: LRUCache<string, CacheEntry> | undefined;
  private readonly running = new Map<string, CacheEntry>();

  constructor(
    @Inject(cacheConfig.KEY) private readonly config: CacheConfig,
    private readonly registry: ProviderRegistry,
    @InjectMetric(METRIC.cacheEventsTotal) private readonly events: Counter<string>,
    @InjectMetric(METRIC.cacheBytes) private readonly bytesGauge: Gauge<string>,
  ) {
    if (config.maxBytes > 0) {
      this.stored = new LRUCache<string, CacheEntry>({
        maxSize: config.maxBytes,
        sizeCalculation: (entry) => Math.max(1, entry.bytes),
        ttl: config.ttlSeconds * 1000,
        dispose: (entry, _key, reason) => {
          this.bytesGauge.dec(entry.bytes);
          if (reason === 'evict' || reason === 'expire') this.events.inc({ event: 'eviction' });
        },
      });
    }
  }

  /** The cache key of a plan, or undefined when it must not use the cache. */
  keyOf(plan: SynthesisPlan): string | undefined {
    if (!this.stored || plan.cache === false) return undefined;
    const first = plan.attempts[0];
    const request = first.request;
    const speed = request.speed > 0 ? request.speed : 1;
    if (countCharacters(request.text) * (BYTES_PER_CHAR_AT_SPEED_1 / speed) > this.config.maxEntryBytes)
      return undefined;
    const provider = this.registry.get(first.providerId);
    const canonical = JSON.stringify([
      1,
      first.providerId,
      provider.cacheIdentity?.() ?? '',
      request.voice.id,
      request.language,
      request.speed,
      request.text,
      plan.segments ?? null,
      plan.timings ?? false,
      first.segmentVoices ?? null,
    ]);
    return createHash('sha256').update(canonical).digest('hex');
  }

  /**
   * The pieces for `key`: from the store, by joining a running synthesis, or by starting `produce` (whose
   * signal aborts when every reader has left). The first piece read from the store or a join has `fromCache` (consumers read the flag once).
   */
  async *through(
    key: string,
    provider: ProviderId,
    produce: (signal: AbortSignal) => AsyncIterable<PcmPiece>,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const hit = this.stored?.get(key);
    if (hit) {
      this.events.inc({ event: 'hit' });
      let first = true;
      for (const piece of hit.pieces) {
        signal.throwIfAborted();
        yield first ? { ...piece, fromCache: true } : piece;
        first = false;
      }
      return;
    }
    let entry = this.running.get(key);
    const joined = entry !== undefined;
    if (entry) this.events.inc({ event: 'join' });
    else {
      this.events.inc({ event: 'miss' });
      entry = new CacheEntry();
      this.running.set(key, entry);
      void this.run(key, entry, provider, produce);
    }
    entry.readers++;
    try {
      let first = joined;
      for await (const piece of entry.read(signal)) {
        yield first ? { ...piece, fromCache: true } : piece;
        first = false;
      }
    } finally {
      entry.readers--;
      if (entry.readers === 0 && !entry.done)
        entry.abort.abort(new Error('every reader of this synthesis left'));
    }
  }

  private async run(
    key: string,
    entry: CacheEntry,
    provider: ProviderId,
    produce: (signal: AbortSignal) => AsyncIterable<PcmPiece>,
  ): Promise<void> {
    try {
      for await (const piece of produce(entry.abort.signal)) {
        if (piece.provider !== provider) entry.storable = false;
        entry.push(piece);
      }
      entry.finish();
      if (entry.storable && entry.bytes <= this.config.maxEntryBytes && this.stored) {
        // A new entry: readers that joined the synthesis may still be walking `entry.pieces` by index.
        const kept = new CacheEntry();
        for (const piece of compactStoredPieces(entry.pieces)) kept.push(piece);
        kept.finish();
        this.stored.set(key, kept);
        this.bytesGauge.inc(kept.bytes);
      }
    } catch (error) {
      entry.finish(error);
    } finally {
      this.running.delete(key);
    }
  }
}
