import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import {
  ProviderError,
  type AudioChunk,
  type ProviderId,
  type SynthesisRequest,
  type TtsProvider,
} from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import { synthesizeSegments } from '../providers/sentence-pipeline';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { ProviderResilienceService } from './provider-resilience.service';
import type {
  EncodedAudio,
  ProviderSwitch,
  SentenceTimings,
  SynthesisAttempt,
  SynthesisPlan,
} from './synthesis.types';
import { splitSentenceSpans } from '../providers/text/sentence-splitter';
import { DEFAULT_SEAM_SHAPER_OPTIONS, SeamShaper } from '../providers/audio/seam-shaper';
import { SILENT_DB, toEspeakSsml, type SsmlSegment } from '../text/ssml';
import { engineTextOf, estimatedTimings, nativeToneTimings, type EngineText } from '../text/sentence-timings';
import type { WordTiming } from '../text/word-timings';
import { AudioCache } from './audio-cache';
import { concatPcm } from '../providers/audio/pcm';

/**
 * The audio path: provider → resilience (bulkhead, timeouts, retries, breaker) → failover → transcoder.
 * Pull-based: nothing is synthesized faster than the consumer takes it, which is how backpressure reaches
 * the engine. Knows nothing about sessions or sockets, so the WebSocket stream, the file route and the
 * OpenAI-compatible route all use it.
 *
 * Failover:
 * - before the first audio (always): a retryable failure moves on to the next attempt, silently;
 * - after audio has been produced, with `failover: "mid_stream"`: the utterance is synthesized sentence by
 *   sentence, and a failure in sentence k restarts sentence k on the next attempt (no word lost; the words of
 *   k already heard are heard again), announced by `switched` on the fallback's first chunk. The encoder is
 *   the same throughout, so the output stays one stream of the format (one WAV header, one MP3/Ogg stream);
 * - after audio without it: `provider_stream_interrupted`.
 */
@Injectable()
export class TtsService {
  constructor(
    private readonly registry: ProviderRegistry,
    private readonly resilience: ProviderResilienceService,
    private readonly transcode: TranscodeService,
    private readonly cache: AudioCache,
  ) {}

