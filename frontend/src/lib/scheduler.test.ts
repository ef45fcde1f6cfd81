import { describe, expect, it } from 'vitest';
import { PlaybackCursor } from './scheduler';

describe('PlaybackCursor', () => {
  it('first chunk starts lead seconds after now', () => {
    const c = new PlaybackCursor(0.05);
    expect(c.schedule(10, 0.2)).toBeCloseTo(10.05);
    expect(c.cursor).toBeCloseTo(10.25);
  });

  it('back-to-back chunks are gap-free while ahead of the clock', () => {
    const c = new PlaybackCursor(0.05);
    const a = c.schedule(0, 0.5);
    const b = c.schedule(0.1, 0.5);
    const d = c.schedule(0.2, 0.5);
    expect(b).toBeCloseTo(a + 0.5);
    expect(d).toBeCloseTo(b + 0.5);
  });

  it('after an underrun restarts ahead of the clock, not in the past', () => {
    const c = new PlaybackCursor(0.05);
    c.schedule(0, 0.1); // ends at 0.15
    expect(c.schedule(5, 0.1)).toBeCloseTo(5.05);
  });

  it('cursor never goes backwards and chunks never overlap', () => {
    const c = new PlaybackCursor();
    let now = 0;
    let prevEnd = 0;
    for (let i = 0; i < 500; i++) {
      now += Math.random() * 0.3;
      const dur = Math.random() * 0.2;
      const before = c.cursor;
      const start = c.schedule(now, dur);
      expect(start).toBeGreaterThanOrEqual(prevEnd);
      expect(start).toBeGreaterThan(now);
      expect(c.cursor).toBeGreaterThanOrEqual(before);
      prevEnd = c.cursor;
    }
  });
});
