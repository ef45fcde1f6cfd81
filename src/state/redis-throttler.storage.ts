import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import type { RedisService } from './redis.service';

/**
 * @nestjs/throttler's storage in Redis, so N replicas together allow what one allows. The same fixed-window
 * algorithm as `@nest-lab/throttler-storage-redis` (one script per hit: INCR, PEXPIRE on the first hit, a
 * block key past the limit), written on node-redis because that package requires ioredis and one Redis
 * client for the whole gateway is the simpler thing to run. Keys are hash-tagged per tracker (Cluster-safe).
 *
 * Redis down: the script fails, the guard answers 503 `state_unavailable` (fail closed, like new sessions).
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly redis: RedisService) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const base = `tts:rl:{${key}:${throttlerName}}`;
    const reply = (await this.redis.run('rate_limit', (c) =>
      c.eval(SCRIPT, {
        keys: [`${base}:hits`, `${base}:blocked`],
        arguments: [String(ttl), String(limit), String(blockDuration)],
      }),
    )) as number[];
    const [totalHits, timeToExpireMs, blocked, timeToBlockExpireMs] = reply.map(Number);
    return {
      totalHits,
      timeToExpire: Math.ceil(timeToExpireMs / 1000),
      isBlocked: blocked === 1,
      timeToBlockExpire: Math.ceil(timeToBlockExpireMs / 1000),
    };
  }
}

const SCRIPT = `
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
local blockTtl = redis.call('PTTL', KEYS[2])
if blockTtl > 0 then
  return { hits, ttl, 1, blockTtl }
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
  return { hits, ttl, 1, tonumber(ARGV[3]) }
end
return { hits, ttl, 0, 0 }
`;
