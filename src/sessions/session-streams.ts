import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { Counter } from 'prom-client';
import { sleep } from '../common/abort';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { internalDetail, toGatewayException } from '../common/errors/to-gateway-exception';
import { streamingConfig, type StreamingConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import type { ReplayLog, StreamEvent } from '../synthesis/replay/replay-log';
import { markdownTimingsToSource } from '../text/prepare';
import { engineTextOf } from '../text/sentence-timings';
import type { WordTiming } from '../text/word-timings';
import { ReplayStore } from '../synthesis/replay/replay-store';
import { SynthesisRuns, type RunOutcome, type SynthesisRun } from '../synthesis/synthesis-runs';
import { SynthesisSlots, type SlotRelease } from '../synthesis/synthesis-slots';
import type { SynthesisPlan } from '../synthesis/synthesis.types';
import { TtsService } from '../synthesis/tts.service';
import type { Session } from './session.model';
import { StreamControl } from '../state/control';
import { SessionStore } from './session.store';
import { concatBytes } from '../transcode/bytes';

/** A socket following a session stream; told when another socket takes over. */
export interface StreamReader {
  supersede(): void;
}

/** The abort reason when nobody came back for a detached stream within the resume window. */
export class ResumeWindowExpired extends Error {
  constructor(seconds: number) {
    super(`the client disconnected and did not resume within ${seconds} s`);
    this.name = 'ResumeWindowExpired';
  }
}

/**
 * One session's synthesis, running on its own: it appends encoded frames to the session's replay log while
 * a socket (the reader) follows, keeps going for a while when the socket drops (bounded by the log: it
 * pauses when the buffer is full), and is abandoned when nobody resumes within RESUME_WINDOW_SECONDS (its
 * log is then freed at once: past the window a resume gets `resume_unavailable`). Cancel, DELETE, a drain
 * deadline or the window's end abort it; the engine call stops with it.
 */
export class SessionStream {
  readonly abort = new AbortController();
  private reader: StreamReader | undefined;
  private detachTimer: NodeJS.Timeout | undefined;
  /** Highest seq a reader has sent; frames sent again on a resume are not counted twice. */
  private deliveredSeq = 0;
  private outcome: RunOutcome = 'failed';
  private expired = false;
  private servedFrom: 'cache' | 'engine' | undefined;
  readonly done: Promise<void>;

  constructor(
    readonly session: Session,
    readonly log: ReplayLog,
    private readonly plan: SynthesisPlan,
    private readonly run: SynthesisRun,
    private readonly release: SlotRelease,
    private readonly owner: SessionStreams,
  ) {
    this.done = this.produce();
  }

  /** A socket of this replica reads this stream (superseding is SessionStreams' job). */
  attach(reader: StreamReader): void {
    clearTimeout(this.detachTimer);
    this.detachTimer = undefined;
    this.reader = reader;
  }

  /**
   * The reader's socket is gone: keep synthesizing (bounded) until a reader comes back — here, or on another
   * replica reading the shared log — or the resume window ends.
   */
  detach(reader: StreamReader): void {
    if (this.reader !== reader) return;
    this.reader = undefined;
    this.wakeSettle();
    this.armResumeWindow();
  }

  private armResumeWindow(): void {
    if (this.log.finished || this.abort.signal.aborted) return;
    const seconds = this.owner.config.resumeWindowSeconds;
    this.detachTimer = setTimeout(() => {
      if (this.reader || this.log.followedElsewhere?.()) this.armResumeWindow();
      else {
        this.expired = true;
        this.abort.abort(new ResumeWindowExpired(seconds));
        this.owner.abandoned(this);
      }
    }, seconds * 1000);
    this.detachTimer.unref();
  }

  /** Nobody resumed within the window: it is stopping and can no longer be resumed. */
  get abandoned(): boolean {
    return this.expired;
  }

  /** A reader sent this event to its client: counted once per seq, for metrics and the session. */
  delivered(event: StreamEvent): void {
    if (event.kind === 'eos' || event.kind === 'error') {
      this.finalDelivered = true;
      this.wakeSettle();
      return;
    }
    if (event.kind !== 'audio' || event.seq <= this.deliveredSeq) return;
    this.deliveredSeq = event.seq;
    this.run.sent({
      data: event.data,
      providerId: this.run.servedBy ?? this.session.provider,
      audioMs: event.audioMs,
    });
  }

  private async produce(): Promise<void> {
    const signal = this.abort.signal;
    let seq = 0;
    let bytes = 0;
    let audioMs = 0;
    let error: GatewayException | undefined;
    const framing = new Framing(this.session);
    let pacedFrom: number | undefined;
    const emit = async (frame: Frame) => {
      if (this.session.pace === 'realtime') {
        // No more than a small lead ahead of real time, for clients that cannot buffer.
        pacedFrom ??= performance.now();
        const due = pacedFrom + frame.startMs - REALTIME_LEAD_MS;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait, signal);
      }
      bytes += frame.data.length;
      audioMs = frame.audioMs;
      // Chunks ready together leave as one message (never delaying the first); not with fixed framing.
      if (!framing.fixed && this.log.tryMerge?.(frame.data, frame.audioMs, COALESCE_MAX_BYTES)) return;
      seq += 1;
      await this.log.append({ kind: 'audio', seq, data: frame.data, audioMs: frame.audioMs });
      if (seq % 25 === 0) void this.owner.progress(this.session.id, this.counters());
    };
    try {
      for await (const audio of this.owner.tts.synthesize(this.plan, signal)) {
        await this.log.waitForRoom(signal);
        if (audio.switched) {
          this.owner.switches.inc({ from: audio.switched.from, to: audio.switched.to });
          this.run.switches++; // `delivered` records frames without their switch
          await this.log.append({
            kind: 'switch',
            seq: seq + 1,
            ...audio.switched,
            textOffset: this.toClientOffset(audio.switched.textOffset),
          });
        }
        this.run.servedBy = audio.providerId;
        this.servedFrom ??= audio.fromCache ? 'cache' : 'engine';
        if (audio.timings) {
          await this.log.append({
            kind: 'timings',
            words: this.toClientOffsets(audio.timings.words),
            source: audio.timings.source,
          });
        }
        for (const mark of audio.marks ?? []) {
          await this.log.append({ kind: 'mark', name: mark.name, startMs: Math.round(mark.startMs) });
        }
        if (audio.data.length === 0) continue;
        for (const frame of framing.push(audio.data, audio.audioMs)) await emit(frame);
      }
      for (const frame of framing.end()) await emit(frame);
      signal.throwIfAborted();
      await this.log.append({
        kind: 'eos',
        totals: { chunks: seq, bytes, audioDurationMs: Math.round(audioMs) },
      });
      this.outcome = 'completed';
    } catch (caught) {
      const reason: unknown = signal.aborted ? signal.reason : caught;
      error =
        reason instanceof ResumeWindowExpired
          ? new GatewayException(ErrorCode.Cancelled, reason.message)
          : toGatewayException(reason);
      this.outcome =
        reason instanceof ResumeWindowExpired
          ? 'disconnected'
          : error.code === ErrorCode.Cancelled
            ? 'cancelled'
            : 'failed';
      if (error.code === ErrorCode.InternalError || !(reason instanceof GatewayException)) {
        const detail = internalDetail(reason);
        this.owner.logger.warn({ sessionId: this.session.id, err: reason, detail }, 'stream failed');
      }
      await this.log.append({ kind: 'error', code: error.code, message: error.message });
    } finally {
      clearTimeout(this.detachTimer);
      this.release();
      // The reader may still be sending what was produced: account (and log) what reached the client.
      if (this.reader && !this.finalDelivered) {
        await Promise.race([new Promise<void>((resolve) => (this.settle = resolve)), sleep(SETTLE_MAX_MS)]);
      }
      this.run.end(this.outcome, error && { code: error.code, message: error.message });
      await this.owner.finished(this, this.outcome, error);
    }
  }

  /**
   * Timings (and a fallback's restart offset) come with offsets into the spoken text; the client wants them
   * into what it sent. For plain
   * text that is the raw text before normalization (kept as `sourceText`); for markdown, the markdown
   * (mapped back through the cleanup); SSML timings already index the SSML as sent.
   */
  private toClientOffsets(words: readonly WordTiming[]): WordTiming[] {
    if (this.session.textFormat === 'markdown')
      return (this.markdownMap ??= markdownTimingsToSource(this.session.text))(words);
    const raw = this.session.sourceText;
    if (!raw || this.session.textFormat !== 'text') return [...words];
    const map = (this.rawMap ??= engineTextOf(raw));
    return words.map((w) => {
      const start = map.rawStart[w.text_start] ?? w.text_start;
      const end = w.text_end > w.text_start ? (map.rawEnd[w.text_end - 1] ?? w.text_end) : start;
      return { ...w, text: raw.slice(start, end), text_start: start, text_end: end };
    });
  }

  /** An offset into the spoken text (where a fallback restarts) as an offset into what the client sent. */
  private toClientOffset(offset: number): number {
    const [at] = this.toClientOffsets([
      { text: '', start_ms: 0, end_ms: 0, text_start: offset, text_end: offset + 1 },
    ]);
    return at.text_start;
  }

  private rawMap: ReturnType<typeof engineTextOf> | undefined;
  private markdownMap: ((words: readonly WordTiming[]) => WordTiming[]) | undefined;
  private finalDelivered = false;
  private settle: (() => void) | undefined;

  private wakeSettle(): void {
    const settle = this.settle;
    this.settle = undefined;
    settle?.();
  }

  counters(): Pick<
    Session,
    'chunksSent' | 'bytesSent' | 'audioMs' | 'timeToFirstAudioMs' | 'servedBy' | 'servedFrom'
  > {
    return {
      ...(this.servedFrom ? { servedFrom: this.servedFrom } : {}),
      chunksSent: this.run.chunks,
      bytesSent: this.run.bytes,
      audioMs: this.run.audioMs,
      timeToFirstAudioMs: this.run.ttfaMs === undefined ? undefined : Math.round(this.run.ttfaMs),
      servedBy: this.run.servedBy,
    };
  }
}

