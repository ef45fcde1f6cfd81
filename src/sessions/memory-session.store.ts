import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { limitsConfig, type LimitsConfig } from '../config/configuration';
import { FINAL_STATUSES, type Session, type SessionStatus } from './session.model';
import { SessionStore } from './session.store';

const SWEEP_INTERVAL_MS = 30_000;

/**
 * In-process sessions with expiry: a periodic sweep drops sessions past `expiresAt`, and the count is capped
 * at MAX_SESSIONS in all and MAX_SESSIONS_PER_CLIENT per client (see `SessionStore` for the fairness rule).
 * A Map keeps insertion order, which is age order here; a second index keeps each client's sessions.
 */
@Injectable()
export class MemorySessionStore extends SessionStore implements OnModuleDestroy {
  private readonly sessions = new Map<string, Session>();
  private readonly byClient = new Map<string, Set<string>>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();

  constructor(@Inject(limitsConfig.KEY) private readonly limits: LimitsConfig) {
    super();
  }

  // async: a refusal must be a rejected promise, as from any store.
  // eslint-disable-next-line @typescript-eslint/require-await
  async insert(session: Session): Promise<void> {
    this.makeRoom(session.client);
    this.sessions.set(session.id, { ...session });
    let mine = this.byClient.get(session.client);
    if (!mine) this.byClient.set(session.client, (mine = new Set()));
    mine.add(session.id);
  }

  get(id: string): Promise<Session | undefined> {
    const session = this.live(id);
    return Promise.resolve(session && { ...session });
  }

  transition(
    id: string,
    from: readonly SessionStatus[],
    patch: Partial<Session>,
  ): Promise<Session | undefined> {
    const session = this.live(id);
    if (!session || !from.includes(session.status)) return Promise.resolve(undefined);
    return this.update(id, patch);
  }

  update(id: string, patch: Partial<Session>): Promise<Session | undefined> {
    const session = this.live(id);
    if (!session) return Promise.resolve(undefined);
    Object.assign(session, patch, { updatedAt: new Date().toISOString() });
    return Promise.resolve({ ...session });
  }

  size(): Promise<number> {
    return Promise.resolve(this.sessions.size);
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  private live(id: string): Session | undefined {
    const session = this.sessions.get(id);
    if (session && session.expiresAt <= Date.now() && session.status !== 'streaming') {
      this.remove(id);
      return undefined;
    }
    return session;
  }

  private remove(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const mine = this.byClient.get(session.client);
    mine?.delete(id);
    if (mine && mine.size === 0) this.byClient.delete(session.client);
  }

  /**
   * Frees one place for a new session of `client`, or throws. The client's own cap first: its finished
   * sessions, then its oldest pending one. Then the store's cap: any client's finished sessions, then this
   * client's pending ones — never another client's pending session.
   */
  private makeRoom(client: string): void {
    const mine = () => this.byClient.get(client)?.size ?? 0;
    if (mine() >= this.limits.maxSessionsPerClient) {
      if (!this.evictOne(client, FINAL_STATUSES) && !this.evictOne(client, ['pending'])) {
        throw new GatewayException(
          ErrorCode.RateLimited,
          `this client already keeps ${mine()} sessions, its limit (MAX_SESSIONS_PER_CLIENT); delete some or let them expire`,
          { retryAfterSeconds: 60 },
        );
      }
    }
    if (this.sessions.size >= this.limits.maxSessions) {
      this.sweepAtMostEverySecond();
      if (
        this.sessions.size >= this.limits.maxSessions &&
        !this.evictOne(undefined, FINAL_STATUSES) &&
        !this.evictOne(client, ['pending'])
      ) {
        throw new GatewayException(
          ErrorCode.TooManyStreams,
          `this gateway holds its maximum of ${this.limits.maxSessions} sessions (MAX_SESSIONS); retry shortly`,
          { retryAfterSeconds: 5 },
        );
      }
    }
  }

  /** Removes the oldest session in `statuses` (of `client`, or of anyone); false when there is none. */
  private evictOne(client: string | undefined, statuses: readonly SessionStatus[]): boolean {
    const ids =
      client === undefined ? this.sessions.keys() : (this.byClient.get(client) ?? new Set<string>());
    for (const id of ids) {
      const session = this.sessions.get(id);
      if (session && statuses.includes(session.status)) {
        this.remove(id);
        return true;
      }
    }
    return false;
  }

  private lastSweep = 0;

  /** A full sweep is O(sessions): at the cap, at most once a second, not once per insert. */
  private sweepAtMostEverySecond(): void {
    if (performance.now() - this.lastSweep < 1000) return;
    this.lastSweep = performance.now();
    this.sweep();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now && s.status !== 'streaming') this.remove(id);
  }
}
