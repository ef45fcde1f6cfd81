import { MemoryUsageStore } from '../state/counters';
import { WindowedLiveCharBudget } from './char-budget';

describe(WindowedLiveCharBudget.name, () => {
  const budget = (charsPerMinute: number) =>
    new WindowedLiveCharBudget(new MemoryUsageStore(), { charsPerMinute });

  it('should count characters per client in one-minute windows', async () => {
    const b = budget(100);
    expect(await b.take('a', 60)).toEqual({ ok: true });
    expect(await b.take('a', 40)).toEqual({ ok: true });
    expect(await b.take('a', 1)).toEqual({ ok: false, retryAfterSeconds: 60, limit: 100 });
    expect(await b.take('b', 100)).toEqual({ ok: true });
  });

  it('should say when the window ends', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const b = budget(10);
      await b.take('a', 10);
      jest.setSystemTime(1_045_500);
      expect(await b.take('a', 1)).toMatchObject({ ok: false, retryAfterSeconds: 15 });
      jest.setSystemTime(1_060_000);
      expect(await b.take('a', 10)).toEqual({ ok: true });
    } finally {
      jest.useRealTimers();
    }
  });

  it('should be off at 0', async () => {
    expect(await budget(0).take('a', 1e9)).toEqual({ ok: true });
  });
});
