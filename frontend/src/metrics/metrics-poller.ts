import { ApiError } from '../api/http';
import { GatewaySeries, type GatewayPoint } from './gateway-series';
import { parsePrometheus } from './prometheus';

export interface GatewayMetricsState {
  points: readonly GatewayPoint[];
  /** A scrape failed; polling goes on, more slowly. */
  error: string | null;
  /** Polling has stopped and why, in words (the gateway wants a key this page does not have). */
  notice: string | null;
}

export const NO_GATEWAY_METRICS: GatewayMetricsState = { points: [], error: null, notice: null };

export interface MetricsPollerDeps {
  metricsText(signal: AbortSignal): Promise<string>;
  onState(state: GatewayMetricsState): void;
  now(): number;
  /** False while the tab is hidden: no scrape then. */
  visible(): boolean;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest wait between failed scrapes. */
export const MAX_BACKOFF_MS = 30_000;

export const METRICS_NEED_KEY =
  '/metrics on this gateway needs an admin API key, so these charts are off. Enter one under Options to see them.';

/**
 * Scrapes `/metrics` every `intervalMs` into chart points. Every failed request is a console error in the
 * browser, so failures slow it down: a 401/403 (the gateway wants a key) stops it until it is made again with
 * a key, and any other failure doubles the wait, up to MAX_BACKOFF_MS, until a scrape succeeds.
 */
export class MetricsPoller {
  private readonly series = new GatewaySeries(60, 5000);
  private state: GatewayMetricsState = NO_GATEWAY_METRICS;
  private timer: unknown = null;
  private abort: AbortController | null = null;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly deps: MetricsPollerDeps,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.deps.clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    if (!this.deps.visible()) return this.schedule(this.intervalMs);
    const abort = (this.abort = new AbortController());
    let text: string;
    try {
      text = await this.deps.metricsText(abort.signal);
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        this.set({ error: null, notice: METRICS_NEED_KEY });
        return; // no retry: it would fail, and log, every time
      }
      this.failures++;
      const delay = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** this.failures);
      const why = (error as Error)?.message ?? String(error);
      this.set({
        error: `Could not read /metrics (${why}); trying again in ${Math.round(delay / 1000)} s.`,
      });
      return this.schedule(delay);
    }
    if (this.stopped) return;
    this.failures = 0;
    this.series.add(parsePrometheus(text), this.deps.now());
    this.set({ points: [...this.series.points], error: null, notice: null });
    this.schedule(this.intervalMs);
  }

  private schedule(ms: number): void {
    if (!this.stopped) this.timer = this.deps.setTimeout(() => void this.poll(), ms);
  }

  private set(patch: Partial<GatewayMetricsState>): void {
    this.state = { ...this.state, ...patch };
    this.deps.onState(this.state);
  }
}
