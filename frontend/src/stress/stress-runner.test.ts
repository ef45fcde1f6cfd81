import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/http';
import { SeqTracker, type StreamHandlers, type StreamOutcome } from '../api/stream';
import type { SessionCreated } from '../api/types';
import { StressRunner, type StressDeps } from './stress-runner';

const request = { text: 'hi', target_format: 'pcm16' as const };
const tick = () => new Promise((r) => setTimeout(r, 0));

/** A fake gateway: session `i` fails to create when `create(i)` throws, and its stream ends as `stream(i)` says. */
function fakeDeps(plan: {
  create?: (i: number) => void;
  stream?: (i: number) => StreamOutcome;
  audio?: number;
}) {
  let clock = 0;
  let created = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  const cancelled: number[] = [];
  const deps: StressDeps = {
    now: () => clock,
    async createSession(): Promise<SessionCreated> {
      const i = created++;
      await tick();
      plan.create?.(i);
      return { session_id: String(i), ws_url: `/v1/tts/stream/${i}` };
    },
    openStream(session: SessionCreated, h: StreamHandlers) {
      const i = Number(session.session_id);
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      let done = false;
      const finish = (o: StreamOutcome) => {
        if (done) return;
        done = true;
        concurrent--;
        h.end?.(o);
      };
      void (async () => {
        await tick();
        clock += 10 + i; // first audio 10+i ms after this session started (clock only moves here)
        const seqs = new SeqTracker();
        for (let c = 0; c < (plan.audio ?? 2); c++) h.audio?.(new Uint8Array(100), c + 1, seqs);
        await tick();
        finish(plan.stream?.(i) ?? { kind: 'completed', closeCode: 1000 });
      })();
      return {
        cancel: () => {
          cancelled.push(i);
          finish({ kind: 'cancelled', closeCode: 4499 });
        },
      };
    },
  };
  return { deps, stats: () => ({ maxConcurrent, cancelled, created }) };
}

describe(StressRunner.name, () => {
  it('should run N sessions at concurrency C and count the successes', async () => {
    const { deps, stats } = fakeDeps({});
    const runner = new StressRunner({ sessions: 20, concurrency: 5, request }, deps);
    const report = await runner.run();
    expect(report).toMatchObject({
      total: 20,
      started: 20,
      running: 0,
      succeeded: 20,
      failed: 0,
      state: 'done',
    });
    expect(report.bytes).toBe(20 * 200);
    expect(stats().maxConcurrent).toBe(5);
    expect(report.ttfa?.p50).toBeGreaterThan(0);
  });

  it('should count failures by cause: HTTP status, WS close code, network', async () => {
    const { deps } = fakeDeps({
      create: (i) => {
        if (i % 4 === 1) throw new ApiError(429, 'Too many', 'rate_limited', undefined, 30);
        if (i === 2) throw new ApiError(503, 'circuit open', 'provider_unavailable');
        if (i === 6) throw new TypeError('Failed to fetch');
      },
      stream: (i) =>
        i === 3
          ? { kind: 'error', code: 'too_many_streams', message: 'full', closeCode: 4503 }
          : i === 7
            ? { kind: 'closed', closeCode: 1006, reason: '' }
            : { kind: 'completed', closeCode: 1000 },
    });
    const report = await new StressRunner({ sessions: 8, concurrency: 3, request }, deps).run();
    expect(report.succeeded).toBe(8 - 2 - 4);
    expect(report.failed).toBe(6);
    expect(report.causes[0]).toEqual({
      cause: '429 rate limited: too many new sessions from this client',
      count: 2,
    });
    expect(report.causes).toHaveLength(5);
    expect(report.causes).toEqual(
      expect.arrayContaining([
        { cause: '429 rate limited: too many new sessions from this client', count: 2 },
        { cause: '503 the provider is unavailable (down, or its circuit breaker is open)', count: 1 },
        { cause: 'network error (Failed to fetch)', count: 1 },
        { cause: 'WS 4503 the gateway is at its stream limit', count: 1 },
        { cause: 'WS 1006 connection lost', count: 1 },
      ]),
    );
  });

  it('should give TTFA percentiles of the successful sessions', async () => {
    const { deps } = fakeDeps({});
    const report = await new StressRunner({ sessions: 10, concurrency: 1, request }, deps).run();
    // Sequential: session i waits 10+i ms of fake clock for its first audio.
    expect(report.ttfa).toEqual({ p50: 14.5, p90: 18.1, p99: 18.91, max: 19 });
  });

  it('should stop starting sessions and cancel the running ones', async () => {
    const { deps, stats } = fakeDeps({ audio: 1 });
    const runner = new StressRunner({ sessions: 100, concurrency: 4, request }, deps);
    const done = runner.run();
    await tick();
    await tick();
    runner.stop();
    const report = await done;
    expect(report.state).toBe('stopped');
    expect(report.started).toBeLessThan(100);
    expect(report.running).toBe(0);
    expect(stats().created).toBeLessThan(100);
  });

  it('should feed the audio of the played session to its sink only', async () => {
    const { deps } = fakeDeps({ audio: 3 });
    const pushed: number[] = [];
    let ended = 0;
    deps.sinkFor = (i) =>
      i === 0 ? { push: (b) => pushed.push(b.length), end: () => ended++, stop: () => undefined } : null;
    await new StressRunner({ sessions: 3, concurrency: 3, request }, deps).run();
    expect(pushed).toEqual([100, 100, 100]);
    expect(ended).toBe(1);
  });

  it('should release the sink of the played session when that session fails to start or to stream', async () => {
    for (const plan of [
      {
        create: (i: number) => {
          if (i === 0) throw new ApiError(429, 'Too many', 'rate_limited');
        },
      },
      {
        stream: (i: number): StreamOutcome =>
          i === 0 ? { kind: 'closed', closeCode: 1006, reason: '' } : { kind: 'completed', closeCode: 1000 },
      },
    ]) {
      const { deps } = fakeDeps(plan);
      const calls: string[] = [];
      deps.sinkFor = (i) =>
        i === 0
          ? { push: () => calls.push('push'), end: () => calls.push('end'), stop: () => calls.push('stop') }
          : null;
      const report = await new StressRunner({ sessions: 2, concurrency: 1, request }, deps).run();
      expect(report.failed).toBe(1);
      expect(calls.filter((c) => c !== 'push')).toEqual(['stop']);
    }
  });

  it('should silence a sink still playing out when stopped after the run has finished', async () => {
    const { deps } = fakeDeps({});
    const calls: string[] = [];
    deps.sinkFor = (i) =>
      i === 0
        ? { push: () => undefined, end: () => calls.push('end'), stop: () => calls.push('stop') }
        : null;
    const runner = new StressRunner({ sessions: 2, concurrency: 2, request }, deps);
    expect((await runner.run()).state).toBe('done');
    expect(calls).toEqual(['end']);
    runner.stop(); // a new run, or the page going away
    expect(calls).toEqual(['end', 'stop']);
    expect(runner.report().state).toBe('done');
  });
});
