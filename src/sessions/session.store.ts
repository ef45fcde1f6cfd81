import type { Session, SessionStatus } from './session.model';

/**
 * Where sessions live. The in-memory store serves a single replica; a Redis store (for several replicas)
 * implements the same contract. All methods are async for that reason, and `transition` is the one
 * compare-and-set the gateway relies on, so two sockets can never both claim one session.
 *
 * `insert` enforces the caps fairly: to make room it may forget finished sessions (oldest first, the
 * client's own first) and the client's own oldest pending ones, but never another client's pending
 * session; when that is not enough it throws a GatewayException (429 for the client's cap, 503 for the
 * store's).
 */
export abstract class SessionStore {
  abstract insert(session: Session): Promise<void>;
  abstract get(id: string): Promise<Session | undefined>;
  /** Applies `patch` only if the session's status is one of `from`; returns the updated session or undefined. */
  abstract transition(
    id: string,
    from: readonly SessionStatus[],
    patch: Partial<Session>,
  ): Promise<Session | undefined>;
  /** Applies `patch` unconditionally (counters, timestamps); returns the updated session or undefined. */
  abstract update(id: string, patch: Partial<Session>): Promise<Session | undefined>;
}
