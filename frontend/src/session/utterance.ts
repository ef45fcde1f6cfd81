import { ApiError, type GatewayApi } from '../api/http';
import { describeCloseCode, describeCode } from '../api/errors';
import type { StreamHandlers, StreamOutcome } from '../api/stream';
import type { SessionCreated, SessionRequest } from '../api/types';
import { utteranceFile, type AudioFile } from '../audio/download';
import { IDLE_PLAYBACK, type PlaybackStats } from '../audio/playback-stats';
import type { PlayerKind, StreamPlayer } from '../audio/player';

/** Where the stream is (apart from where the playback is). */
export type StreamState = 'creating' | 'connecting' | 'receiving' | 'ended' | 'cancelled' | 'failed' | 'lost';

export interface UtteranceEvent {
  /** ms since Speak. */
  at: number;
  text: string;
  tone: 'info' | 'warn' | 'error';
}

export interface UtteranceSnapshot {
  id: number;
  request: SessionRequest;
  sampleRate: number;
  stream: StreamState;
  /** What went wrong, in words a person can act on. */
  problem: string | null;
  errorCode: string | null;
  closeCode: number | null;
  sessionId: string | null;
  /** performance.now() marks. */
  speakAt: number;
  openAt: number | null;
  firstAudioAt: number | null;
  streamEndAt: number | null;
  bytes: number;
  chunks: number;
  seqGaps: number;
  missingFrames: number;
  playerKind: PlayerKind | null;
  playback: PlaybackStats;
  /** Playback counters at the moment the stream ended: proof audio played while it was still arriving. */
  atStreamEnd: { renderedSamples: number; nonSilentSamples: number } | null;
  events: UtteranceEvent[];
  /** Playing or able to play: Stop has something to stop. */
  active: boolean;
  canDownload: boolean;
}

export interface UtteranceDeps {
  api: Pick<GatewayApi, 'createSession'>;
  openStream(session: SessionCreated, handlers: StreamHandlers): { cancel(): void; dispose(): void };
  now(): number;
}

const EMIT_EVERY_MS = 100;
const MAX_EVENTS = 12;
let nextId = 1;

/**
 * One Speak: create the session, stream it into a player, keep the counters the page shows, and stop
 * everything at any moment. The player is made by the caller inside the click (autoplay rules).
 */
