import type { PinoLogger } from 'nestjs-pino';
import type { Caller } from '../auth/caller';
import type { UsageService } from '../auth/usage.service';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { internalDetail, toGatewayException } from '../common/errors/to-gateway-exception';
import { canonicalLanguage } from '../common/text/language';
import { countCharacters, utf8ByteLength } from '../common/text/normalize-text';
import type { LimitsConfig } from '../config/configuration';
import { DEFAULT_SEAM_SHAPER_OPTIONS, SeamShaper } from '../providers/audio/seam-shaper';
import { PAUSE_MS } from '../providers/sentence-pipeline';
import type { ProviderId, Voice } from '../providers/provider.contract';
import { segmentEnd } from '../providers/text/sentence-splitter';
import { sourceOf } from '../sessions/sessions.service';
import type { RunDescription, RunOutcome, SynthesisRun, SynthesisRuns } from '../synthesis/synthesis-runs';
import type { SlotRelease } from '../synthesis/synthesis-slots';
import type { EncodedAudio, SynthesisPlan } from '../synthesis/synthesis.types';
import type { PcmPiece, TtsService } from '../synthesis/tts.service';
import {
  LiveTextError,
  MarkdownLiveFilter,
  SpokenSource,
  SsmlLiveFilter,
  sourceSpanOf,
  type SourceSpans,
  type SsmlUnit,
} from '../text/live-text-filter';
import { SentenceAccumulator, type CompletedSentence } from '../text/sentence-accumulator';
import type { SsmlSegment } from '../text/ssml';
import type { WordTiming } from '../text/word-timings';
import type { LiveCharBudget } from './char-budget';
import type { FairSender } from './fair-sender';
import type { LiveConfig } from './live.config';
import type { ContextSettings, LiveSettingsInput, LiveSettingsResolver } from './live-settings';
import { engineTextOf, estimatedTimings, nativeToneTimings, type EngineText } from '../text/sentence-timings';
import { SentenceJob } from './sentence-job';
import { concatPcm } from '../providers/audio/pcm';
import { engineSsmlWarnings } from '../text/prepare';

/** What a context needs from its socket. */
export interface ContextHost {
  readonly connectionId: string;
  /** Who is calling (an API key, else the client's address): caps, budgets, breaker attribution. */
  readonly caller: Caller;
  readonly binary: boolean;
  readonly sender: FairSender;
  /** Text received and not yet being synthesized, over all the socket's contexts (UTF-8 bytes). */
  readonly bufferedTextBytes: number;
  adjustBufferedText(delta: number): void;
  /** A control frame, now (never queued behind audio). */
  sendJson(message: Record<string, unknown>): void;
  /** The context is over (eos, cleared, error): its id may be used again. */
  released(context: LiveContext): void;
}

export interface LiveMetrics {
  activeContexts: Gauge<string>;
  sentenceTtfa: Histogram<string>;
  clearLatency: Histogram<string>;
  sentences: Counter<string>;
  rateLimited: Counter<string>;
}

export interface LiveDeps {
  tts: TtsService;
  runs: SynthesisRuns;
  settings: LiveSettingsResolver;
  charBudget: LiveCharBudget;
  usage: UsageService;
  config: LiveConfig;
  limits: LimitsConfig;
  metrics: LiveMetrics;
  logger: PinoLogger;
}

export type SentenceTrigger = 'punctuation' | 'idle_gap' | 'flush' | 'end';

interface SentenceItem {
  readonly kind: 'sentence';
  readonly sentence: CompletedSentence;
  readonly engine: EngineText;
  readonly trigger: SentenceTrigger;
  readonly completedAt: number;
  readonly bytes: number;
  /** SSML: the segment this item renders (voice, rate, volume, break after, marks) and the pause before it. */
  readonly ssml?: { readonly segment: SsmlSegment; readonly pauseBeforeMs: number };
  /** Markdown, SSML: where each character of `sentence.text` came from in the context's text. */
  readonly source?: SourceSpans;
  job?: SentenceJob;
}

type QueueItem = SentenceItem | { readonly kind: 'flushed' } | { readonly kind: 'end' };

/** Distinct SSML warnings sent per context. */
const MAX_WARNINGS = 20;
/** SSML voice names resolved per context (memo size). */
const MAX_SEGMENT_VOICES = 32;

/** Abort reason of a barge-in: nothing more is sent, no error frame (the `cleared` ack said it all). */
class Cleared extends Error {
  constructor() {
    super('context cleared');
    this.name = 'Cleared';
  }
}

