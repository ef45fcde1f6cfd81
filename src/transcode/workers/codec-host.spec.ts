import type { CodecReply } from './codec-protocol';
import { CodecHost } from './codec-host';

describe(CodecHost.name, () => {
  const frame = () => new Int16Array(480); // 20 ms at 24 kHz: one Opus packet

  /** A host whose stream 1 already has audio out, and the replies it posts from then on. */
  function hostWithOneProducingStream(): { host: CodecHost; replies: CodecReply[] } {
    const replies: CodecReply[] = [];
    const host = new CodecHost((batch) => replies.push(...batch));
    host.handle([
      { op: 'open', id: 1, codec: 'opus', sampleRate: 24000 },
      { op: 'encode', id: 1, pcm: frame() },
    ]);
    expect(replies.map((r) => r.id)).toEqual([1]);
    replies.length = 0;
    return { host, replies };
  }

  it('should serve streams that have not produced audio yet before the others, each in its own order', () => {
    const { host, replies } = hostWithOneProducingStream();
    host.handle([
      { op: 'encode', id: 1, pcm: frame() },
      { op: 'encode', id: 1, pcm: frame() },
      { op: 'open', id: 2, codec: 'opus', sampleRate: 24000 },
      { op: 'encode', id: 2, pcm: frame() },
      { op: 'encode', id: 2, pcm: frame() },
      { op: 'flush', id: 1 },
    ]);
    // Stream 2's requests jump the queue (its lane is chosen as they arrive); stream 1 keeps its order.
    expect(replies.map((r) => r.id)).toEqual([2, 2, 1, 1, 1]);
    expect(replies.every((r) => r.error === undefined && (r.bytes?.length ?? 0) > 0)).toBe(true);
  });

  it('should let a stream that arrives mid-run go ahead of the chunks still queued for older streams', () => {
    const { host, replies } = hostWithOneProducingStream();
    const seconds = (s: number) => new Int16Array(24000 * s); // several ms of encoding each
    host.enqueue([1, 2, 3].map(() => ({ op: 'encode' as const, id: 1, pcm: seconds(2) })));
    const arrivals = [
      [
        { op: 'open' as const, id: 2, codec: 'opus' as const, sampleRate: 24000 },
        { op: 'encode' as const, id: 2, pcm: frame() },
      ],
    ];
    let polls = 0;
    host.run(() => {
      polls++;
      const next = arrivals.shift();
      if (next) host.enqueue(next);
    });
    expect(polls).toBeGreaterThanOrEqual(2); // between requests, and once more when the queue ran dry
    expect(replies.map((r) => r.id)).toEqual([1, 2, 1, 1]);
  });
});
