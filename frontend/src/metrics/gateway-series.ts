import { histogramBuckets, seriesOf, sumOf, type Bucket, type MetricsSnapshot } from './prometheus';
import { bucketDelta, histogramQuantile } from './quantiles';

/** One point of the gateway charts, derived from two or more scrapes of `/metrics`. */
export interface GatewayPoint {
  at: number;
  activeStreams: number | null;
  sessionsPerSec: number | null;
  /** Time to first audio of the streams that started in the last `windowMs`. */
  ttfaP50Ms: number | null;
  ttfaP95Ms: number | null;
  rateLimitedPerSec: number | null;
  /** Streams that ended other than `completed` (failed, cancelled, disconnected). */
  unfinishedStreamsPerSec: number | null;
  /** Provider → 0 closed, 1 open, 2 half-open. */
  circuits: Readonly<Record<string, number>>;
}

interface Scrape {
  at: number;
  sessions: number | null;
  rateLimited: number | null;
  unfinished: number | null;
  ttfa: Bucket[];
}

export const CIRCUIT_WORDS = ['closed', 'open', 'half-open'] as const;

export function circuitWord(state: number): string {
  return CIRCUIT_WORDS[state] ?? `state ${state}`;
}

/**
 * Keeps the last `capacity` points. Counters become per-second rates over the last interval (null on the
 * first scrape or after a counter reset); the TTFA histogram becomes p50/p95 over a sliding window.
 */
export class GatewaySeries {
  readonly points: GatewayPoint[] = [];
  private scrapes: Scrape[] = [];

  constructor(
    readonly capacity = 60,
    readonly windowMs = 5000,
  ) {}

  add(snapshot: MetricsSnapshot, at: number): GatewayPoint {
    const scrape: Scrape = {
      at,
      sessions: sumOf(snapshot, 'tts_sessions_total'),
      rateLimited:
        sumOf(snapshot, 'tts_rate_limited_total') ?? (snapshot.has('tts_rate_limited_total') ? 0 : null),
      unfinished: sumOf(snapshot, 'tts_streams_total', (l) => l.outcome !== 'completed'),
      ttfa: histogramBuckets(snapshot, 'tts_time_to_first_audio_seconds'),
    };
    const prev = this.scrapes[this.scrapes.length - 1];
    const windowStart = this.scrapes.find((s) => s.at >= at - this.windowMs - 1) ?? prev;
    const rate = (now: number | null, before: number | null | undefined) => {
      if (now === null || before === null || before === undefined || !prev || now < before) return null;
      return (now - before) / ((at - prev.at) / 1000);
    };
    const window = windowStart ? bucketDelta(scrape.ttfa, windowStart.ttfa) : [];
    const ms = (v: number | null) => (v === null ? null : v * 1000);
    const circuits: Record<string, number> = {};
    for (const s of seriesOf(snapshot, 'tts_provider_circuit_state'))
      circuits[s.labels.provider ?? '?'] = s.value;
    const point: GatewayPoint = {
      at,
      activeStreams: sumOf(snapshot, 'tts_active_streams'),
      sessionsPerSec: rate(scrape.sessions, prev?.sessions),
      ttfaP50Ms: ms(histogramQuantile(0.5, window)),
      ttfaP95Ms: ms(histogramQuantile(0.95, window)),
      rateLimitedPerSec: rate(scrape.rateLimited, prev?.rateLimited ?? (prev ? 0 : undefined)),
      unfinishedStreamsPerSec: rate(scrape.unfinished ?? 0, prev ? (prev.unfinished ?? 0) : undefined),
      circuits,
    };
    this.scrapes.push(scrape);
    this.scrapes = this.scrapes.filter((s) => s.at >= at - this.windowMs - 1);
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.shift();
    return point;
  }
}
