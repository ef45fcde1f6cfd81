import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { limitsConfig, type LimitsConfig } from '../config/configuration';
import { FINAL_STATUSES, type Session, type SessionStatus } from './session.model';
import { SessionStore } from './session.store';

const SWEEP_INTERVAL_MS = 30_000;

/**
 * In-process sessions with expiry: a periodic sweep drops sessions past `expiresAt`, and the count is capped
 * at MAX_SESSIONS (oldest finished sessions go first, then the oldest pending ones), so memory stays bounded
 * whatever the creation rate. A Map keeps insertion order, which is age order here.
 */
@Injectable()
export class MemorySessionStore extends SessionStore implements OnModuleDestroy {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();

  constructor(@Inject(limitsConfig.KEY) private readonly limits: LimitsConfig) {
    super();
  }

  insert(session: Session): Promise<void> {
    if (this.sessions.size >= this.limits.maxSessions) this.evict();
    this.sessions.set(session.id, { ...session });
    return Promise.resolve();
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
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  private evict(): void {
    this.sweep();
    const excess = this.sessions.size - this.limits.maxSessions + 1;
    if (excess <= 0) return;
    let removed = 0;
    for (const pass of [FINAL_STATUSES, ['pending'] as const]) {
      for (const [id, s] of this.sessions) {
        if (removed >= excess) return;
        if (pass.includes(s.status)) {
          this.sessions.delete(id);
          removed++;
        }
      }
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions)
      if (s.expiresAt <= now && s.status !== 'streaming') this.sessions.delete(id);
  }
}