/** Abort reason when the socket is gone or failed as a whole: the context ends without a frame of its own. */
export class Silenced extends Error {
  constructor(readonly outcome: RunOutcome) {
    super(`context ended with its socket (${outcome})`);
    this.name = 'Silenced';
  }
}

/**
 * One context of a live socket: text in, sentences out, one audio stream of its format.
 *
 * - Text goes into a `SentenceAccumulator` as it arrives (the client's exact text, so offsets are the
 *   client's). A sentence is queued once the text after it shows it ended; a partial one is queued when no
 *   text came for LIVE_IDLE_GAP_MS, on `flush`, and on `end`.
 * - Each queued sentence is synthesized on its own (`TtsService.pcm`: provider, resilience, failover before
 *   its first audio) as a `SentenceJob` as soon as it is first in line: so sentence k+1 renders while k is
 *   being sent (look-ahead 1).
 * - One encoder for the context's whole life (`TtsService.encode` fed by `pieces()`): the sentences' PCM
 *   back to back with a pause after each (edges trimmed, like the sentence pipeline; the tone generator's
 *   own pauses are kept as they are), so the concatenated audio is one valid stream of the format.
 * - Order on the wire, per context: `timings` of a sentence before its first audio frame; `flushed` after
 *   the last frame holding flushed text (and the pause after it); `eos` after the last frame. Control
 *   frames are sent from inside `pieces()`, when every frame of the audio before them has left.
 * - `clear` is synchronous: the context's waiting frame is withdrawn, nothing of it is sent afterwards, the
 *   `cleared` ack goes out, and the abort reaches the engine (process killed, request aborted).
 * - `text_format` (`live-text-filter.ts`): markdown goes through `MarkdownLiveFilter` before the
 *   accumulator (so sentences are of the spoken text; the filter's source spans, kept by `SpokenSource` until
 *   the sentence is cut, map the timings back into the markdown as sent); SSML goes through `SsmlLiveFilter`, whose
 *   fragments become one item per segment, rendered by `TtsService` as the session path renders SSML
 *   (`SynthesisPlan.segments`), with the fragment's boundary pause before it and its marks sent as `mark`
 *   frames at their place in the audio. Ignored SSML is reported in `warning` frames, invalid SSML ends the
 *   context with `validation_failed`. Character budgets count the text as the client sent it.
 */
export class LiveContext {
  private state: 'opening' | 'open' | 'ending' | 'closed' = 'opening';
  private readonly abort = new AbortController();
  private readonly accumulator: SentenceAccumulator;
  private readonly queue: QueueItem[] = [];
  private readonly jobs = new Set<Promise<void>>();
  private wakeWorker: (() => void) | undefined;
  private workerIdle = false;
  private settings: ContextSettings | undefined;
  private run: SynthesisRun | undefined;
  private description: RunDescription | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private bytes = 0;
  private audioMs = 0;
  /** Context time of everything fed to the encoder, ms at the engine rates (the output has the same). */
  private outMs = 0;
  private receivedBytes = 0;
  private receivedChars = 0;
  private pendingBytes = 0;
  private sentences = 0;
  private eosReason: string | undefined;
  private readonly markdown: MarkdownLiveFilter | undefined;
  private readonly ssml: SsmlLiveFilter | undefined;
  /** Markdown: the source spans of the spoken text the accumulator holds. */
  private readonly spokenSource: SpokenSource | undefined;
  /** SSML: length of the spoken text so far (segment texts, each followed by a space): sentence offsets. */
  private spokenChars = 0;
  private readonly warned = new Set<string>();
  /** SSML `<voice name>` values resolved per provider of the attempts, by name. */
  private readonly segmentVoices = new Map<string, Promise<ReadonlyMap<ProviderId, Voice>>>();
  private firstFrame: { completedAt: number; provider: string } | undefined;
  private readonly logExtra: Record<string, unknown>;
  readonly done: Promise<void>;

  constructor(
    readonly id: string,
    private readonly input: LiveSettingsInput,
    private readonly host: ContextHost,
    private readonly deps: LiveDeps,
    private readonly release: SlotRelease,
    /** The key's lease across replicas (`SynthesisSlots.lease`), when its `max_concurrent_streams` is shared. */
    private readonly lease?: Promise<SlotRelease>,
  ) {
    // Awaited in lifecycle(); a refusal that comes before then must not count as unhandled.
    lease?.catch(() => undefined);
    // Sentence rules barely depend on the language; an invalid tag is refused when the settings resolve.
    this.accumulator = new SentenceAccumulator({
      locale: input.language === undefined ? undefined : canonicalLanguage(input.language),
    });
    const format = input.text_format ?? 'text';
    if (format === 'markdown') {
      this.markdown = new MarkdownLiveFilter();
      this.spokenSource = new SpokenSource();
    }
    if (format === 'ssml') {
      this.ssml = new SsmlLiveFilter({
        // say-as reads the context's language; before its settings resolve, the one asked for.
        language: () => this.settings?.language ?? input.language,
        maxHeldBytes: deps.config.maxBufferedTextBytes,
      });
    }
    this.logExtra = { liveSocket: host.connectionId, contextId: id, binary: host.binary, textFormat: format };
    deps.metrics.activeContexts.inc();
    this.abort.signal.addEventListener('abort', () => this.wake(), { once: true });
    this.done = this.lifecycle();
  }

