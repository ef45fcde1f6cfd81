import { MessageBudget } from './message-budget';

describe(MessageBudget.name, () => {
  it('should allow a burst of twice the rate, then drop, then ask to close a persistent flood', () => {
    const budget = new MessageBudget(10);
    const verdicts = Array.from({ length: 100 }, () => budget.take());
    expect(verdicts.slice(0, 20).every((v) => v === 'ok')).toBe(true);
    expect(verdicts[20]).toBe('drop');
    expect(verdicts.at(-1)).toBe('close');
  });

  it('should allow one warning per second', () => {
    const budget = new MessageBudget(10);
    expect(budget.mayWarn()).toBe(true);
    expect(budget.mayWarn()).toBe(false);
  });
});
