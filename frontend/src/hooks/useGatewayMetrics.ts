import { useEffect, useState } from 'react';
import type { GatewayApi } from '../api/http';
import { publish } from '../debug';
import { MetricsPoller, NO_GATEWAY_METRICS, type GatewayMetricsState } from '../metrics/metrics-poller';

export type { GatewayMetricsState } from '../metrics/metrics-poller';

/**
 * Polls `/metrics` every `intervalMs` while the page is visible and keeps the chart points. A new `api` (an
 * API key entered) starts over, so a poller stopped by a 401 tries again with the key.
 */
export function useGatewayMetrics(api: GatewayApi, intervalMs = 1000): GatewayMetricsState {
  const [state, setState] = useState<GatewayMetricsState>(NO_GATEWAY_METRICS);

  useEffect(() => {
    const poller = new MetricsPoller(
      {
        metricsText: (signal) => api.metricsText(signal),
        onState: (s) => {
          publish('gateway', s.points);
          publish('gatewayNotice', s.notice ?? s.error);
          setState(s);
        },
        now: () => performance.now(),
        visible: () => document.visibilityState === 'visible',
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
      },
      intervalMs,
    );
    poller.start();
    return () => poller.stop();
  }, [api, intervalMs]);

  return state;
}