  /** Still takes text, flush and end (not ending, not over). */
  get accepting(): boolean {
    return this.state === 'opening' || this.state === 'open';
  }

  get over(): boolean {
    return this.state === 'closed' || this.abort.signal.aborted;
  }

  text(text: string): void {
    this.touch();
    if (!text) return; // an empty text keeps the context alive
    const bytes = utf8ByteLength(text);
    const { maxContextTextBytes, maxBufferedTextBytes } = this.deps.config;
    if (this.receivedBytes + bytes > maxContextTextBytes) {
      return this.fail(
        new GatewayException(
          ErrorCode.PayloadTooLarge,
          `context "${this.id}" would receive more than ${maxContextTextBytes} bytes of text (LIVE_MAX_CONTEXT_TEXT_BYTES); end it and continue in a new context${this.holding()}`,
        ),
      );
    }
    if (this.host.bufferedTextBytes + bytes > maxBufferedTextBytes) {
      return this.fail(
        new GatewayException(
          ErrorCode.PayloadTooLarge,
          `this socket holds more than ${maxBufferedTextBytes} bytes of text not yet synthesized (LIVE_MAX_BUFFERED_TEXT_BYTES); send text about as fast as it is spoken${this.holding()}`,
        ),
      );
    }
    const chars = countCharacters(text);
    this.receivedBytes += bytes;
    this.receivedChars += chars;
    if (this.settings && !this.allowed(this.settings)) return;
    this.spend(chars);
    this.filtered(() => {
      if (this.ssml) return this.enqueueSsml(this.ssml.push(text), 'punctuation');
      const spoken = this.markdown ? this.spoken(this.markdown.push(text)) : text;
      for (const sentence of this.accumulator.push(spoken)) this.enqueue(sentence, 'punctuation');
    });
    this.syncPending();
    this.armGap();
  }

  /** Markdown the filter released, its source spans kept for the sentences it goes into. */
  private spoken(text: string): string {
    this.spokenSource?.append(this.markdown!.releasedSource);
    return text;
  }

  /** Runs a step of the text format's filter; invalid SSML (or SSML held too long) fails the context. */
  private filtered(step: () => void): boolean {
    try {
      step();
      return true;
    } catch (error) {
      if (!(error instanceof LiveTextError)) throw error;
      this.fail(
        error.kind === 'invalid'
          ? GatewayException.invalidField(
              'text',
              `invalid SSML in context "${this.id}" at character ${error.offset} of its text: ${error.reason}`,
            )
          : new GatewayException(
              ErrorCode.PayloadTooLarge,
              `context "${this.id}": SSML held since character ${error.offset} of its text: ${error.reason} (LIVE_MAX_BUFFERED_TEXT_BYTES)`,
            ),
      );
      return false;
    }
  }

  /** Why text is held, for the limits' messages: an SSML fragment that cannot be cut yet. */
  private holding(): string {
    const waiting = this.ssml?.waitingFor;
    return waiting
      ? `; its SSML is held until ${waiting} (a fragment is spoken once it can be cut: at a sentence end or a closed element, never inside say-as, sub, an unknown element or a tag)`
      : '';
  }

  /** What `flush` and the idle gap release: the filter's held text, then the accumulator's partial sentence. */
  private releaseHeld(trigger: 'flush' | 'idle_gap'): void {
    this.filtered(() => {
      if (this.ssml) return this.enqueueSsml(this.ssml.flush(), trigger);
      if (this.markdown)
        for (const sentence of this.accumulator.push(this.spoken(this.markdown.flush())))
          this.enqueue(sentence, trigger);
      const sentence = this.accumulator.flush();
      if (sentence) this.enqueue(sentence, trigger);
    });
  }

