import { ApiError } from '../api/http';
import { describeCloseCode, describeCode } from '../api/errors';
import type { StreamHandlers, StreamOutcome } from '../api/stream';
import type { SessionCreated, SessionRequest } from '../api/types';
import { percentile } from '../metrics/quantiles';

export interface StressConfig {
  sessions: number;
  concurrency: number;
  request: SessionRequest;
}

/** A running stream as the runner needs it (the real one is `TtsStream`). */
export interface StressStream {
  cancel(): void;
}

/** A sink for the audio of one session (the player of the one that is heard: see `playerSink`). */
export interface AudioSink {
  push(bytes: Uint8Array): void;
  /** The stream completed: play out what is buffered, then release the audio device. */
  end(): void;
  /** Silence now and release the audio device, also while it plays out after `end`. */
  stop(): void;
}

export interface StressDeps {
  createSession(request: SessionRequest, signal: AbortSignal): Promise<SessionCreated>;
  openStream(session: SessionCreated, handlers: StreamHandlers): StressStream;
  /** The sink of session `index` (0-based), or null to discard its audio. */
  sinkFor?(index: number): AudioSink | null;
  now(): number;
}

export interface SessionResult {
  index: number;
  ok: boolean;
  /** Why it failed, in words ("429 rate limited", "WS 4503 the gateway is at its stream limit"). */
  cause?: string;
  /** From the start of the session request to its first audio. */
  ttfaMs?: number;
  bytes: number;
  chunks: number;
}

export interface StressReport {
  total: number;
  started: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Failures counted by cause, most frequent first. */
  causes: { cause: string; count: number }[];
  ttfa: { p50: number; p90: number; p99: number; max: number } | null;
  bytes: number;
  elapsedMs: number;
  state: 'idle' | 'running' | 'done' | 'stopped';
}

/** The words a failure is counted under. */
export function causeOfError(error: unknown): string {
  if (error instanceof ApiError) return error.causeLabel;
  return `network error (${(error as Error)?.message ?? String(error)})`;
}

export function causeOfOutcome(outcome: Exclude<StreamOutcome, { kind: 'completed' }>): string {
  switch (outcome.kind) {
    case 'error':
      return `WS ${outcome.closeCode} ${describeCode(outcome.code)}`;
    case 'cancelled':
      return 'stopped';
    case 'closed':
      return `WS ${outcome.closeCode} ${describeCloseCode(outcome.closeCode)}`;
  }
}

/**
 * Runs `sessions` sessions with at most `concurrency` at a time, each through the public API (create,
 * then stream to the end), and reports successes, failures by cause and time-to-first-audio percentiles.
 */
export class StressRunner {
  readonly results: SessionResult[] = [];
  onUpdate: ((report: StressReport) => void) | null = null;
  private next = 0;
  /** Audio bytes of every session so far, finished or not. */
  private bytes = 0;
  private running = 0;
  private startedAt = 0;
  private endedAt: number | null = null;
  private state: StressReport['state'] = 'idle';
  private readonly abort = new AbortController();
  private readonly live = new Set<StressStream>();
  private readonly sinks = new Set<AudioSink>();

  constructor(
    private readonly config: StressConfig,
    private readonly deps: StressDeps,
  ) {}

  async run(): Promise<StressReport> {
    this.state = 'running';
    this.startedAt = this.deps.now();
    const workers = Math.max(1, Math.min(this.config.concurrency, this.config.sessions));
    this.emit();
    await Promise.all(Array.from({ length: workers }, () => this.worker()));
    this.endedAt = this.deps.now();
    if (this.state === 'running') this.state = 'done';
    this.emit();
    return this.report();
  }

  /**
   * Stop starting sessions, cancel the running ones and silence every sink, including one still playing out
   * after the run has finished (a new run, or the page going away).
   */
  stop(): void {
    for (const s of this.sinks) s.stop();
    this.sinks.clear();
    if (this.state !== 'running') return;
    this.state = 'stopped';
    this.abort.abort();
    for (const s of this.live) s.cancel();
  }

  report(): StressReport {
    const ok = this.results.filter((r) => r.ok);
    const counts = new Map<string, number>();
    for (const r of this.results)
      if (!r.ok) counts.set(r.cause ?? 'unknown', (counts.get(r.cause ?? 'unknown') ?? 0) + 1);
    const ttfas = ok.map((r) => r.ttfaMs).filter((t): t is number => t !== undefined);
    return {
      total: this.config.sessions,
      started: this.next,
      running: this.running,
      succeeded: ok.length,
      failed: this.results.length - ok.length,
      causes: [...counts.entries()]
        .map(([cause, count]) => ({ cause, count }))
        .sort((a, b) => b.count - a.count),
      ttfa: ttfas.length
        ? {
            p50: percentile(ttfas, 50)!,
            p90: percentile(ttfas, 90)!,
            p99: percentile(ttfas, 99)!,
            max: Math.max(...ttfas),
          }
        : null,
      bytes: this.bytes,
      elapsedMs: (this.endedAt ?? this.deps.now()) - this.startedAt,
      state: this.state,
    };
  }

  private async worker(): Promise<void> {
    while (this.state === 'running' && this.next < this.config.sessions) {
      const index = this.next++;
      this.running++;
      this.emit();
      const result = await this.one(index);
      this.running--;
      this.results.push(result);
      this.emit();
    }
  }

  private async one(index: number): Promise<SessionResult> {
    const t0 = this.deps.now();
    const result: SessionResult = { index, ok: false, bytes: 0, chunks: 0 };
    // Taken before the session exists, so a session that fails to start still releases its player.
    const sink = this.deps.sinkFor?.(index) ?? null;
    if (sink) this.sinks.add(sink);
    const failed = (cause: string): SessionResult => {
      if (sink) {
        sink.stop();
        this.sinks.delete(sink);
      }
      return { ...result, ttfaMs: undefined, cause };
    };
    let session: SessionCreated;
    try {
      session = await this.deps.createSession(this.config.request, this.abort.signal);
    } catch (error) {
      return failed(this.abort.signal.aborted ? 'stopped' : causeOfError(error));
    }
    if (this.abort.signal.aborted) return failed('stopped');
    const outcome = await new Promise<StreamOutcome>((resolve) => {
      const stream = this.deps.openStream(session, {
        audio: (bytes) => {
          if (result.ttfaMs === undefined) result.ttfaMs = this.deps.now() - t0;
          result.bytes += bytes.length;
          this.bytes += bytes.length;
          result.chunks++;
          sink?.push(bytes);
        },
        end: (o) => {
          this.live.delete(stream);
          resolve(o);
        },
      });
      this.live.add(stream);
      if (this.abort.signal.aborted) stream.cancel();
    });
    if (outcome.kind !== 'completed') return failed(causeOfOutcome(outcome));
    // Plays out and releases itself (`playerSink`); `stop()` still silences it until then.
    sink?.end();
    return { ...result, ok: true };
  }

  private emit(): void {
    this.onUpdate?.(this.report());
  }
}