  /** Synthesizes and encodes: the bytes of the plan's format and rate, in order. */
  synthesize(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<EncodedAudio> {
    return this.encode(this.pcm(plan, signal), plan);
  }

  /**
   * The engine's PCM with failover applied (see the class comment), bounded by `maxAudioSeconds`: an
   * utterance that would run longer fails with `audio_too_long` instead of holding an engine for an hour.
   */
  async *pcm(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    const key = this.cache.keyOf(plan);
    const pieces = key
      ? this.cache.through(key, plan.attempts[0].providerId, (s) => this.enginePcm(plan, s), signal)
      : this.enginePcm(plan, signal);
    let seconds = 0;
    for await (const piece of pieces) {
      seconds += piece.chunk.pcm.length / piece.chunk.sampleRate;
      if (plan.maxAudioSeconds !== undefined && seconds > plan.maxAudioSeconds) {
        throw new GatewayException(
          ErrorCode.AudioTooLong,
          `the audio would be longer than ${plan.maxAudioSeconds} s (MAX_AUDIO_SECONDS); shorten the text or raise the speed`,
        );
      }
      yield piece;
    }
  }

  /**
   * PCM → resampler → encoder, one stateful pipeline for the whole utterance (so a failover keeps one
   * stream of the format). `totalSamples` (at the output rate) lets whole-file containers write exact
   * sizes up front.
   */
  async *encode(
    pieces: AsyncIterable<PcmPiece>,
    target: { format: AudioFormat; sampleRate: number; wholeFile?: boolean; totalSamples?: number },
  ): AsyncGenerator<EncodedAudio> {
    const stream = this.transcode.openStream({
      format: target.format,
      sampleRate: target.sampleRate,
      wholeFile: target.wholeFile,
      ...(target.totalSamples !== undefined ? { totalSamples: target.totalSamples } : {}),
    });
    try {
      let providerId: ProviderId | undefined;
      let fromCache: boolean | undefined;
      for await (const { chunk, provider, switched, mark, timings, fromCache: cached } of pieces) {
        providerId = provider;
        fromCache ??= cached ?? false;
        if (timings !== undefined) {
          yield { data: EMPTY, providerId, audioMs: stream.audioMs, timings, fromCache };
          continue;
        }
        if (mark !== undefined) {
          // A mark sits at the audio encoded so far; it is announced before the audio that follows it.
          yield {
            data: EMPTY,
            providerId,
            audioMs: stream.audioMs,
            marks: [{ name: mark, startMs: stream.audioMs }],
            fromCache,
          };
          continue;
        }
        const data = await stream.write(chunk);
        // A switch must reach the consumer even if the first PCM of the fallback encodes to nothing yet.
        if (data.length > 0 || switched) {
          yield { data, providerId, audioMs: stream.audioMs, fromCache, ...(switched ? { switched } : {}) };
        }
      }
      const tail = await stream.end();
      if (tail.length > 0 && providerId) yield { data: tail, providerId, audioMs: stream.audioMs };
    } finally {
      stream.dispose();
    }
  }

  /** The engine's PCM for a plan (no cache): SSML segments, sentence-level failover, or the whole text. */
  private enginePcm(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    if (plan.segments) {
      const units = ssmlUnits(plan.segments);
      const state: SsmlRenderState = { markedUpTo: -1, rate: undefined, elapsedMs: 0 };
      return this.unitFailover(
        plan,
        signal,
        (unit) => units[unit]?.sourceStart ?? 0,
        (attempt, progress) => this.renderSsml(plan, units, attempt, progress, state, signal),
      );
    }
    if (plan.timings) {
      const base = plan.attempts[0].request;
      const sentences = splitSentenceSpans(base.text, { locale: base.language });
      const state = { elapsedMs: 0 };
      return this.unitFailover(
        plan,
        signal,
        (unit) => sentences[unit]?.start ?? 0,
        (attempt, progress) => this.timedSentences(sentences, attempt, progress, state, plan, signal),
      );
    }
    if (plan.failover === 'mid_stream' && plan.attempts.length > 1)
      return this.sentenceBySentenceWithFailover(plan, signal);
    return this.wholeTextWithFailover(plan, signal);
  }

  /**
   * SSML rendered by the gateway, the same way for every engine: one engine call per segment (and per mark,
   * so that every mark sits at a known sample), the segment's voice and rate through the request, its volume
   * as gain, its engine-added edge silence trimmed, and breaks as exact silence. espeak-ng, which reads SSML,
   * gets the segment's pitch and emphasis in its own SSML (`-m`). With `timings`, each part's word timings
   * come before its audio (`PartTimings`), on the same timeline as the marks.
   */
  private async *renderSsml(
    plan: SynthesisPlan,
    units: readonly SsmlUnit[],
    attempt: SynthesisAttempt,
    progress: UnitProgress,
    state: SsmlRenderState,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const provider = this.registry.get(attempt.providerId);
    state.rate ??= provider.capabilities.nativeSampleRate;
    for (let u = progress.from; u < units.length; u++) {
      progress.current = u;
      const unit = units[u];
      if (unit.kind === 'break') {
        // Exact silence: the engine's own edge silence was trimmed.
        const rate = state.rate;
        let left = Math.round((rate * unit.ms) / 1000);
        const step = Math.round(rate / 10);
        while (left > 0) {
          const n = Math.min(step, left);
          left -= n;
          state.elapsedMs += (n * 1000) / rate;
          yield { chunk: { pcm: new Int16Array(n), sampleRate: rate }, provider: provider.id };
        }
        continue;
      }
      // A restart at this unit (failover) does not announce its marks twice.
      if (u > state.markedUpTo) {
        for (const name of unit.marks)
          yield {
            chunk: { pcm: new Int16Array(0), sampleRate: state.rate },
            provider: provider.id,
            mark: name,
          };
        state.markedUpTo = u;
      }
      const text = unit.text.trim();
      if (text === '') continue;
      const segment = unit.segment;
      const voice = (segment.voice && attempt.segmentVoices?.[segment.voice]) || attempt.request.voice;
      const speed = Math.min(4, Math.max(0.25, attempt.request.speed * segment.rate));
      const native =
        provider.capabilities.ssml === 'espeak' &&
        (segment.pitch !== undefined || segment.emphasis !== undefined);
      const request = {
        ...attempt.request,
        text,
        voice,
        speed,
        ...(native
          ? {
              ssml: toEspeakSsml({
                segments: [
                  {
                    ...segment,
                    text,
                    rate: 1,
                    volumeDb: 0,
                    breakAfterMs: 0,
                    marks: [],
                    voice: undefined,
                    language: undefined,
                  },
                ],
                warnings: [],
                plainText: text,
              }),
            }
          : {}),
      };
      const gain = segment.volumeDb <= SILENT_DB ? 0 : 10 ** (segment.volumeDb / 20);
      const timings = plan.timings
        ? new PartTimings(unit, text, state.elapsedMs, request.language, provider, speed)
        : undefined;
      const audio = this.shapedPart(provider, request, gain, state, plan, signal);
      for await (const piece of timings ? timings.around(audio) : audio) {
        state.elapsedMs += (piece.chunk.pcm.length * 1000) / piece.chunk.sampleRate;
        yield piece;
      }
    }
  }

  /** One SSML part's engine audio: edge silence trimmed (per output rate), volume as gain. */
  private async *shapedPart(
    provider: TtsProvider,
    request: SynthesisRequest,
    gain: number,
    state: SsmlRenderState,
    plan: SynthesisPlan,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    let shaper: SeamShaper | undefined;
    for await (const chunk of this.resilience.stream(provider, request, signal, plan.source)) {
      if (shaper?.sampleRate !== chunk.sampleRate) {
        if (shaper) yield* this.piece(shaper.finish(), shaper.sampleRate, provider.id, gain);
        shaper = new SeamShaper(chunk.sampleRate, DEFAULT_SEAM_SHAPER_OPTIONS);
        state.rate = chunk.sampleRate;
      }
      yield* this.piece(shaper.push(chunk.pcm), chunk.sampleRate, provider.id, gain);
    }
    if (shaper) yield* this.piece(shaper.finish(), shaper.sampleRate, provider.id, gain);
  }

  /**
   * Word timings (`timings=words`): the utterance sentence by sentence (the next one synthesized while the
   * current one plays), each sentence's timings before its audio. The tone generator's are exact and known
   * up front, so its audio streams as it is rendered; other engines' are estimated and fitted to the
   * sentence's own audio, which is therefore held until the sentence is complete. Offsets are into the
   * spoken text; times count from the first sample.
   */
  private async *timedSentences(
    sentences: ReturnType<typeof splitSentenceSpans>,
    attempt: SynthesisAttempt,
    progress: UnitProgress,
    state: { elapsedMs: number },
    plan: SynthesisPlan,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const provider = this.registry.get(attempt.providerId);
    const { request } = attempt;
    const native = provider.capabilities.wordTimings;
    const from = progress.from;
    let current = -1;
    let upcoming = from;
    let buffered: AudioChunk[] = [];
    const inputOf = (sentence: (typeof sentences)[number]) => ({
      raw: sentence.text,
      rawOffset: sentence.start,
      engine: engineTextOf(sentence.text),
      startMs: state.elapsedMs,
      language: request.language,
    });
    const timingsPiece = (words: WordTiming[], sampleRate: number): PcmPiece => ({
      chunk: { pcm: new Int16Array(0), sampleRate },
      provider: provider.id,
      timings: { words, source: native ? 'native' : 'estimated' },
    });
    function* flush(): Generator<PcmPiece> {
      const sentence = sentences[current];
      if (sentence && buffered.length > 0) {
        const rate = buffered[0].sampleRate;
        const pcm = concatPcm(buffered.map((c) => c.pcm));
        yield timingsPiece(estimatedTimings({ ...inputOf(sentence), pcm, sampleRate: rate }), rate);
      }
      for (const chunk of buffered) {
        state.elapsedMs += (chunk.pcm.length * 1000) / chunk.sampleRate;
        yield { chunk, provider: provider.id };
      }
      buffered = [];
    }
    const pcm = synthesizeSegments(
      sentences.slice(from),
      (segment, _i, segmentSignal) =>
        this.resilience.stream(provider, { ...request, text: segment.text }, segmentSignal, plan.source),
      signal,
      {
        lookAhead: 1,
        speed: request.speed,
        // The tone generator's plan is the truth: no trimming, so its native timings stay exact.
        ...(native ? { shaping: false as const } : {}),
        onSegment: (i) => (upcoming = progress.current = from + i),
      },
    );
    for await (const chunk of pcm) {
      if (upcoming !== current) {
        yield* flush();
        current = upcoming;
        const sentence = sentences[current];
        if (native && sentence) {
          const words = nativeToneTimings({
            ...inputOf(sentence),
            speed: request.speed,
            sampleRate: chunk.sampleRate,
          });
          yield timingsPiece(words, chunk.sampleRate);
        }
      }
      if (!native) {
        buffered.push(chunk);
        continue;
      }
      state.elapsedMs += (chunk.pcm.length * 1000) / chunk.sampleRate;
      yield { chunk, provider: provider.id };
    }
    yield* flush();
  }

  private *piece(
    pcm: Int16Array,
    sampleRate: number,
    provider: ProviderId,
    gain: number,
  ): Generator<PcmPiece> {
    if (pcm.length === 0) return;
    if (gain !== 1) {
      for (let i = 0; i < pcm.length; i++) {
        const v = Math.round(pcm[i] * gain);
        pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    yield { chunk: { pcm, sampleRate }, provider };
  }

  /**
   * Failover for renderers that go unit by unit (SSML parts and breaks, timed sentences), as
   * `sentenceBySentenceWithFailover` does for plain text: before any audio, the next attempt from the start;
   * after audio, with `failover: "mid_stream"`, the next attempt from the unit that was interrupted, announced
   * with `provider_switched` before its audio; otherwise a failure after audio is final.
   */
  private async *unitFailover(
    plan: SynthesisPlan,
    signal: AbortSignal,
    textOffsetOf: (unit: number) => number,
    render: (attempt: SynthesisAttempt, progress: UnitProgress) => AsyncGenerator<PcmPiece>,
  ): AsyncGenerator<PcmPiece> {
    const progress: UnitProgress = { from: 0, current: 0 };
    let index = 0;
    let producedAudio = false;
    let lastRate: number | undefined;
    let pendingSwitch: ProviderSwitch | undefined;
    for (;;) {
      const attempt = plan.attempts[index];
      const provider = this.registry.get(attempt.providerId);
      try {
        for await (const piece of render(attempt, progress)) {
          if (pendingSwitch) {
            const sampleRate = lastRate ?? piece.chunk.sampleRate;
            yield {
              chunk: { pcm: new Int16Array(0), sampleRate },
              provider: provider.id,
              switched: pendingSwitch,
            };
            pendingSwitch = undefined;
          }
          if (piece.chunk.pcm.length > 0) {
            producedAudio = true;
            lastRate = piece.chunk.sampleRate;
          }
          yield piece;
        }
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        const retryable = error instanceof ProviderError && error.retryable;
        const last = index + 1 >= plan.attempts.length;
        if (!retryable || last || (producedAudio && plan.failover !== 'mid_stream')) {
          throw producedAudio ? interrupted(provider, error, plan, retryable ? 'exhausted' : 'fatal') : error;
        }
        index++;
        if (producedAudio) {
          progress.from = progress.current;
          pendingSwitch = {
            from: provider.id,
            to: plan.attempts[index].providerId,
            textOffset: textOffsetOf(progress.from),
          };
        } else {
          progress.from = 0;
        }
      }
    }
  }

  /** The whole text to each attempt in turn, until one produces audio; a failure after audio is final. */
  private async *wholeTextWithFailover(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    let producedAudio = false;
    let lastError: unknown;
    for (const attempt of plan.attempts) {
      const provider = this.registry.get(attempt.providerId);
      try {
        for await (const chunk of this.resilience.stream(provider, attempt.request, signal, plan.source)) {
          producedAudio = true;
          yield { chunk, provider: provider.id };
        }
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        if (producedAudio) throw interrupted(provider, error, plan);
        if (!(error instanceof ProviderError) || !error.retryable) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  private async *sentenceBySentenceWithFailover(
    plan: SynthesisPlan,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const base = plan.attempts[0].request;
    const sentences = splitSentenceSpans(base.text, { locale: base.language });
    let from = 0;
    let index = 0;
    let producedAudio = false;
    let pendingSwitch: ProviderSwitch | undefined;
    for (;;) {
      const attempt: SynthesisAttempt = plan.attempts[index];
      const provider = this.registry.get(attempt.providerId);
      let current = from;
      try {
        const remaining = sentences.slice(from);
        const pcm = synthesizeSegments(
          remaining,
          (segment, _i, segmentSignal) =>
            this.resilience.stream(
              provider,
              { ...attempt.request, text: segment.text },
              segmentSignal,
              plan.source,
            ),
          signal,
          { lookAhead: 1, speed: attempt.request.speed, onSegment: (i) => (current = from + i) },
        );
        for await (const chunk of pcm) {
          producedAudio = true;
          yield { chunk, provider: provider.id, switched: pendingSwitch };
          pendingSwitch = undefined;
        }
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        if (!(error instanceof ProviderError) || !error.retryable) {
          throw producedAudio ? interrupted(provider, error, plan, 'fatal') : error;
        }
        if (index + 1 >= plan.attempts.length)
          throw producedAudio ? interrupted(provider, error, plan) : error;
        index++;
        from = current;
        if (producedAudio) {
          pendingSwitch = {
            from: provider.id,
            to: plan.attempts[index].providerId,
            textOffset: sentences[from]?.start ?? 0,
          };
        }
      }
    }
  }
}

/** Engine PCM on its way to the encoder, with the provider that made it. */
export interface PcmPiece {
  readonly chunk: AudioChunk;
  readonly provider: ProviderId;
  readonly switched?: ProviderSwitch;
  /** An SSML mark at this point of the audio (the chunk is then empty). */
  readonly mark?: string;
  /** Word timings of the sentence whose audio follows (the chunk is then empty). */
  readonly timings?: SentenceTimings;
  /** From the audio cache (stored, or a joined synthesis). */
  readonly fromCache?: boolean;
}

const EMPTY = new Uint8Array(0);

/** Where a unit-by-unit renderer starts (after a failover) and which unit it is on. */
interface UnitProgress {
  from: number;
  current: number;
}

/** SSML as the renderer walks it: text parts (with the marks before them) and breaks. */
type SsmlUnit =
  | {
      kind: 'part';
      segment: SsmlSegment;
      text: string;
      /** Where `text` starts in the segment's text. */
      offset: number;
      marks: string[];
      sourceStart: number;
    }
  | { kind: 'break'; ms: number; sourceStart: number };

/**
 * What SSML rendering keeps across a failover: marks already announced, the last output rate, and the
 * audio yielded so far (the time word timings count from).
 */
interface SsmlRenderState {
  markedUpTo: number;
  rate: number | undefined;
  elapsedMs: number;
}

/**
 * Word timings of one SSML part (`timings=words` with `text_format: "ssml"`): the part's words, timed from
 * `startMs` — exactly for the tone generator (its rendering plan, announced before its audio), else
 * estimated from the part's own audio (which is then held until the part is complete) — with offsets into
 * the client's SSML through the segment's source map (a `sub` or `say-as` word spans the element's content).
 */
class PartTimings {
  private readonly engine: EngineText;
  private readonly native: boolean;

  constructor(
    private readonly unit: Extract<SsmlUnit, { kind: 'part' }>,
    private readonly text: string,
    private readonly startMs: number,
    private readonly language: string,
    private readonly provider: TtsProvider,
    private readonly speed: number,
  ) {
    this.engine = engineTextOf(text);
    this.native = provider.capabilities.wordTimings;
  }

  async *around(audio: AsyncIterable<PcmPiece>): AsyncGenerator<PcmPiece> {
    const held: PcmPiece[] = [];
    let announced = false;
    for await (const piece of audio) {
      if (this.native) {
        if (!announced)
          yield this.announce(
            nativeToneTimings({ ...this.input(), speed: this.speed, sampleRate: piece.chunk.sampleRate }),
            piece.chunk.sampleRate,
          );
        announced = true;
        yield piece;
      } else held.push(piece);
    }
    if (held.length === 0) return;
    const rate = held[0].chunk.sampleRate;
    const pcm = concatPcm(held.filter((p) => p.chunk.sampleRate === rate).map((p) => p.chunk.pcm));
    yield this.announce(estimatedTimings({ ...this.input(), pcm, sampleRate: rate }), rate);
    yield* held;
  }

  private input() {
    return {
      raw: this.text,
      rawOffset: 0,
      engine: this.engine,
      startMs: this.startMs,
      language: this.language,
    };
  }

  /** The part's words with offsets into the client's SSML; `text` stays the word as spoken. */
  private announce(words: WordTiming[], sampleRate: number): PcmPiece {
    const { segment, offset } = this.unit;
    const lead = this.unit.text.length - this.unit.text.trimStart().length;
    const map = segment.sourceMap;
    const at = (i: number) => offset + lead + i;
    return {
      chunk: { pcm: new Int16Array(0), sampleRate },
      provider: this.provider.id,
      timings: {
        source: this.native ? 'native' : 'estimated',
        words: words.map((w) => {
          const start = map?.starts[at(w.text_start)] ?? segment.sourceStart;
          const end =
            w.text_end > w.text_start ? (map?.ends[at(w.text_end - 1)] ?? segment.sourceEnd) : start;
          return { ...w, text_start: start, text_end: Math.max(start, end) };
        }),
      },
    };
  }
}

function ssmlUnits(segments: readonly SsmlSegment[]): SsmlUnit[] {
  const units: SsmlUnit[] = [];
  for (const segment of segments) {
    for (const part of splitAtMarks(segment))
      units.push({ kind: 'part', segment, ...part, sourceStart: segment.sourceStart });
    if (segment.breakAfterMs > 0)
      units.push({ kind: 'break', ms: segment.breakAfterMs, sourceStart: segment.sourceEnd });
  }
  return units;
}

/** A segment cut at its marks: each part's marks sit before its first sample. */
function splitAtMarks(segment: SsmlSegment): Array<{ text: string; offset: number; marks: string[] }> {
  const parts: Array<{ text: string; offset: number; marks: string[] }> = [];
  let at = 0;
  let pending: string[] = [];
  for (const mark of [...segment.marks].sort((a, b) => a.offset - b.offset)) {
    if (mark.offset > at) {
      parts.push({ text: segment.text.slice(at, mark.offset), offset: at, marks: pending });
      pending = [];
      at = mark.offset;
    }
    pending.push(mark.name);
  }
  parts.push({ text: segment.text.slice(at), offset: at, marks: pending });
  return parts;
}

/** A failure after audio went out: no eos can follow, and the client must know the stream broke. */
function interrupted(
  provider: TtsProvider,
  error: unknown,
  plan: SynthesisPlan,
  why: 'exhausted' | 'fatal' = 'exhausted',
): GatewayException {
  const reason = error instanceof ProviderError ? error.publicReason : 'failed';
  const hint =
    plan.failover !== 'mid_stream'
      ? 'after audio had been sent (set "failover": "mid_stream" with fallback_providers to continue on another provider)'
      : why === 'fatal'
        ? 'with an error another provider would not fix (the request itself was refused)'
        : 'and no fallback provider is left';
  return new GatewayException(
    ErrorCode.ProviderStreamInterrupted,
    `provider "${provider.id}" ${reason} mid-stream ${hint}`,
  );
}