  /**
   * Counts characters against the client's budget (LIVE_CHARS_PER_MINUTE) and its API key's, in the shared
   * counters. The text is taken at once (its order matters); a context over budget fails as soon as the
   * count comes back, within milliseconds.
   */
  private spend(chars: number): void {
    const caller = this.host.caller;
    Promise.all([this.deps.charBudget.take(caller.id, chars), this.deps.usage.spendCharacters(caller, chars)])
      .then(([verdict]) => {
        if (verdict.ok) return;
        this.deps.metrics.rateLimited.inc({ route: 'live_chars' });
        this.fail(
          new GatewayException(
            ErrorCode.RateLimited,
            `this client sent more than ${verdict.limit} characters of live text in a minute (LIVE_CHARS_PER_MINUTE); retry in ${verdict.retryAfterSeconds} s`,
            { retryAfterSeconds: verdict.retryAfterSeconds },
          ),
        );
      })
      .catch((error: unknown) => {
        const exception = toGatewayException(error);
        if (exception.code === ErrorCode.RateLimited)
          this.deps.metrics.rateLimited.inc({ route: 'live_chars' });
        this.fail(exception);
      });
  }

  /** The API key's limits that depend on the text (max_text_chars, over the context's whole text). */
  private allowed(settings: ContextSettings): boolean {
    try {
      this.deps.usage.assertAllowed(this.host.caller, {
        provider: settings.provider,
        voice: settings.voice,
        textChars: this.receivedChars,
      });
      return true;
    } catch (error) {
      this.fail(toGatewayException(error));
      return false;
    }
  }

  /** Synthesize what is buffered now; `flushed` follows its audio. */
  flush(): void {
    this.touch();
    clearTimeout(this.gapTimer);
    // SSML that cannot be cut where it stands (inside say-as, a tag) stays held: `flushed` follows the
    // audio of what could be released.
    this.releaseHeld('flush');
    if (this.over) return;
    this.queue.push({ kind: 'flushed' });
    this.syncPending();
    this.wake();
  }

  /** No more text: the rest is spoken, then `eos`. */
  end(reason?: string): void {
    if (!this.accepting) return;
    clearTimeout(this.gapTimer);
    clearTimeout(this.idleTimer);
    const ended = this.filtered(() => {
      if (this.ssml) return this.enqueueSsml(this.ssml.end(), 'end');
      if (this.markdown)
        for (const sentence of this.accumulator.push(this.spoken(this.markdown.end())))
          this.enqueue(sentence, 'end');
      for (const sentence of this.accumulator.end()) this.enqueue(sentence, 'end');
    });
    if (!ended) return;
    this.queue.push({ kind: 'end' });
    this.state = 'ending';
    this.eosReason = reason;
    this.syncPending();
    this.wake();
  }

  /** Barge-in (see the class comment). */
  clear(receivedAt: number): void {
    if (this.over) return;
    const reason = new Cleared();
    this.host.sender.withdraw(this, reason);
    this.accumulator.clear();
    this.queue.length = 0;
    this.abort.abort(reason);
    this.syncPending();
    this.host.sendJson({ type: 'cleared', context_id: this.id });
    this.deps.metrics.clearLatency.observe((performance.now() - receivedAt) / 1000);
    this.host.released(this);
  }

  /** Ends the context with `error` (an error frame naming the context; the socket stays open). */
  fail(error: GatewayException): void {
    if (this.over) return;
    this.host.sender.withdraw(this, error);
    this.abort.abort(error);
  }

  /** The socket is gone or failed as a whole: stop without a frame. */
  silence(outcome: RunOutcome): void {
    if (this.over) return;
    const reason = new Silenced(outcome);
    this.host.sender.withdraw(this, reason);
    this.abort.abort(reason);
  }

