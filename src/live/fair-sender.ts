import { WebSocket } from 'ws';
import { sleep } from '../common/abort';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';

export interface FairSenderOptions {
  /** Above this many bytes waiting in the socket, nothing more is sent (WS_SEND_HIGH_WATER_BYTES). */
  highWaterBytes: number;
  /** How long the buffer may stay above the mark before the client is dropped (WS_STALL_TIMEOUT_MS). */
  stallTimeoutMs: number;
  /** Poll interval while waiting for room (`ws` has no drain event on the client socket). */
  pollMs?: number;
}

interface Pending {
  owner: object;
  payload: string | Uint8Array;
  binary: boolean;
  resolve: () => void;
  reject: (reason: Error) => void;
}

/**
 * The audio side of one live socket shared by its contexts: frames go out one at a time in the order the
 * contexts asked, and since a context asks for its next frame only once the previous one left, that order
 * is round-robin among the contexts that have audio ready. While the socket holds more than the high-water
 * mark nothing is sent, so every context's encoder and engine pause (`send` resolves only when the frame is
 * written); a client that reads nothing for `stallTimeoutMs` with the buffer full is dropped through
 * `onStall` with `slow_consumer`, as on the session stream.
 *
 * Control messages (timings, acks, errors) do not queue here: they are small, bounded by what the client
 * sends, and must keep their place relative to a context's audio, which the context guarantees by sending
 * them only between its own frames.
 */
export class FairSender {
  private readonly queue: Pending[] = [];
  private running = false;
  private failure: Error | undefined;
  private readonly pollMs: number;

  constructor(
    private readonly socket: WebSocket,
    private readonly options: FairSenderOptions,
    private readonly onStall: (error: GatewayException) => void,
  ) {
    this.pollMs = options.pollMs ?? 20;
  }

  /** Queues one frame of `owner`; resolves once it has been handed to the socket. */
  send(owner: object, payload: string | Uint8Array, binary = false): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const sent = new Promise<void>((resolve, reject) =>
      this.queue.push({ owner, payload, binary, resolve, reject }),
    );
    if (!this.running) void this.pump();
    return sent;
  }

  /** Drops `owner`'s waiting frames at once (they are never sent); their `send` rejects with `reason`. */
  withdraw(owner: object, reason: Error): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].owner !== owner) continue;
      const [dropped] = this.queue.splice(i, 1);
      dropped.reject(reason);
    }
  }

  /** Nothing more is sent; every waiting frame is dropped. */
  close(reason: Error): void {
    this.failure ??= reason;
    for (const pending of this.queue.splice(0)) pending.reject(reason);
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        if (this.socket.readyState !== WebSocket.OPEN) {
          this.close(new GatewayException(ErrorCode.Cancelled, 'the client disconnected'));
          return;
        }
        if (this.socket.bufferedAmount > this.options.highWaterBytes) {
          await this.waitForRoom();
          continue;
        }
        const next = this.queue.shift()!;
        this.socket.send(next.payload, { binary: next.binary });
        next.resolve();
      }
    } catch (error) {
      const failure =
        error instanceof GatewayException
          ? error
          : new GatewayException(ErrorCode.InternalError, 'the audio sender failed');
      this.close(failure);
      this.onStall(failure);
    } finally {
      this.running = false;
    }
  }

  private async waitForRoom(): Promise<void> {
    const { highWaterBytes, stallTimeoutMs } = this.options;
    const deadline = performance.now() + stallTimeoutMs;
    while (this.socket.bufferedAmount > highWaterBytes && this.socket.readyState === WebSocket.OPEN) {
      if (this.failure !== undefined || this.queue.length === 0) return;
      if (performance.now() > deadline) {
        throw new GatewayException(
          ErrorCode.SlowConsumer,
          `the client read no audio for ${stallTimeoutMs} ms with ${this.socket.bufferedAmount} bytes waiting (WS_STALL_TIMEOUT_MS); closing`,
        );
      }
      await sleep(this.pollMs);
    }
  }
}