/** How long a finished stream waits for its reader to send the last frames before it is accounted. */
const SETTLE_MAX_MS = 5000;
/** Coalesced messages stay below this (about 0.7 s of 24 kHz PCM; a few seconds of MP3). */
const COALESCE_MAX_BYTES = 32 * 1024;
/** `pace: "realtime"`: how far ahead of real time audio may be sent. */
const REALTIME_LEAD_MS = 300;

interface Frame {
  data: Uint8Array;
  /** Start and end of the frame's audio, in ms from the stream's start. */
  startMs: number;
  audioMs: number;
}

/**
 * `frame_ms` (CONTRACT.md "Framing and pacing"): every audio message carries exactly that much audio, the
 * last one maybe less. Raw formats (pcm16, mulaw, alaw, and WAV after its header) are cut at exact byte
 * counts; MP3 and Opus, whose encoder output comes in codec frames, are grouped into messages of about
 * `frame_ms` (each whole codec output, cut where the audio reaches the next multiple). Without `frame_ms`
 * chunks pass through (and may be coalesced).
 */
class Framing {
  readonly fixed: boolean;
  private readonly bytesPerMs: number | undefined;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private headerLeft: number;
  private emittedMs = 0;
  private lastAudioMs = 0;

  constructor(private readonly session: Session) {
    this.fixed = session.frameMs !== undefined;
    const perSample = { pcm16: 2, wav: 2, mulaw: 1, alaw: 1, mp3: undefined, opus: undefined }[
      session.targetFormat
    ];
    this.bytesPerMs = perSample ? (session.sampleRateHz * perSample) / 1000 : undefined;
    this.headerLeft = session.targetFormat === 'wav' ? 44 : 0;
  }

