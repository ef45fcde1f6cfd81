import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { Session, SessionStatus } from './session.model';
import { SessionStore } from './session.store';

const SWEEP_INTERVAL_MS = 30_000;

/** In-process sessions with expiry: a periodic sweep drops sessions past `expiresAt`, so memory stays bounded. */
@Injectable()
export class MemorySessionStore extends SessionStore implements OnModuleDestroy {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();

  insert(session: Session): Promise<void> {
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

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions)
      if (s.expiresAt <= now && s.status !== 'streaming') this.sessions.delete(id);
  }
}