  private async lifecycle(): Promise<void> {
    const signal = this.abort.signal;
    let outcome: RunOutcome = 'failed';
    let error: GatewayException | undefined;
    try {
      const settings = await this.deps.settings.resolve(this.input, this.host.caller);
      signal.throwIfAborted();
      if (this.lease) await this.lease; // refused: too_many_streams for this context
      signal.throwIfAborted();
      if (!this.allowed(settings)) signal.throwIfAborted();
      this.settings = settings;
      // The run reads its description when it ends: the text and sentence counts are filled in then.
      this.description = {
        route: 'live',
        provider: settings.provider,
        format: settings.format,
        sampleRateHz: settings.sampleRate,
        voice: settings.voice,
        textChars: 0,
        client: this.host.caller.id,
        extra: this.logExtra,
      };
      this.run = this.deps.runs.start(this.description);
      if (this.state === 'opening') this.state = 'open';
      this.kick();
      this.armIdleTimeout();
      const target = { format: settings.format, sampleRate: settings.sampleRate };
      for await (const audio of this.deps.tts.encode(this.pieces(settings), target)) {
        if (audio.data.length > 0) await this.sendAudio(audio);
      }
      signal.throwIfAborted();
      this.host.sendJson({
        type: 'eos',
        context_id: this.id,
        chunks: this.seq,
        bytes: this.bytes,
        audio_duration_ms: Math.round(this.audioMs),
        ...(this.eosReason ? { reason: this.eosReason } : {}),
      });
      outcome = 'completed';
    } catch (caught) {
      const reason: unknown = signal.aborted ? signal.reason : caught;
      if (reason instanceof Cleared) outcome = 'cancelled';
      else if (reason instanceof Silenced) outcome = reason.outcome;
      else {
        error = toGatewayException(reason);
        outcome = error.code === ErrorCode.Cancelled ? 'cancelled' : 'failed';
        if (error.code === ErrorCode.InternalError || !(reason instanceof GatewayException)) {
          this.deps.logger.warn(
            { ...this.logExtra, err: reason, detail: internalDetail(reason) },
            'live context failed',
          );
        }
        this.host.sendJson({ type: 'error', context_id: this.id, code: error.code, message: error.message });
      }
    } finally {
      this.state = 'closed';
      clearTimeout(this.gapTimer);
      clearTimeout(this.idleTimer);
      this.queue.length = 0;
      if (!signal.aborted) this.abort.abort(new Silenced(outcome));
      this.host.sender.withdraw(this, signal.reason as Error);
      this.syncPending();
      // The engine calls still running (look-ahead) stop with the abort; the slot is free once they have.
      await Promise.allSettled([...this.jobs]);
      this.release();
      // Given back whenever it was taken, also when the context ended before waiting for it.
      this.lease?.then(
        (release) => release(),
        () => undefined,
      );
      this.deps.metrics.activeContexts.dec();
      if (this.receivedChars > 0)
        this.deps.usage.record(this.host.caller.id, { characters: this.receivedChars });
      if (this.run && this.description) {
        this.description.textChars = this.receivedChars;
        this.logExtra.sentences = this.sentences;
        this.logExtra.timings = this.settings?.timings ?? false;
        this.logExtra.speed = this.settings?.speed;
        if (this.eosReason) this.logExtra.endReason = this.eosReason;
        this.run.end(outcome, error && { code: error.code, message: error.message });
      } else if (error) {
        this.deps.logger.info({ ...this.logExtra, errorCode: error.code }, 'live context refused');
      }
      this.host.released(this);
    }
  }

  /** The context's PCM, sentence after sentence, with the control frames at their place (class comment). */
  private async *pieces(settings: ContextSettings): AsyncGenerator<PcmPiece> {
    for (;;) {
      const item = await this.nextItem();
      if (item.kind === 'end') return;
      if (item.kind === 'flushed') {
        this.control({ type: 'flushed' });
        continue;
      }
      yield* this.speak(item, settings);
    }
  }

  private async *speak(item: SentenceItem, settings: ContextSettings): AsyncGenerator<PcmPiece> {
    const job = item.job ?? this.startJob(item);
    this.kick();
    const timing = (startMs: number) => ({
      raw: item.sentence.text,
      rawOffset: item.sentence.start,
      engine: item.engine,
      startMs,
      language: settings.language,
    });
    const source = job.pieces()[Symbol.asyncIterator]();
    const first = await source.next();
    if (first.done) {
      // The engine said nothing (a sentence of symbols): its words still get their offsets.
      if (settings.timings)
        this.sendTimings(
          item,
          estimatedTimings({ ...timing(this.outMs), pcm: new Int16Array(0), sampleRate: 1 }),
          'estimated',
        );
      return;
    }
    const provider = first.value.provider;
    let rate = first.value.chunk.sampleRate;
    // SSML: the pause of the boundary its fragment was cut at comes first (exact, like SSML's breaks: not
    // scaled by speed); the rest is the renderer's (edges trimmed, breaks as exact silence, marks in place), so
    // it is neither shaped again nor followed by a pause.
    const ssml = item.ssml;
    if (ssml && ssml.pauseBeforeMs > 0) yield* this.pause(rate, ssml.pauseBeforeMs, provider);
    const startMs = this.outMs;
    // The tone generator's audio is kept exactly as rendered (its pauses are part of its timing plan).
    const native = !ssml && provider === 'mock_tone';
    const rest = prepend(first.value, source);
    const pcm = native || ssml ? rest : shapeSentence(rest);
    this.firstFrame = { completedAt: item.completedAt, provider };
    if (settings.timings && native) {
      this.sendTimings(
        item,
        nativeToneTimings({ ...timing(startMs), speed: settings.speed, sampleRate: rate }),
        'native',
      );
      for await (const piece of pcm) yield* this.out(piece);
    } else if (settings.timings) {
      // Estimates are fitted to the sentence's whole audio, so it is rendered before any of it is sent.
      const pieces: PcmPiece[] = [];
      for await (const piece of pcm) pieces.push(piece);
      const joined = joinPcm(pieces.filter((piece) => piece.mark === undefined));
      this.sendTimings(
        item,
        estimatedTimings({ ...timing(startMs), pcm: joined.pcm, sampleRate: joined.sampleRate }),
        'estimated',
      );
      for (const piece of pieces) yield* this.out(piece);
      rate = joined.sampleRate;
    } else {
      for await (const piece of pcm) {
        rate = piece.chunk.sampleRate;
        yield* this.out(piece);
      }
    }
    if (!native && !ssml && !this.endsNext())
      yield* this.pause(rate, PAUSE_MS[item.sentence.end] / settings.speed, provider);
  }