  *push(data: Uint8Array, audioMs: number): Generator<Frame> {
    if (!this.fixed) {
      yield { data, startMs: this.lastAudioMs, audioMs };
      this.lastAudioMs = audioMs;
      return;
    }
    const frameMs = this.session.frameMs as number;
    this.pending.push(data);
    this.pendingBytes += data.length;
    this.lastAudioMs = audioMs;
    if (this.bytesPerMs !== undefined) {
      const frameBytes = Math.round(frameMs * this.bytesPerMs);
      while (this.pendingBytes >= this.headerLeft + frameBytes)
        yield this.take(this.headerLeft + frameBytes, frameMs);
      return;
    }
    if (audioMs - this.emittedMs >= frameMs) yield this.take(this.pendingBytes, audioMs - this.emittedMs);
  }

  *end(): Generator<Frame> {
    if (this.pendingBytes > 0)
      yield this.take(this.pendingBytes, Math.max(0, this.lastAudioMs - this.emittedMs));
  }

  private take(n: number, ms: number): Frame {
    const all = concatBytes(this.pending);
    const data = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    this.headerLeft = 0;
    const startMs = this.emittedMs;
    this.emittedMs += ms;
    return { data, startMs, audioMs: this.emittedMs };
  }
}

/**
 * The session streams this replica is producing, by session id. Starting one takes a synthesis slot (the
 * global and per-client caps), opens the session's replay log and runs the synthesis; `abort` is where
 * DELETE, a cancel message and (with several replicas) a pub/sub cancel land; `drain` lets running streams
 * finish on shutdown.
 */
