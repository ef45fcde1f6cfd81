import { LookAheadBuffer } from './look-ahead-buffer';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe(LookAheadBuffer.name, () => {
  it('should pull ahead only up to maxBytes, and resume once the reader took it down to half', async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 100; i++) {
        await Promise.resolve();
        produced++;
        yield new Uint8Array(10);
      }
    }
    const buffer = new LookAheadBuffer(source, new AbortController().signal, {
      maxBytes: 50,
      sizeOf: (b) => b.length,
    });
    await tick();
    expect(produced).toBe(6); // the sixth item passes 50 bytes: the source waits
    const reader = buffer.items();
    for (let i = 0; i < 3; i++) await reader.next();
    await tick();
    expect(produced).toBe(6); // 30 bytes held: above half
    await reader.next();
    await tick();
    expect(produced).toBe(10); // at half (20 bytes held) it resumed, and paused again past 50
    let rest = 0;
    for await (const _ of reader) rest++;
    expect(rest).toBe(96);
    await buffer.settled;
  });

  it("should give the items before a failure, then throw the source's error", async () => {
    async function* source() {
      await Promise.resolve();
      yield 1;
      yield 2;
      throw new Error('engine broke');
    }
    const buffer = new LookAheadBuffer(source, new AbortController().signal, {
      maxBytes: 100,
      sizeOf: () => 1,
    });
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const n of buffer.items()) seen.push(n);
      })(),
    ).rejects.toThrow('engine broke');
    expect(seen).toEqual([1, 2]);
  });

  it('should stop a paused source and the reader on abort, with the abort reason', async () => {
    let stoppedAt = -1;
    async function* source(signal: AbortSignal) {
      for (let i = 0; ; i++) {
        await Promise.resolve();
        if (signal.aborted) {
          stoppedAt = i;
          return;
        }
        yield i;
      }
    }
    const controller = new AbortController();
    const buffer = new LookAheadBuffer(source, controller.signal, {
      maxBytes: 3,
      sizeOf: () => 1,
      keep: (n) => n % 2 === 0,
    });
    await tick();
    controller.abort(new Error('cleared'));
    await buffer.settled;
    expect(stoppedAt).toBe(-1); // it was paused, not looping: the abort ended the wait
    await expect(buffer.items().next()).rejects.toThrow('cleared');
  });
});
