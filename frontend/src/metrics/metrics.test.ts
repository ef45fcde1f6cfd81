import { describe, expect, it } from 'vitest';
import { GatewaySeries } from './gateway-series';
import { histogramBuckets, parsePrometheus, seriesOf, sumOf } from './prometheus';
import { bucketDelta, histogramQuantile, percentile } from './quantiles';

/** The shape prom-client writes for the gateway (abridged), with counters `a`, `b` and histogram counts `h`. */
function exposition(a: number, b: number, h: [number, number, number], extra = ''): string {
  return `# HELP tts_sessions_total Sessions created.
# TYPE tts_sessions_total counter
tts_sessions_total{provider="mock_tone",format="pcm16"} ${a}
tts_sessions_total{provider="espeak",format="mp3"} ${b}

# HELP tts_active_streams Streams now open.
# TYPE tts_active_streams gauge
tts_active_streams 3
# TYPE tts_time_to_first_audio_seconds histogram
tts_time_to_first_audio_seconds_bucket{le="0.05",provider="mock_tone",format="pcm16"} ${h[0]}
tts_time_to_first_audio_seconds_bucket{le="0.1",provider="mock_tone",format="pcm16"} ${h[1]}
tts_time_to_first_audio_seconds_bucket{le="+Inf",provider="mock_tone",format="pcm16"} ${h[2]}
tts_time_to_first_audio_seconds_sum{provider="mock_tone",format="pcm16"} 0.5
tts_time_to_first_audio_seconds_count{provider="mock_tone",format="pcm16"} ${h[2]}
# TYPE tts_rate_limited_total counter
tts_rate_limited_total{route="sessions"} ${b}
# TYPE tts_provider_circuit_state gauge
tts_provider_circuit_state{provider="mock_tone"} 0
tts_provider_circuit_state{provider="espeak"} 1
# TYPE tts_streams_total counter
tts_streams_total{provider="mock_tone",format="pcm16",outcome="completed"} ${a}
tts_streams_total{provider="mock_tone",format="pcm16",outcome="failed"} ${b}
${extra}`;
}

describe(parsePrometheus.name, () => {
  it('should group histogram series under their family and sum counters', () => {
    const m = parsePrometheus(exposition(4, 6, [1, 2, 3]));
    expect(m.get('tts_time_to_first_audio_seconds')?.type).toBe('histogram');
    expect(m.get('tts_time_to_first_audio_seconds')?.samples).toHaveLength(5);
    expect(sumOf(m, 'tts_sessions_total')).toBe(10);
    expect(sumOf(m, 'tts_sessions_total', (l) => l.provider === 'espeak')).toBe(6);
    expect(sumOf(m, 'tts_not_there')).toBeNull();
    expect(histogramBuckets(m, 'tts_time_to_first_audio_seconds')).toEqual([
      { le: 0.05, count: 1 },
      { le: 0.1, count: 2 },
      { le: Infinity, count: 3 },
    ]);
  });

  it('should read escaped label values, special values, timestamps and untyped series', () => {
    const m = parsePrometheus(
      [
        'weird{path="a\\"b\\\\c\\nd",x="1"} NaN 1700000000000',
        'neg -Inf',
        'sci{} 1.5e3',
        'garbage{unterminated="x 3',
        'process_cpu_seconds_total 12.5',
      ].join('\n'),
    );
    const [weird] = seriesOf(m, 'weird');
    expect(weird.labels).toEqual({ path: 'a"b\\c\nd', x: '1' });
    expect(weird.value).toBeNaN();
    expect(sumOf(m, 'neg')).toBe(-Infinity);
    expect(sumOf(m, 'sci')).toBe(1500);
    expect(sumOf(m, 'process_cpu_seconds_total')).toBe(12.5);
  });
});

describe('quantiles', () => {
  const buckets = [
    { le: 0.1, count: 50 },
    { le: 0.2, count: 90 },
    { le: Infinity, count: 100 },
  ];

  it('should interpolate inside a bucket like histogram_quantile', () => {
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.25, buckets)).toBeCloseTo(0.05);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.15);
    expect(histogramQuantile(0.99, buckets)).toBe(0.2); // in +Inf: the highest finite bound
    expect(histogramQuantile(0.5, [{ le: Infinity, count: 0 }])).toBeNull();
  });

  it('should subtract scrapes bucket by bucket', () => {
    expect(bucketDelta(buckets, [{ le: 0.1, count: 40 }])).toEqual([
      { le: 0.1, count: 10 },
      { le: 0.2, count: 90 },
      { le: Infinity, count: 100 },
    ]);
  });

  it('should give percentiles of raw values', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5], 99)).toBe(5);
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBeCloseTo(9.1);
  });
});

describe(GatewaySeries.name, () => {
  it('should turn counters into rates and the TTFA histogram into windowed percentiles', () => {
    const series = new GatewaySeries(10, 5000);
    const first = series.add(parsePrometheus(exposition(0, 0, [0, 0, 0])), 1000);
    expect(first).toMatchObject({ activeStreams: 3, sessionsPerSec: null, ttfaP50Ms: null });
    expect(first.circuits).toEqual({ mock_tone: 0, espeak: 1 });
    const second = series.add(parsePrometheus(exposition(4, 2, [2, 4, 4])), 3000);
    expect(second.sessionsPerSec).toBe(3);
    expect(second.rateLimitedPerSec).toBe(1);
    expect(second.unfinishedStreamsPerSec).toBe(1);
    expect(second.ttfaP50Ms).toBeCloseTo(50);
    expect(second.ttfaP95Ms).toBeCloseTo(95);
    // Nothing new in the last 5 s: no TTFA point rather than a stale one.
    series.add(parsePrometheus(exposition(4, 2, [2, 4, 4])), 8500);
    const idle = series.add(parsePrometheus(exposition(4, 2, [2, 4, 4])), 9000);
    expect(idle).toMatchObject({ sessionsPerSec: 0, ttfaP50Ms: null });
  });

  it('should not report a negative rate after a gateway restart', () => {
    const series = new GatewaySeries();
    series.add(parsePrometheus(exposition(10, 0, [0, 0, 0])), 0);
    expect(series.add(parsePrometheus(exposition(1, 0, [0, 0, 0])), 1000).sessionsPerSec).toBeNull();
  });

  it('should keep only the last points', () => {
    const series = new GatewaySeries(2);
    for (let t = 0; t < 5; t++) series.add(parsePrometheus(exposition(t, 0, [0, 0, 0])), t * 1000);
    expect(series.points.map((p) => p.at)).toEqual([3000, 4000]);
  });
});