@Injectable()
export class SessionStreams implements BeforeApplicationShutdown {
  private readonly streams = new Map<string, SessionStream>();
  /** The socket of this replica reading each session (whoever produces it). */
  private readonly readers = new Map<string, StreamReader>();

  constructor(
    readonly tts: TtsService,
    private readonly store: SessionStore,
    private readonly replay: ReplayStore,
    private readonly slots: SynthesisSlots,
    private readonly runs: SynthesisRuns,
    private readonly control: StreamControl,
    @Inject(streamingConfig.KEY) readonly config: StreamingConfig,
    @InjectMetric(METRIC.providerSwitchesTotal) readonly switches: Counter<string>,
    @InjectPinoLogger('SessionStream') readonly logger: PinoLogger,
  ) {
    // From other replicas: a DELETE or cancel message for a stream produced here; a resume that took over.
    control.onCancel((id, message) => this.abort(id, new GatewayException(ErrorCode.Cancelled, message)));
    control.onTakeover((id) => {
      const reader = this.readers.get(id);
      this.readers.delete(id);
      reader?.supersede();
    });
  }

  /**
   * A socket starts reading a session: the previous reader of this replica is superseded, and so is any
   * reader on another replica (a takeover notice); the producer, if it runs here, knows someone follows.
   */
  follow(sessionId: string, reader: StreamReader, announce: boolean): void {
    const previous = this.readers.get(sessionId);
    this.readers.set(sessionId, reader);
    if (previous && previous !== reader) previous.supersede();
    if (announce) void this.control.announceReader(sessionId).catch(() => undefined);
    this.streams.get(sessionId)?.attach(reader);
  }

  unfollow(sessionId: string, reader: StreamReader): void {
    if (this.readers.get(sessionId) === reader) this.readers.delete(sessionId);
    this.streams.get(sessionId)?.detach(reader);
  }

  /**
   * Cancels a session's stream wherever it runs: here by aborting it, elsewhere through the control channel
   * (the producing replica aborts it within a round trip).
   */
  async cancel(sessionId: string, reason: GatewayException): Promise<void> {
    if (this.abort(sessionId, reason)) return;
    await this.control.requestCancel(sessionId, reason.message).catch(() => undefined);
  }

  get size(): number {
    return this.streams.size;
  }