export class Utterance {
  private snap: UtteranceSnapshot;
  private readonly listeners = new Set<() => void>();
  private readonly parts: Uint8Array[] = [];
  private readonly abort = new AbortController();
  private stream: { cancel(): void; dispose(): void } | null = null;
  private emitTimer: ReturnType<typeof setTimeout> | null = null;
  private releaseTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly request: SessionRequest,
    private readonly player: StreamPlayer | null,
    private readonly deps: UtteranceDeps,
  ) {
    this.snap = {
      id: nextId++,
      request,
      sampleRate: request.sample_rate_hz ?? 24000,
      stream: 'creating',
      problem: null,
      errorCode: null,
      closeCode: null,
      sessionId: null,
      speakAt: deps.now(),
      openAt: null,
      firstAudioAt: null,
      streamEndAt: null,
      bytes: 0,
      chunks: 0,
      seqGaps: 0,
      missingFrames: 0,
      playerKind: player?.kind ?? null,
      playback: player?.stats() ?? IDLE_PLAYBACK,
      atStreamEnd: null,
      events: [],
      active: true,
      canDownload: false,
    };
    if (player) {
      player.onStats = (stats) => this.onPlayback(stats);
      player.onError = (message) => this.log(message, 'error');
    }
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): UtteranceSnapshot => this.snap;

  async start(): Promise<void> {
    this.log('creating session');
    let session: SessionCreated;
    try {
      session = await this.deps.api.createSession(this.request, this.abort.signal);
    } catch (error) {
      if (this.abort.signal.aborted) return;
      this.fail(error);
      return;
    }
    if (this.abort.signal.aborted) return;
    this.update(
      {
        stream: 'connecting',
        sessionId: session.session_id,
        sampleRate: session.sample_rate_hz ?? this.snap.sampleRate,
      },
      true,
    );
    this.log(
      `session ${session.session_id.slice(0, 8)}… (${session.provider ?? '?'} / ${session.voice ?? '?'})`,
    );
    this.stream = this.deps.openStream(session, {
      open: () => {
        this.update({ stream: 'receiving', openAt: this.deps.now() }, true);
        this.log('socket open');
      },
      audio: (bytes, _seq, seqs) => this.onAudio(bytes, seqs.gaps, seqs.missing),
      event: (frame) => {
        if (frame.type === 'provider_switched')
          this.log(`provider switched from ${frame.from ?? '?'} to ${frame.to ?? '?'}`, 'warn');
        else if (frame.type === 'warning') this.log(`warning: ${frame.message ?? frame.code ?? ''}`, 'warn');
      },
      end: (outcome) => this.onEnd(outcome),
    });
  }

  /** Stop playback at once and cancel the stream if it is still running. */
  stop(): void {
    if (!this.snap.active) return;
    const wasStreaming = ['creating', 'connecting', 'receiving'].includes(this.snap.stream);
    this.abort.abort();
    this.stream?.cancel();
    this.player?.stop();
    const playback = { ...this.snap.playback, state: 'stopped' as const, level: 0, bufferedMs: 0 };
    this.update({ playback, active: false, ...(wasStreaming ? { stream: 'cancelled' as const } : {}) }, true);
    this.log(wasStreaming ? 'stopped: stream cancelled' : 'stopped');
  }

  /** Page teardown: drop everything without waiting for the gateway. */
  dispose(): void {
    this.abort.abort();
    this.stream?.dispose();
    this.player?.stop();
    if (this.emitTimer) clearTimeout(this.emitTimer);
    if (this.releaseTimer) clearTimeout(this.releaseTimer);
    this.listeners.clear();
  }

  /** The whole utterance as a file; only once the stream has ended normally. */
  file(): AudioFile | null {
    if (!this.snap.canDownload) return null;
    return utteranceFile(this.request.target_format, this.snap.sampleRate, this.parts);
  }

  get analyser(): AnalyserNode | null {
    return this.player?.analyser ?? null;
  }

  private onAudio(bytes: Uint8Array, seqGaps: number, missingFrames: number): void {
    this.parts.push(bytes);
    const first = this.snap.firstAudioAt === null;
    this.player?.push(bytes);
    this.update(
      {
        firstAudioAt: first ? this.deps.now() : this.snap.firstAudioAt,
        bytes: this.snap.bytes + bytes.length,
        chunks: this.snap.chunks + 1,
        seqGaps,
        missingFrames,
      },
      first,
    );
    if (first) this.log('first audio');
  }

  private onEnd(outcome: StreamOutcome): void {
    if (this.abort.signal.aborted) {
      // Stopped by the user: whatever the gateway managed to send last (eos or cancelled) changes nothing.
      this.update({ closeCode: outcome.closeCode, streamEndAt: this.deps.now() }, true);
      this.log(`socket closed ${outcome.closeCode} (${describeCloseCode(outcome.closeCode)})`);
      return;
    }
    const playback = this.player?.stats() ?? this.snap.playback;
    const base = {
      closeCode: outcome.closeCode,
      streamEndAt: this.deps.now(),
      atStreamEnd: { renderedSamples: playback.renderedSamples, nonSilentSamples: playback.nonSilentSamples },
    };
    switch (outcome.kind) {
      case 'completed':
        this.player?.end();
        this.update({ ...base, stream: 'ended', canDownload: true, active: this.player !== null }, true);
        this.log('end of stream (eos)');
        return;
      case 'cancelled':
        this.player?.stop();
        this.update(
          { ...base, stream: 'cancelled', active: false, problem: 'The gateway cancelled the stream.' },
          true,
        );
        this.log('cancelled by the gateway', 'warn');
        return;
      case 'error':
        this.player?.stop();
        this.update(
          {
            ...base,
            stream: 'failed',
            active: false,
            errorCode: outcome.code,
            problem: `${capitalize(describeCode(outcome.code))}. ${outcome.message}`.trim(),
          },
          true,
        );
        this.log(`error ${outcome.code}, close ${outcome.closeCode}`, 'error');
        return;
      case 'closed':
        this.player?.stop();
        this.update(
          {
            ...base,
            stream: 'lost',
            active: false,
            problem: `The connection closed before the end of the stream (${outcome.closeCode}: ${describeCloseCode(outcome.closeCode)}).`,
          },
          true,
        );
        this.log(`socket closed ${outcome.closeCode} before eos`, 'error');
        return;
    }
  }

  private onPlayback(stats: PlaybackStats): void {
    if (!this.snap.active) return;
    const drained = stats.state === 'drained' && this.snap.stream === 'ended';
    this.update({ playback: stats, active: !drained }, stats.state !== this.snap.playback.state);
    if (drained) {
      this.log('playback finished');
      // Give the audio device back once the last samples have left.
      this.releaseTimer = setTimeout(() => this.player?.stop(), 500);
    }
  }

  private fail(error: unknown): void {
    this.player?.stop();
    let problem: string;
    let code: string | null = null;
    if (error instanceof ApiError) {
      code = error.code ?? null;
      const retry = error.retryAfterSeconds ? ` Try again in ${error.retryAfterSeconds} s.` : '';
      problem =
        error.status === 429
          ? `Rate limited: too many new sessions from this browser.${retry}`
          : error.status === 0
            ? error.message
            : `${capitalize(code ? describeCode(code) : `HTTP ${error.status}`)}: ${error.message}${retry}`;
    } else {
      problem = String((error as Error)?.message ?? error);
    }
    this.update({ stream: 'failed', active: false, problem, errorCode: code }, true);
    this.log(problem, 'error');
  }

  private log(text: string, tone: UtteranceEvent['tone'] = 'info'): void {
    const at = Math.round(this.deps.now() - this.snap.speakAt);
    this.update({ events: [...this.snap.events, { at, text, tone }].slice(-MAX_EVENTS) }, true);
  }

  private update(patch: Partial<UtteranceSnapshot>, urgent: boolean): void {
    this.snap = { ...this.snap, ...patch };
    if (urgent) this.emit();
    else this.emitTimer ??= setTimeout(() => this.emit(), EMIT_EVERY_MS);
  }

  private emit(): void {
    if (this.emitTimer) clearTimeout(this.emitTimer);
    this.emitTimer = null;
    for (const l of this.listeners) l();
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
