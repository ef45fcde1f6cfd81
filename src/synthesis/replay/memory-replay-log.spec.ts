import { MemoryReplayLog } from './memory-replay-log';
import type { StreamEvent } from './replay-log';

const audio = (seq: number, bytes = 100): StreamEvent => ({
  kind: 'audio',
  seq,
  data: new Uint8Array(bytes),
  audioMs: seq * 20,
});

describe(MemoryReplayLog.name, () => {
  const signal = new AbortController().signal;

  it('should replay from any retained seq, then follow the live rest to the final event', async () => {
    const log = new MemoryReplayLog('s', { maxBytes: 10_000, followLagBytes: 10_000 });
    for (let seq = 1; seq <= 3; seq++) await log.append(audio(seq));
    const cursor = await log.open(2);
    if (typeof cursor === 'string') throw new Error(cursor);
    expect(await cursor.next(signal)).toMatchObject({ seq: 2 });
    expect(await cursor.next(signal)).toMatchObject({ seq: 3 });
    const waiting = cursor.next(signal);
    await log.append(audio(4));
    expect(await waiting).toMatchObject({ seq: 4 });
    await log.append({ kind: 'eos', totals: { chunks: 4, bytes: 400, audioDurationMs: 80 } });
    expect(await cursor.next(signal)).toMatchObject({ kind: 'eos' });
    expect(await cursor.next(signal)).toBeUndefined();
  });

  it('should hold only the bytes of a frame grown by merges once it is final, not its growth buffer', async () => {
    const log = new MemoryReplayLog('s', { maxBytes: 100_000, followLagBytes: 100_000 });
    await log.append(audio(1, 20_000));
    expect(log.tryMerge(new Uint8Array(4_000), 40, 32 * 1024)).toBe(true);
    await log.append({ kind: 'eos', totals: { chunks: 1, bytes: 24_000, audioDurationMs: 40 } });
    const cursor = await log.open(1);
    if (typeof cursor === 'string') throw new Error(cursor);
    const frame = await cursor.next(signal);
    if (frame?.kind !== 'audio') throw new Error('expected the merged frame');
    expect(frame.data.length).toBe(24_000);
    expect(frame.data.buffer.byteLength).toBe(24_000);
    expect(log.bytes).toBe(24_000);
  });

  it('should replay the timings and marks announcing frame N on a resume from N', async () => {
    const log = new MemoryReplayLog('s', { maxBytes: 10_000, followLagBytes: 10_000 });
    const timings: StreamEvent = { kind: 'timings', words: [], source: 'estimated' };
    await log.append(audio(1));
    await log.append(timings);
    await log.append({ kind: 'mark', name: 'm1', startMs: 20 });
    await log.append(audio(2));
    await log.append({ kind: 'mark', name: 'm2', startMs: 40 });
    const mid = await log.open(2);
    if (typeof mid === 'string') throw new Error(mid);
    expect((await mid.next(signal))?.kind).toBe('timings');
    expect(await mid.next(signal)).toMatchObject({ kind: 'mark', name: 'm1' });
    expect(await mid.next(signal)).toMatchObject({ kind: 'audio', seq: 2 });
    log.detach(mid);
    // At the live edge: the mark after the last frame announces the next one.
    const edge = await log.open(3);
    if (typeof edge === 'string') throw new Error(edge);
    expect(await edge.next(signal)).toMatchObject({ kind: 'mark', name: 'm2' });
    const first = await log.open(1);
    if (typeof first === 'string') throw new Error(first);
    expect(await first.next(signal)).toMatchObject({ kind: 'audio', seq: 1 });
  });

  it('should refuse seqs past the end and below what it still holds', async () => {
    const log = new MemoryReplayLog('s', { maxBytes: 250, followLagBytes: 1000 });
    const cursor = await log.open(1);
    if (typeof cursor === 'string') throw new Error(cursor);
    for (let seq = 1; seq <= 5; seq++) {
      await log.append(audio(seq));
      await cursor.next(signal);
    }
    expect(await log.open(7)).toBe('beyond_end');
    expect(await log.open(1)).toBe('trimmed'); // read frames were dropped to stay within 250 bytes
    expect(log.bytes).toBeLessThanOrEqual(250);
    expect(await log.open(log.oldestSeq)).not.toBe('trimmed');
  });

  it('should make the producer wait while a following reader lags, and while nobody reads and the buffer is full', async () => {
    const log = new MemoryReplayLog('s', { maxBytes: 300, followLagBytes: 150 });
    const cursor = await log.open(1);
    if (typeof cursor === 'string') throw new Error(cursor);
    await log.append(audio(1));
    await log.append(audio(2));
    let roomy = false;
    const room = log.waitForRoom(signal).then(() => (roomy = true));
    await new Promise((r) => setImmediate(r));
    expect(roomy).toBe(false);
    await cursor.next(signal);
    await room;
    expect(roomy).toBe(true);

    log.detach(cursor); // the socket went away: the producer may fill the buffer, not more
    await log.append(audio(3));
    await log.append(audio(4));
    await log.append(audio(5)); // 400 unread bytes > 300
    await expect(
      Promise.race([
        log.waitForRoom(signal).then(() => 'room'),
        new Promise((r) => setTimeout(() => r('full'), 20)),
      ]),
    ).resolves.toBe('full');
  });
});