  /** The stream this replica is producing for the session; not one abandoned at its window's end. */
  get(sessionId: string): SessionStream | undefined {
    const stream = this.streams.get(sessionId);
    return stream?.abandoned ? undefined : stream;
  }

  /**
   * Starts producing a session that was just claimed (pending → streaming). Throws `too_many_streams`
   * past the caps, after putting the session back to pending so the client may retry.
   */
  async start(
    session: Session,
    plan: SynthesisPlan,
    extra: Record<string, unknown> = {},
  ): Promise<SessionStream> {
    let release: SlotRelease;
    try {
      release = await this.slots.acquireShared(session.client, 'stream');
    } catch (error) {
      await this.store.transition(session.id, ['streaming'], { status: 'pending', startedAt: undefined });
      throw error;
    }
    const run = this.runs.start({
      route: 'stream',
      provider: session.provider,
      format: session.targetFormat,
      sampleRateHz: session.sampleRateHz,
      voice: session.voice,
      textChars: session.text.length,
      sessionId: session.id,
      client: session.client,
      extra: { failover: session.failover, ...extra },
    });
    const stream = new SessionStream(session, this.replay.create(session.id), plan, run, release, this);
    this.streams.set(session.id, stream);
    return stream;
  }

  /**
   * @internal Nobody came back within the resume window and the stream was aborted. The window is over, so
   * its log is freed now rather than retired (which would keep it for another window and let a late client
   * replay audio only to end on `cancelled`): a resume from here on gets `resume_unavailable`.
   */
  abandoned(stream: SessionStream): void {
    this.replay.drop(stream.session.id);
  }

  /** Aborts the session's local stream with `reason`; false when this replica runs none. */
  abort(sessionId: string, reason: unknown): boolean {
    const stream = this.streams.get(sessionId);
    if (!stream) return false;
    stream.abort.abort(reason);
    return true;
  }

  abortAll(reason: unknown): void {
    for (const stream of this.streams.values()) stream.abort.abort(reason);
  }

  /**
   * Graceful drain: running streams may finish until `deadline` (performance.now() ms); what is still
   * running then ends with `shutting_down`. Resolves when every stream has settled.
   */
  async drain(deadline: number): Promise<void> {
    while (this.streams.size > 0 && performance.now() < deadline) await sleep(50);
    if (this.streams.size === 0) return;
    this.abortAll(
      new GatewayException(ErrorCode.ShuttingDown, 'the gateway is shutting down; create a new session', {
        retryAfterSeconds: 1,
      }),
    );
    await Promise.allSettled([...this.streams.values()].map((s) => s.done));
  }

  /**
   * The application is closing (after the SIGTERM drain, or in tests): whatever still runs ends now with
   * `shutting_down`, and its readers get a moment to send that frame before Nest terminates the sockets.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.streams.size === 0) return;
    await this.drain(0);
    await sleep(100);
  }

  /** @internal Periodic counters while streaming. */
  async progress(sessionId: string, counters: Partial<Session>): Promise<void> {
    await this.store.update(sessionId, counters).catch(() => undefined);
  }

  /** @internal The stream ended: the session's final status and counters, and the log's retention. */
  async finished(
    stream: SessionStream,
    outcome: RunOutcome,
    error: GatewayException | undefined,
  ): Promise<void> {
    const id = stream.session.id;
    if (this.streams.get(id) === stream) this.streams.delete(id);
    // Ended streams stay replayable for the window; an abandoned one's window has already passed.
    if (outcome === 'disconnected') this.replay.drop(id);
    else this.replay.retire(id, stream.log);
    const status = outcome === 'completed' ? 'completed' : outcome === 'failed' ? 'failed' : 'cancelled';
    await this.store
      .transition(id, ['streaming'], {
        ...stream.counters(),
        status,
        finishedAt: new Date().toISOString(),
        ...(error ? { error: { code: error.code, message: error.message } } : {}),
      })
      .catch((e: unknown) =>
        this.logger.warn({ sessionId: id, err: e }, 'could not record the end of a stream'),
      );
  }
}
