import { describe, expect, it } from 'vitest';
import { SeqTracker } from './seq';

describe('SeqTracker', () => {
  it('no gaps for 1..n', () => {
    const t = new SeqTracker();
    for (let s = 1; s <= 10; s++) expect(t.observe(s)).toBe(false);
    expect(t.gaps).toBe(0);
    expect(t.missing).toBe(0);
  });

  it('detects a jump 5 -> 7', () => {
    const t = new SeqTracker();
    [1, 2, 3, 4, 5].forEach((s) => t.observe(s));
    expect(t.observe(7)).toBe(true);
    expect(t.observe(8)).toBe(false);
    expect(t.gaps).toBe(1);
    expect(t.missing).toBe(1);
  });

  it('a stream not starting at 1 is a gap; duplicates count too', () => {
    const t = new SeqTracker();
    t.observe(3);
    expect(t.missing).toBe(2);
    expect(t.observe(3)).toBe(true);
    expect(t.observe(4)).toBe(false);
    expect(t.gaps).toBe(2);
  });
});