  /** A piece on its way to the encoder; an SSML mark becomes its frame, at the audio fed so far. */
  private *out(piece: PcmPiece): Generator<PcmPiece> {
    if (piece.mark !== undefined) {
      this.control({ type: 'mark', name: piece.mark, start_ms: Math.round(this.outMs) });
      return;
    }
    yield this.fed(piece);
  }

  private *pause(rate: number, ms: number, provider: PcmPiece['provider']): Generator<PcmPiece> {
    const samples = Math.round((rate * ms) / 1000);
    for (let left = samples, step = Math.round(rate / 10); left > 0; left -= step)
      yield this.fed({ chunk: { pcm: new Int16Array(Math.min(step, left)), sampleRate: rate }, provider });
  }

  private fed(piece: PcmPiece): PcmPiece {
    this.outMs += (piece.chunk.pcm.length * 1000) / piece.chunk.sampleRate;
    return piece;
  }

  /**
   * The sentence's words; a markdown or SSML sentence's offsets (into its spoken text) are mapped into the
   * context's text through its source spans. `text` stays the word as spoken.
   */
  private sendTimings(item: SentenceItem, words: WordTiming[], source: 'native' | 'estimated'): void {
    if (words.length === 0) return;
    const spans = item.source;
    const start = item.sentence.start;
    const mapped = spans
      ? words.map((w) => {
          const span = sourceSpanOf(spans, w.text_start - start, w.text_end - start);
          return { ...w, text_start: span.start, text_end: span.end };
        })
      : words;
    this.control({ type: 'timings', words: mapped, source });
  }

  /** Whether only `end` (and acks) follow: no pause after the last sentence. */
  private endsNext(): boolean {
    const next = this.queue.find((item) => item.kind !== 'flushed');
    return next?.kind === 'end';
  }

  private async nextItem(): Promise<QueueItem> {
    for (;;) {
      this.abort.signal.throwIfAborted();
      const item = this.queue.shift();
      if (item) {
        this.kick();
        return item;
      }
      this.workerIdle = true;
      this.armIdleTimeout();
      await new Promise<void>((resolve) => (this.wakeWorker = resolve));
      this.workerIdle = false;
    }
  }

  private enqueue(sentence: CompletedSentence, trigger: SentenceTrigger, ssml?: SentenceItem['ssml']): void {
    // Taken before anything is skipped, so the spans of the text before are dropped either way.
    const source = ssml
      ? ssml.segment.sourceMap
      : this.spokenSource?.take(sentence.start, sentence.endOffset);
    const engine = engineTextOf(sentence.text);
    // An SSML segment without text still has its marks or its break to render.
    if (!engine.text && !ssml) return;
    this.sentences++;
    this.deps.metrics.sentences.inc({ trigger });
    this.queue.push({
      kind: 'sentence',
      sentence,
      engine,
      trigger,
      completedAt: performance.now(),
      bytes: utf8ByteLength(sentence.text),
      ...(ssml ? { ssml } : {}),
      ...(source ? { source } : {}),
    });
    this.kick();
    this.wake();
  }

  /**
   * SSML fragments: one item per segment (so sentence k+1 renders while k plays, as for text), the
   * fragment's pause before its first. Sentence offsets run over the segment texts; timings map them into
   * the context's text through each segment's `sourceMap`.
   */
  private enqueueSsml(units: readonly SsmlUnit[], trigger: SentenceTrigger): void {
    for (const unit of units) {
      for (const warning of unit.warnings) this.warn(`SSML ignored: ${warning}`);
      const provider = this.settings?.provider;
      if (provider) for (const warning of engineSsmlWarnings(unit, provider)) this.warn(warning);
      unit.segments.forEach((segment, index) => {
        const start = this.spokenChars;
        this.spokenChars += segment.text.length + (segment.text ? 1 : 0);
        const sentence: CompletedSentence = {
          text: segment.text,
          end: segmentEnd(segment.text),
          start,
          endOffset: start + segment.text.length,
        };
        this.enqueue(sentence, trigger, { segment, pauseBeforeMs: index === 0 ? unit.pauseBeforeMs : 0 });
      });
    }
  }

