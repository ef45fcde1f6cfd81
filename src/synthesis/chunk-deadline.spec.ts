import { setTimeout as sleep } from 'node:timers/promises';
import { ChunkDeadline } from './chunk-deadline';

/** An iterator whose chunks arrive when the test says so; it never looks at any abort signal. */
function controlled(): {
  iterator: AsyncIterator<number>;
  deliver(value: number): void;
  fail(e: Error): void;
} {
  let pending: { resolve: (r: IteratorResult<number>) => void; reject: (e: Error) => void } | undefined;
  return {
    iterator: {
      next: () => new Promise((resolve, reject) => (pending = { resolve, reject })),
    },
    deliver: (value) => pending?.resolve({ value, done: false }),
    fail: (e) => pending?.reject(e),
  };
}

const timedOut = (ms: number) => new Error(`nothing within ${ms} ms`);

describe('ChunkDeadline', () => {
  it('should give the next chunk when it comes in time', async () => {
    const engine = controlled();
    const deadline = new ChunkDeadline(engine.iterator, timedOut);
    const next = deadline.next(200);
    engine.deliver(7);
    await expect(next).resolves.toEqual({ value: 7, done: false });
    deadline.dispose();
  });

  it('should fail a wait past its deadline although the engine ignores every signal', async () => {
    const engine = controlled();
    const expired = jest.fn(timedOut);
    const deadline = new ChunkDeadline(engine.iterator, expired);
    const started = performance.now();
    await expect(deadline.next(60)).rejects.toThrow('nothing within 60 ms');
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(expired).toHaveBeenCalledTimes(1);
    // A chunk that comes late is nobody's; later waits fail at once.
    engine.deliver(1);
    await expect(deadline.next(60)).rejects.toThrow('deadline has passed');
    deadline.dispose();
  });

  it('should give each chunk its own deadline, however long the consumer holds the previous one', async () => {
    const engine = controlled();
    const expired = jest.fn(timedOut);
    const deadline = new ChunkDeadline(engine.iterator, expired);
    for (let i = 0; i < 3; i++) {
      const next = deadline.next(80);
      await sleep(50); // most of the deadline spent waiting for the engine ...
      engine.deliver(i);
      await expect(next).resolves.toEqual({ value: i, done: false });
      await sleep(120); // ... then longer than the deadline in the consumer, between two waits
    }
    expect(expired).not.toHaveBeenCalled();
    deadline.dispose();
  });

  it('should switch from the first-audio deadline to the idle one', async () => {
    const engine = controlled();
    const deadline = new ChunkDeadline(engine.iterator, timedOut);
    const first = deadline.next(300);
    await sleep(100); // past the later, shorter deadline: the first one still holds
    engine.deliver(1);
    await expect(first).resolves.toMatchObject({ value: 1 });
    await expect(deadline.next(40)).rejects.toThrow('nothing within 40 ms');
    deadline.dispose();
  });

  it("should pass the engine's own error through", async () => {
    const engine = controlled();
    const deadline = new ChunkDeadline(engine.iterator, timedOut);
    const next = deadline.next(200);
    engine.fail(new Error('engine broke'));
    await expect(next).rejects.toThrow('engine broke');
    deadline.dispose();
  });

  it('should leave no timer running once disposed', async () => {
    const engine = controlled();
    const expired = jest.fn(timedOut);
    const deadline = new ChunkDeadline(engine.iterator, expired);
    void deadline.next(40).catch(() => undefined);
    deadline.dispose();
    await sleep(80);
    expect(expired).not.toHaveBeenCalled();
  });
});
