import { WebSocket } from 'ws';
import { GatewayException } from '../common/errors/gateway.exception';
import { FairSender } from './fair-sender';

/** Enough of a `ws` socket: what was sent, and a send buffer the spec fills and drains. */
class FakeSocket {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  send(payload: string): void {
    this.sent.push(payload);
  }
}

const flush = () => new Promise((r) => setImmediate(r));

describe(FairSender.name, () => {
  let socket: FakeSocket;
  let stalls: GatewayException[];
  let sender: FairSender;

  beforeEach(() => {
    socket = new FakeSocket();
    stalls = [];
    sender = new FairSender(
      socket as unknown as WebSocket,
      { highWaterBytes: 100, stallTimeoutMs: 200, pollMs: 5 },
      (e) => stalls.push(e),
    );
  });

  /** A context that sends `frames` one at a time, each after the previous one left. */
  const producer = async (owner: object, name: string, frames: number) => {
    for (let i = 1; i <= frames; i++) await sender.send(owner, `${name}${i}`);
  };

  it('should interleave contexts that have audio ready, round-robin', async () => {
    const a = {};
    const b = {};
    socket.bufferedAmount = 1000; // full: both queue up
    const done = Promise.all([producer(a, 'a', 3), producer(b, 'b', 3)]);
    await flush();
    expect(socket.sent).toEqual([]);
    socket.bufferedAmount = 0;
    await done;
    expect(socket.sent).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('should drop a withdrawn context’s waiting frame and never send it', async () => {
    const a = {};
    const b = {};
    socket.bufferedAmount = 1000;
    const sentA = sender.send(a, 'a1');
    const sentB = sender.send(b, 'b1');
    const reason = new Error('cleared');
    sender.withdraw(a, reason);
    await expect(sentA).rejects.toBe(reason);
    socket.bufferedAmount = 0;
    await sentB;
    expect(socket.sent).toEqual(['b1']);
  });

  it('should drop the client with slow_consumer when the buffer stays full past the stall timeout', async () => {
    socket.bufferedAmount = 1000;
    const sent = sender.send({}, 'x');
    await expect(sent).rejects.toMatchObject({ code: 'slow_consumer' });
    expect(stalls.map((e) => e.code)).toEqual(['slow_consumer']);
    await expect(sender.send({}, 'y')).rejects.toMatchObject({ code: 'slow_consumer' });
    expect(socket.sent).toEqual([]);
  });

  it('should send nothing once the socket is closed', async () => {
    socket.readyState = WebSocket.CLOSED;
    await expect(sender.send({}, 'x')).rejects.toBeInstanceOf(GatewayException);
    expect(socket.sent).toEqual([]);
  });
});
