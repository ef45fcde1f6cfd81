import { useEffect, useState } from 'react';
import type { GatewayApi } from '../api/http';
import { GatewaySeries, type GatewayPoint } from '../metrics/gateway-series';
import { parsePrometheus } from '../metrics/prometheus';
import { publish } from '../debug';

export interface GatewayMetricsState {
  points: readonly GatewayPoint[];
  error: string | null;
}

/** Polls `/metrics` every `intervalMs` while the page is visible and keeps the chart points. */
export function useGatewayMetrics(api: GatewayApi, intervalMs = 1000): GatewayMetricsState {
  const [state, setState] = useState<GatewayMetricsState>({ points: [], error: null });

  useEffect(() => {
    const series = new GatewaySeries(60, 5000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abort: AbortController | null = null;
    let stopped = false;
    const poll = async () => {
      if (document.visibilityState === 'visible') {
        abort = new AbortController();
        try {
          const text = await api.metricsText(abort.signal);
          series.add(parsePrometheus(text), performance.now());
          const points = [...series.points];
          publish('gateway', points);
          setState({ points, error: null });
        } catch (e) {
          if (!stopped)
            setState((s) => ({ ...s, error: `Could not read /metrics: ${(e as Error).message}` }));
        }
      }
      if (!stopped) timer = setTimeout(() => void poll(), intervalMs);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
      abort?.abort();
    };
  }, [api, intervalMs]);

  return state;
}