  /**
   * A `warning` frame about ignored SSML, once per distinct message, at most MAX_WARNINGS per context (an
   * LLM repeating an unknown tag in every sentence gets one).
   */
  private warn(message: string): void {
    if (this.warned.has(message) || this.warned.size > MAX_WARNINGS) return;
    this.warned.add(message);
    this.control({
      type: 'warning',
      code: ErrorCode.ValidationFailed,
      message:
        this.warned.size > MAX_WARNINGS
          ? 'more SSML was ignored in this context; further warnings are not sent'
          : message,
    });
  }

  /** Starts the synthesis of the first sentence in line (the one after the sentence being spoken). */
  private kick(): void {
    if (!this.settings || this.over) return;
    const next = this.queue.find((item): item is SentenceItem => item.kind === 'sentence');
    if (next && !next.job) this.startJob(next);
  }

  private startJob(item: SentenceItem): SentenceJob {
    const settings = this.settings!;
    const text = item.engine.text;
    const segment = item.ssml?.segment;
    const plan: SynthesisPlan = {
      attempts: settings.attempts.map((a) => ({ providerId: a.providerId, request: { ...a.request, text } })),
      format: settings.format,
      sampleRate: settings.sampleRate,
      failover: 'before_audio',
      source: sourceOf(this.host.caller.id, text, settings.voice),
      maxAudioSeconds: this.deps.limits.maxAudioSeconds,
      ...(segment ? { segments: [segment] } : {}),
    };
    const voice = segment?.voice;
    const job = new SentenceJob(
      (signal) => (voice ? this.withSegmentVoice(plan, voice, signal) : this.deps.tts.pcm(plan, signal)),
      this.abort.signal,
    );
    item.job = job;
    this.jobs.add(job.settled);
    void job.settled.then(() => this.jobs.delete(job.settled));
    this.syncPending();
    return job;
  }

  /** An SSML segment with `<voice name>`: each attempt gets that voice of its provider, if it has one. */
  private async *withSegmentVoice(
    plan: SynthesisPlan,
    name: string,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const voices = await this.segmentVoicesOf(name, plan.attempts);
    signal.throwIfAborted();
    const attempts = plan.attempts.map((attempt) => {
      const voice = voices.get(attempt.providerId);
      return voice ? { ...attempt, segmentVoices: { [name]: voice } } : attempt;
    });
    yield* this.deps.tts.pcm({ ...plan, attempts }, signal);
  }

  private segmentVoicesOf(
    name: string,
    attempts: SynthesisPlan['attempts'],
  ): Promise<ReadonlyMap<ProviderId, Voice>> {
    let lookup = this.segmentVoices.get(name);
    if (!lookup) {
      // Names come from the client: a bounded memo, the catalog behind it is cached anyway.
      if (this.segmentVoices.size >= MAX_SEGMENT_VOICES) this.segmentVoices.clear();
      lookup = Promise.all(
        attempts.map(
          async (a) => [a.providerId, await this.deps.settings.segmentVoice(a.providerId, name)] as const,
        ),
      ).then((found) => {
        const primary = attempts[0].providerId;
        if (!found.find(([id]) => id === primary)?.[1])
          this.warn(`voice "${name}" is not a voice of provider "${primary}"; the context's voice is used`);
        return new Map(found.filter((f): f is readonly [ProviderId, Voice] => f[1] !== undefined));
      });
      this.segmentVoices.set(name, lookup);
    }
    return lookup;
  }

  private async sendAudio(audio: EncodedAudio): Promise<void> {
    this.abort.signal.throwIfAborted();
    const seq = ++this.seq;
    const payload = this.host.binary
      ? audio.data
      : `{"type":"audio","context_id":${JSON.stringify(this.id)},"seq":${seq},"data":"${Buffer.from(audio.data.buffer, audio.data.byteOffset, audio.data.byteLength).toString('base64')}"}`;
    await this.host.sender.send(this, payload, this.host.binary);
    this.bytes += audio.data.length;
    this.audioMs = audio.audioMs;
    this.run?.sent(audio);
    if (this.firstFrame) {
      this.deps.metrics.sentenceTtfa.observe(
        { provider: this.firstFrame.provider },
        (performance.now() - this.firstFrame.completedAt) / 1000,
      );
      this.firstFrame = undefined;
    }
  }

