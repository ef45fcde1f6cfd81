import { createHash } from 'node:crypto';
import type { RedisService } from './redis.service';

/** A single-use token's record (what it was issued for). */
export interface TokenRecord {
  /** `stream`: bound to one session; `live`: a live-text socket of the caller. */
  kind: 'stream' | 'live';
  sessionId?: string;
  callerId: string;
  keyName: string;
}

/**
 * Short-lived single-use tokens (the WebSocket credential browsers can carry in a URL). Stored by the
 * SHA-256 of the token, so a dump of the store holds nothing usable; `consume` deletes atomically (GETDEL),
 * so a token works once, on any replica.
 */
export abstract class TokenStore {
  abstract put(token: string, record: TokenRecord, ttlSeconds: number): Promise<void>;
  abstract consume(token: string): Promise<TokenRecord | undefined>;
}

/**
 * Windowed and running counters per client: characters per minute (a weighted fixed window, which the
 * request-counting throttler cannot do) and usage totals (sessions, characters, audio seconds, bytes) for
 * the admin view. In Redis with REDIS_URL, so N replicas share them.
 */
export abstract class UsageStore {
  /** Adds `amount` to `key`'s current window; returns the window's total and ms until it resets. */
  abstract addToWindow(
    key: string,
    amount: number,
    windowMs: number,
  ): Promise<{ total: number; resetMs: number }>;
  abstract addUsage(name: string, usage: Partial<Record<UsageField, number>>): Promise<void>;
  abstract usage(): Promise<Record<string, Record<UsageField, number>>>;
}

export type UsageField = 'sessions' | 'characters' | 'audio_seconds' | 'bytes';
const FIELDS: readonly UsageField[] = ['sessions', 'characters', 'audio_seconds', 'bytes'];

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

export class MemoryTokenStore extends TokenStore {
  private readonly tokens = new Map<string, { record: TokenRecord; expiresAt: number }>();

  put(token: string, record: TokenRecord, ttlSeconds: number): Promise<void> {
    const now = Date.now();
    // Expired tokens go on the next issue: the map stays as small as the tokens alive.
    for (const [key, value] of this.tokens) if (value.expiresAt <= now) this.tokens.delete(key);
    this.tokens.set(digest(token), { record, expiresAt: now + ttlSeconds * 1000 });
    return Promise.resolve();
  }

  consume(token: string): Promise<TokenRecord | undefined> {
    const key = digest(token);
    const entry = this.tokens.get(key);
    this.tokens.delete(key);
    return Promise.resolve(entry && entry.expiresAt > Date.now() ? entry.record : undefined);
  }
}

export class MemoryUsageStore extends UsageStore {
  private readonly windows = new Map<string, { total: number; resetAt: number }>();
  private readonly totals = new Map<string, Record<UsageField, number>>();

  addToWindow(key: string, amount: number, windowMs: number): Promise<{ total: number; resetMs: number }> {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      if (this.windows.size > 100_000) this.sweep(now);
      window = { total: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.total += amount;
    return Promise.resolve({ total: window.total, resetMs: window.resetAt - now });
  }

  addUsage(name: string, usage: Partial<Record<UsageField, number>>): Promise<void> {
    const row = this.totals.get(name) ?? { sessions: 0, characters: 0, audio_seconds: 0, bytes: 0 };
    for (const field of FIELDS) row[field] += usage[field] ?? 0;
    this.totals.set(name, row);
    return Promise.resolve();
  }

  usage(): Promise<Record<string, Record<UsageField, number>>> {
    return Promise.resolve(Object.fromEntries(this.totals));
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
  }
}

export class RedisTokenStore extends TokenStore {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async put(token: string, record: TokenRecord, ttlSeconds: number): Promise<void> {
    await this.redis.run('token_put', (c) =>
      c.set(tokenKey(token), JSON.stringify(record), { EX: ttlSeconds }),
    );
  }

  async consume(token: string): Promise<TokenRecord | undefined> {
    const raw = await this.redis.run('token_consume', (c) => c.getDel(tokenKey(token)));
    return typeof raw === 'string' ? (JSON.parse(raw) as TokenRecord) : undefined;
  }
}

function tokenKey(token: string): string {
  return `tts:token:{${digest(token)}}`;
}

export class RedisUsageStore extends UsageStore {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async addToWindow(
    key: string,
    amount: number,
    windowMs: number,
  ): Promise<{ total: number; resetMs: number }> {
    const reply = (await this.redis.run('usage_window', (c) =>
      c.eval(WINDOW_SCRIPT, { keys: [`tts:window:{${key}}`], arguments: [String(amount), String(windowMs)] }),
    )) as number[];
    return { total: Number(reply[0]), resetMs: Number(reply[1]) };
  }

  async addUsage(name: string, usage: Partial<Record<UsageField, number>>): Promise<void> {
    const key = `tts:usage:{${name}}`;
    await this.redis.run('usage_add', (c) => {
      const m = c.multi();
      for (const field of FIELDS) if (usage[field]) m.hIncrByFloat(key, field, usage[field]);
      m.sAdd('tts:usage:names', name);
      return m.execAsPipeline();
    });
  }

  async usage(): Promise<Record<string, Record<UsageField, number>>> {
    const names = await this.redis.run('usage_names', (c) => c.sMembers('tts:usage:names'));
    const rows = await Promise.all(
      names.map(
        async (name) =>
          [name, await this.redis.run('usage_get', (c) => c.hGetAll(`tts:usage:{${name}}`))] as const,
      ),
    );
    return Object.fromEntries(
      rows.map(([name, row]) => [
        name,
        Object.fromEntries(FIELDS.map((f) => [f, Number((row as Record<string, string>)[f] ?? 0)])) as Record<
          UsageField,
          number
        >,
      ]),
    );
  }
}

const WINDOW_SCRIPT = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { total, ttl }
`;
