import { RetainedLogs } from './retained-logs';

describe('RetainedLogs', () => {
  it('should free the longest-retired logs first once the total passes the budget', () => {
    const retained = new RetainedLogs(100);
    expect(retained.add('a', 40)).toEqual([]);
    expect(retained.add('b', 40)).toEqual([]);
    expect(retained.add('c', 40)).toEqual(['a']);
    expect(retained.bytes).toBe(80);
    expect(retained.add('d', 90)).toEqual(['b', 'c']);
    expect(retained.bytes).toBe(90);
  });

  it('should stop counting a log that was freed by its window, and count a re-retired one once', () => {
    const retained = new RetainedLogs(100);
    retained.add('a', 60);
    retained.remove('a');
    expect(retained.bytes).toBe(0);
    expect(retained.add('b', 60)).toEqual([]);
    expect(retained.add('b', 70)).toEqual([]);
    expect(retained.bytes).toBe(70);
    retained.remove('unknown');
    expect(retained.bytes).toBe(70);
  });

  it('should keep nothing with a budget of 0, not even the log just retired', () => {
    const retained = new RetainedLogs(0);
    expect(retained.add('a', 1)).toEqual(['a']);
    expect(retained.bytes).toBe(0);
  });
});
