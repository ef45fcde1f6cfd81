import type { ReactNode } from 'react';
import { circuitWord, type GatewayPoint } from '../metrics/gateway-series';
import type { GatewayMetricsState } from '../hooks/useGatewayMetrics';
import { ms, perSecond } from './format';
import { Sparkline } from './Sparkline';

const CAPACITY = 60;

/** Gauge value (0 closed, 1 open, 2 half-open) → height on the chart: open is the worst. */
const severity = (state: number) => (state === 1 ? 2 : state === 2 ? 1 : 0);

function Card({
  title,
  value,
  children,
  id,
}: {
  title: string;
  value: ReactNode;
  children: ReactNode;
  id: string;
}) {
  return (
    <div className="card" id={id}>
      <h3>{title}</h3>
      <p className="value">{value}</p>
      {children}
    </div>
  );
}

/** The gateway's own metrics, scraped from `/metrics` every second, as small live charts. */
export function GatewayPanel({ metrics }: { metrics: GatewayMetricsState }) {
  const points = metrics.points;
  const last: GatewayPoint | undefined = points[points.length - 1];
  const pick = (f: (p: GatewayPoint) => number | null) => points.map(f);
  const providers = [...new Set(points.flatMap((p) => Object.keys(p.circuits)))];
  const lastTtfa = [...points].reverse().find((p) => p.ttfaP50Ms !== null);

  return (
    <section className="panel" aria-labelledby="gw-title">
      <h2 id="gw-title">What the gateway is doing</h2>
      <p className="hint">
        Scraped from <a href="/metrics">/metrics</a> every second (last minute). Time to first audio is over
        the last 5 s.
      </p>
      {metrics.notice && (
        <p className="note" id="gw-notice" role="status">
          {metrics.notice}
        </p>
      )}
      {metrics.error && (
        <p className="problem" id="gw-error" role="alert">
          {metrics.error}
        </p>
      )}
      <div className="cards">
        <Card id="gw-active" title="Active streams" value={last?.activeStreams ?? '–'}>
          <Sparkline
            series={[{ values: pick((p) => p.activeStreams) }]}
            capacity={CAPACITY}
            label="Active streams over the last minute"
          />
        </Card>
        <Card id="gw-sessions" title="Sessions per second" value={perSecond(last?.sessionsPerSec)}>
          <Sparkline
            series={[{ values: pick((p) => p.sessionsPerSec) }]}
            capacity={CAPACITY}
            label="New per second, last minute"
          />
        </Card>
        <Card
          id="gw-ttfa"
          title="Time to first audio"
          value={
            <>
              {ms(lastTtfa?.ttfaP50Ms)} <small>p50</small> · {ms(lastTtfa?.ttfaP95Ms)} <small>p95</small>
            </>
          }
        >
          <Sparkline
            series={[
              { values: pick((p) => p.ttfaP95Ms), className: 'line secondary' },
              { values: pick((p) => p.ttfaP50Ms) },
            ]}
            capacity={CAPACITY}
            minMax={50}
            label="Time to first audio, p50 and p95, over the last minute"
          />
        </Card>
        <Card id="gw-ratelimited" title="Rate limited" value={perSecond(last?.rateLimitedPerSec)}>
          <Sparkline
            series={[{ values: pick((p) => p.rateLimitedPerSec), className: 'line warn' }]}
            capacity={CAPACITY}
            label="Rate-limited requests per second over the last minute"
          />
        </Card>
        <Card
          id="gw-unfinished"
          title="Streams not completed"
          value={perSecond(last?.unfinishedStreamsPerSec)}
        >
          <Sparkline
            series={[{ values: pick((p) => p.unfinishedStreamsPerSec), className: 'line warn' }]}
            capacity={CAPACITY}
            label="Streams ended as failed, cancelled or disconnected, per second"
          />
        </Card>
        <Card
          id="gw-circuits"
          title="Circuit breakers"
          value={
            providers.length === 0 ? (
              '–'
            ) : (
              <span className="chips">
                {providers.map((id) => {
                  const state = last?.circuits[id];
                  return (
                    <span key={id} className={`chip c${state ?? 'x'}`}>
                      {id}: {state === undefined ? '?' : circuitWord(state)}
                    </span>
                  );
                })}
              </span>
            )
          }
        >
          <Sparkline
            series={[
              {
                values: pick((p) => Math.max(0, ...Object.values(p.circuits).map(severity))),
                className: 'line bad',
              },
            ]}
            capacity={CAPACITY}
            minMax={2}
            steps
            label="Worst circuit state over the last minute (bottom closed, middle half-open, top open)"
          />
        </Card>
      </div>
    </section>
  );
}
