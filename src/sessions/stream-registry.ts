import { Injectable } from '@nestjs/common';

/**
 * The streams this replica is running, by session id, each with the AbortController that stops it.
 * `DELETE /v1/tts/sessions/:id` aborts through here; with several replicas a pub/sub message will call
 * `abort` on the replica that holds the socket.
 */
@Injectable()
export class StreamRegistry {
  private readonly streams = new Map<string, AbortController>();

  get size(): number {
    return this.streams.size;
  }

  register(sessionId: string, controller: AbortController): void {
    this.streams.set(sessionId, controller);
  }

  unregister(sessionId: string, controller: AbortController): void {
    if (this.streams.get(sessionId) === controller) this.streams.delete(sessionId);
  }

  /** Aborts the session's local stream with `reason`; false when this replica has none. */
  abort(sessionId: string, reason: unknown): boolean {
    const controller = this.streams.get(sessionId);
    if (!controller) return false;
    controller.abort(reason);
    return true;
  }

  abortAll(reason: unknown): void {
    for (const controller of this.streams.values()) controller.abort(reason);
  }
}