  /** A control frame of this context, unless it was cleared or is over. */
  private control(message: { type: string } & Record<string, unknown>): void {
    if (this.over) return;
    const { type, ...rest } = message;
    this.host.sendJson({ type, context_id: this.id, ...rest });
  }

  private wake(): void {
    const wake = this.wakeWorker;
    this.wakeWorker = undefined;
    wake?.();
  }

  /** Text not yet being synthesized: the accumulator's and queued sentences without a job. */
  private syncPending(): void {
    let pending = 0;
    if (!this.over) {
      pending = utf8ByteLength(this.accumulator.pending) + this.heldBytes();
      for (const item of this.queue) if (item.kind === 'sentence' && !item.job) pending += item.bytes;
    }
    this.host.adjustBufferedText(pending - this.pendingBytes);
    this.pendingBytes = pending;
  }

  /** Text the format's filter holds (a markdown line, an SSML fragment), UTF-8 bytes. */
  private heldBytes(): number {
    return this.markdown?.heldBytes ?? this.ssml?.heldBytes ?? 0;
  }

  /** A partial sentence left idle for LIVE_IDLE_GAP_MS is spoken as it is. */
  private armGap(): void {
    clearTimeout(this.gapTimer);
    if (!this.accepting || (!this.accumulator.pending.trim() && this.heldBytes() === 0)) return;
    this.gapTimer = setTimeout(() => {
      if (!this.accepting) return;
      this.releaseHeld('idle_gap');
      this.syncPending();
    }, this.deps.config.idleGapMs);
    this.gapTimer.unref();
  }

  private touch(): void {
    if (this.state === 'open') this.armIdleTimeout();
  }

  /** A context with nothing to do and no message for LIVE_CONTEXT_IDLE_TIMEOUT_MS ends as with `end`. */
  private armIdleTimeout(): void {
    clearTimeout(this.idleTimer);
    if (this.state !== 'open') return;
    this.idleTimer = setTimeout(() => {
      // Text a filter holds does not keep a silent context alive: `end` speaks a held markdown line, and
      // refuses an SSML element left open (so a fragment that never closes is not held forever).
      const idle = this.workerIdle && this.queue.length === 0 && !this.accumulator.pending.trim();
      if (idle) this.end('idle_timeout');
      else this.armIdleTimeout();
    }, this.deps.config.contextIdleTimeoutMs);
    this.idleTimer.unref();
  }
}

async function* prepend<T>(first: T, rest: AsyncIterator<T>): AsyncGenerator<T> {
  yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/** Trims a sentence's edge silence and fades its edges (the sentence pipeline's seam treatment). */
async function* shapeSentence(pieces: AsyncIterable<PcmPiece>): AsyncGenerator<PcmPiece> {
  let shaper: SeamShaper | undefined;
  let provider: PcmPiece['provider'] | undefined;
  for await (const piece of pieces) {
    provider = piece.provider;
    if (shaper?.sampleRate !== piece.chunk.sampleRate) {
      if (shaper) yield* nonEmpty(shaper.finish(), shaper.sampleRate, provider);
      shaper = new SeamShaper(piece.chunk.sampleRate, DEFAULT_SEAM_SHAPER_OPTIONS);
    }
    yield* nonEmpty(shaper.push(piece.chunk.pcm), piece.chunk.sampleRate, provider);
  }
  if (shaper && provider) yield* nonEmpty(shaper.finish(), shaper.sampleRate, provider);
}

function* nonEmpty(pcm: Int16Array, sampleRate: number, provider: PcmPiece['provider']): Generator<PcmPiece> {
  if (pcm.length > 0) yield { chunk: { pcm, sampleRate }, provider };
}

/**
 * A sentence's PCM in one array, for the timing estimate. An engine that changed rate inside a sentence
 * (never seen in practice) is mapped onto the first rate by nearest sample: only the durations matter here.
 */
function joinPcm(pieces: readonly PcmPiece[]): { pcm: Int16Array; sampleRate: number } {
  const sampleRate = pieces[0]?.chunk.sampleRate ?? 1;
  const parts = pieces.map(({ chunk }) => {
    if (chunk.sampleRate === sampleRate) return chunk.pcm;
    const length = Math.round((chunk.pcm.length * sampleRate) / chunk.sampleRate);
    const out = new Int16Array(length);
    for (let i = 0; i < length; i++)
      out[i] = chunk.pcm[Math.min(chunk.pcm.length - 1, Math.floor((i * chunk.sampleRate) / sampleRate))];
    return out;
  });
  const pcm = concatPcm(parts);
  return { pcm, sampleRate };
}
