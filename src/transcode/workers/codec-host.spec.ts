import type { CodecReply } from './codec-protocol';
import { CodecHost } from './codec-host';

describe(CodecHost.name, () => {
  it('should serve streams that have not produced audio yet before the others, each in its own order', () => {
    const replies: CodecReply[] = [];
    const host = new CodecHost((batch) => replies.push(...batch));
    const frame = () => new Int16Array(480); // 20 ms at 24 kHz: one Opus packet
    host.handle([
      { op: 'open', id: 1, codec: 'opus', sampleRate: 24000 },
      { op: 'encode', id: 1, pcm: frame() },
    ]);
    expect(replies.map((r) => r.id)).toEqual([1]); // stream 1 now has audio out
    replies.length = 0;

    host.handle([
      { op: 'encode', id: 1, pcm: frame() },
      { op: 'encode', id: 1, pcm: frame() },
      { op: 'open', id: 2, codec: 'opus', sampleRate: 24000 },
      { op: 'encode', id: 2, pcm: frame() },
      { op: 'encode', id: 2, pcm: frame() },
      { op: 'flush', id: 1 },
    ]);
    // Stream 2's first reply jumps the queue; once it has audio out its later request waits its turn.
    expect(replies.map((r) => r.id)).toEqual([2, 1, 1, 2, 1]);
    expect(replies.every((r) => r.error === undefined && (r.bytes?.length ?? 0) > 0)).toBe(true);
  });
});
