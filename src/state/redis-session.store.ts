import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { LimitsConfig } from '../config/configuration';
import { FINAL_STATUSES, type Session, type SessionStatus } from '../sessions/session.model';
import { SessionStore } from '../sessions/session.store';
import type { RedisService } from './redis.service';

/**
 * Sessions in Redis, so any replica can serve, stream, resume and delete any session.
 *
 * - One hash per session, `tts:{<id>}:session`, one field per Session property (JSON-encoded), expiring at
 *   the session's `expiresAt` — except while it streams: then at least as long as a stream can last (twice
 *   MAX_AUDIO_SECONDS plus an hour, for paced streams and resumes), and back to `expiresAt` when it ends.
 *   The in-memory store never forgets a streaming session; here a replica that dies mid-stream must not
 *   leave its session in Redis forever.
 * - `transition` is a compare-and-set on the status in one Lua script, so two sockets on two replicas can
 *   never both claim a session: exactly one sees `pending`.
 * - Per-client cap: a sorted set per client (`tts:client:{<client>}:sessions`, scored by expiry) counts the
 *   sessions a client keeps; past MAX_SESSIONS_PER_CLIENT new ones are refused (429) — nothing of anyone else
 *   is evicted. The store-wide MAX_SESSIONS is Redis's own memory bound here (TTL plus maxmemory), documented.
 * - Two round trips per create (cap check, then the write, each one pipeline), one per read or transition.
 */
export class RedisSessionStore extends SessionStore {
  constructor(
    private readonly redis: RedisService,
    private readonly limits: LimitsConfig,
  ) {
    super();
  }

  /** How long a streaming session is kept at least (see the class comment). */
  private get streamingHoldMs(): number {
    return (this.limits.maxAudioSeconds * 2 + 3600) * 1000;
  }

  async insert(session: Session): Promise<void> {
    const clientKey = clientSessionsKey(session.client);
    const now = Date.now();
    const kept = await this.redis.run('session_cap', async (c) => {
      const [, count] = (await c
        .multi()
        .zRemRangeByScore(clientKey, '-inf', now)
        .zCard(clientKey)
        .execAsPipeline()) as [unknown, number];
      return count;
    });
    if (kept >= this.limits.maxSessionsPerClient) {
      throw new GatewayException(
        ErrorCode.RateLimited,
        `this client already keeps ${kept} sessions, its limit (MAX_SESSIONS_PER_CLIENT); delete some or let them expire`,
        { retryAfterSeconds: 60 },
      );
    }
    const key = sessionKey(session.id);
    await this.redis.run('session_insert', (c) =>
      c
        .multi()
        .hSet(key, encode(session))
        .pExpireAt(key, session.expiresAt)
        .zAdd(clientKey, { score: session.expiresAt, value: session.id })
        .pExpireAt(clientKey, session.expiresAt)
        .execAsPipeline(),
    );
  }

  async get(id: string): Promise<Session | undefined> {
    const fields = await this.redis.run('session_get', (c) => c.hGetAll(sessionKey(id)));
    return decode(fields);
  }

  async transition(
    id: string,
    from: readonly SessionStatus[],
    patch: Partial<Session>,
  ): Promise<Session | undefined> {
    return this.apply(id, from, patch);
  }

  async update(id: string, patch: Partial<Session>): Promise<Session | undefined> {
    return this.apply(id, undefined, patch);
  }

  private async apply(
    id: string,
    from: readonly SessionStatus[] | undefined,
    patch: Partial<Session>,
  ): Promise<Session | undefined> {
    const withTime = { ...patch, updatedAt: new Date().toISOString() };
    const expiry =
      patch.status === 'streaming'
        ? `hold:${this.streamingHoldMs}`
        : patch.status && FINAL_STATUSES.includes(patch.status)
          ? 'restore'
          : '';
    const args = [
      String(from?.length ?? -1),
      ...(from ?? []).map((s) => JSON.stringify(s)),
      expiry,
      ...Object.entries(encode(withTime)).flat(),
    ];
    const reply = await this.redis.run('session_cas', (c) =>
      c.eval(TRANSITION_SCRIPT, { keys: [sessionKey(id)], arguments: args }),
    );
    if (!Array.isArray(reply)) return undefined;
    // The script returns HGETALL's flat [field, value, ...] list of strings.
    const flat = reply as string[];
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
    return decode(fields);
  }
}

export function sessionKey(id: string): string {
  return `tts:{${id}}:session`;
}

function clientSessionsKey(client: string): string {
  return `tts:client:{${client}}:sessions`;
}

/** Every defined property as a JSON string (undefined becomes JSON null: the field is cleared on read). */
function encode(session: Partial<Session>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(session)) out[key] = JSON.stringify(value ?? null);
  return out;
}

function decode(fields: Record<string, string> | undefined): Session | undefined {
  if (!fields || !fields.id) return undefined;
  const session: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(fields)) {
    const value: unknown = JSON.parse(raw);
    if (value !== null) session[key] = value;
  }
  return session as unknown as Session;
}

/**
 * KEYS[1] the session hash. ARGV: n (number of allowed current statuses, -1 = no check), the n allowed
 * statuses (JSON-encoded, as stored), the expiry action ('hold:<ms>' = expire no sooner than in <ms>,
 * 'restore' = at `expiresAt`, '' = unchanged), then field/value pairs.
 * Returns the whole hash after the change, or nil when the session is missing or not in an allowed status.
 */
const TRANSITION_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return nil end
local n = tonumber(ARGV[1])
if n >= 0 then
  local allowed = false
  for i = 2, n + 1 do if ARGV[i] == current then allowed = true end end
  if not allowed then return nil end
else
  n = 0
end
local expiry = ARGV[n + 2]
local fields = {}
for i = n + 3, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
if string.sub(expiry, 1, 5) == 'hold:' then
  local hold = tonumber(string.sub(expiry, 6))
  if redis.call('PTTL', KEYS[1]) < hold then redis.call('PEXPIRE', KEYS[1], hold) end
elseif expiry == 'restore' then
  local at = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
  local now = redis.call('TIME')
  local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if at and at > nowMs then redis.call('PEXPIREAT', KEYS[1], at) else redis.call('PEXPIRE', KEYS[1], 60000) end
end
return redis.call('HGETALL', KEYS[1])
`;
