import { describe, expect, it } from 'vitest';
import { GatewayApi } from '../api/http';
import { MAX_BACKOFF_MS, METRICS_NEED_KEY, MetricsPoller, type GatewayMetricsState } from './metrics-poller';

const EXPOSITION = `# TYPE tts_active_streams gauge
tts_active_streams 2
# TYPE tts_sessions_total counter
tts_sessions_total{provider="mock_tone"} 5
`;

/**
 * The real GatewayApi over a fetch that answers from `answers` in turn (the last one repeats); timers are run
 * by hand, so the test sees every wait the poller asks for.
 */
function rig(answers: (() => Response)[]) {
  let calls = 0;
  const api = new GatewayApi({
    fetch: () => Promise.resolve(answers[Math.min(calls++, answers.length - 1)]()),
  });
  const waits: number[] = [];
  let next: (() => void) | null = null;
  const states: GatewayMetricsState[] = [];
  let clock = 0;
  const poller = new MetricsPoller({
    metricsText: (signal) => api.metricsText(signal),
    onState: (s) => states.push(s),
    now: () => (clock += 1000),
    visible: () => true,
    setTimeout: (fn, ms) => {
      waits.push(ms);
      next = fn;
      return waits.length;
    },
    clearTimeout: () => (next = null),
  });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  /** Fires the pending timer, if any, and lets the scrape finish. */
  const step = async () => {
    const fn = next;
    next = null;
    fn?.();
    await settle();
  };
  return { poller, waits, states, calls: () => calls, step, settle, pending: () => next !== null };
}

const ok = () => new Response(EXPOSITION, { status: 200 });
const unauthorized = () =>
  new Response(
    JSON.stringify({ statusCode: 401, code: 'unauthorized', message: '/metrics requires an admin key' }),
    {
      status: 401,
    },
  );
const unavailable = () => new Response('busy', { status: 503 });

describe(MetricsPoller.name, () => {
  it('should scrape every interval and keep chart points', async () => {
    const r = rig([ok]);
    r.poller.start();
    await r.settle();
    await r.step();
    await r.step();
    expect(r.calls()).toBe(3);
    expect(r.waits).toEqual([1000, 1000, 1000]);
    const last = r.states[r.states.length - 1];
    expect(last.points).toHaveLength(3);
    expect(last.points[2].activeStreams).toBe(2);
    expect(last).toMatchObject({ error: null, notice: null });
    r.poller.stop();
  });

  it('should stop polling on a 401 and say in words that /metrics needs a key', async () => {
    const r = rig([ok, unauthorized]);
    r.poller.start();
    await r.settle();
    await r.step(); // the 401
    for (let i = 0; i < 5; i++) await r.step();
    expect(r.calls()).toBe(2); // one failed request, so one console error, not one a second
    expect(r.pending()).toBe(false);
    const last = r.states[r.states.length - 1];
    expect(last.notice).toBe(METRICS_NEED_KEY);
    expect(last.error).toBeNull();
    expect(last.points).toHaveLength(1); // what it had is kept
  });

  it('should back off on other failures, up to the maximum, and recover on success', async () => {
    const answers = [unavailable, unavailable, unavailable, unavailable, unavailable, unavailable, ok];
    const r = rig(answers);
    r.poller.start();
    await r.settle();
    for (let i = 0; i < answers.length - 1; i++) await r.step();
    expect(r.waits).toEqual([2000, 4000, 8000, 16000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, 1000]);
    expect(r.states[4].error).toBe(
      'Could not read /metrics (HTTP 503 service unavailable); trying again in 30 s.',
    );
    expect(r.states[r.states.length - 1]).toMatchObject({ error: null, notice: null });
    r.poller.stop();
    expect(r.pending()).toBe(false);
  });
});
