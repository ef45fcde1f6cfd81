import { MemoryLiveCharBudget } from './char-budget';

describe(MemoryLiveCharBudget.name, () => {
  let now = 0;
  const budget = (charsPerMinute: number) => new MemoryLiveCharBudget({ charsPerMinute }, () => now);

  beforeEach(() => {
    now = 1_000_000;
  });

  it('should count characters per client in one-minute windows', () => {
    const b = budget(100);
    expect(b.take('a', 60)).toEqual({ ok: true });
    expect(b.take('a', 40)).toEqual({ ok: true });
    expect(b.take('a', 1)).toEqual({ ok: false, retryAfterSeconds: 60, limit: 100 });
    expect(b.take('b', 100)).toEqual({ ok: true });
    now += 45_500;
    expect(b.take('a', 1)).toMatchObject({ ok: false, retryAfterSeconds: 15 });
    now += 15_000;
    expect(b.take('a', 100)).toEqual({ ok: true });
  });

  it('should not count what it refuses', () => {
    const b = budget(100);
    expect(b.take('a', 90).ok).toBe(true);
    expect(b.take('a', 20).ok).toBe(false);
    expect(b.take('a', 10).ok).toBe(true);
  });

  it('should be off at 0', () => {
    expect(budget(0).take('a', 1e9)).toEqual({ ok: true });
  });
});
