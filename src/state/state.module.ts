import { Global, Module } from '@nestjs/common';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import {
  appConfig,
  limitsConfig,
  streamingConfig,
  type AppConfig,
  type LimitsConfig,
  type StreamingConfig,
} from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import { MemorySessionStore } from '../sessions/memory-session.store';
import { SessionStore } from '../sessions/session.store';
import { MemoryReplayStore, ReplayStore } from '../synthesis/replay/replay-store';
import {
  CircuitSync,
  LocalCircuitSync,
  LocalStreamControl,
  RedisCircuitSync,
  RedisStreamControl,
  StreamControl,
} from './control';
import {
  MemoryTokenStore,
  MemoryUsageStore,
  RedisTokenStore,
  RedisUsageStore,
  TokenStore,
  UsageStore,
} from './counters';
import { RedisReplayStore } from './redis-replay.store';
import { RedisSessionStore } from './redis-session.store';
import { RedisThrottlerStorage } from './redis-throttler.storage';
import { RedisService } from './redis.service';
import { LocalStreamLeases, RedisStreamLeases, StreamLeases } from './stream-leases';

/** Injection token of the throttler storage this module chooses (in process, or Redis). */
export const RATE_LIMIT_STORAGE = Symbol('RATE_LIMIT_STORAGE');

/**
 * Where shared state lives, decided at start from configuration: REDIS_URL set → sessions, replay logs,
 * rate limits, stream control, circuit state and keys' stream leases in Redis (several replicas, no sticky sessions); unset →
 * everything in this process (the embedded default, no Redis needed). Each seam is an abstract class that
 * the feature modules inject; only this module knows which implementation runs.
 */
@Global()
@Module({
  providers: [
    RedisService,
    {
      provide: SessionStore,
      inject: [appConfig.KEY, limitsConfig.KEY, RedisService],
      useFactory: (app: AppConfig, limits: LimitsConfig, redis: RedisService) =>
        app.redisUrl ? new RedisSessionStore(redis, limits) : new MemorySessionStore(limits),
    },
    {
      provide: ReplayStore,
      inject: [appConfig.KEY, streamingConfig.KEY, RedisService, getToken(METRIC.resumeBufferBytes)],
      useFactory: (app: AppConfig, streaming: StreamingConfig, redis: RedisService, gauge: Gauge<string>) =>
        app.redisUrl
          ? new RedisReplayStore(redis, streaming, gauge)
          : new MemoryReplayStore(streaming, gauge),
    },
    {
      provide: StreamControl,
      inject: [appConfig.KEY, RedisService],
      useFactory: (app: AppConfig, redis: RedisService) =>
        app.redisUrl ? new RedisStreamControl(redis) : new LocalStreamControl(),
    },
    {
      provide: CircuitSync,
      inject: [appConfig.KEY, RedisService],
      useFactory: (app: AppConfig, redis: RedisService) =>
        app.redisUrl ? new RedisCircuitSync(redis) : new LocalCircuitSync(),
    },
    {
      provide: TokenStore,
      inject: [appConfig.KEY, RedisService],
      useFactory: (app: AppConfig, redis: RedisService) =>
        app.redisUrl ? new RedisTokenStore(redis) : new MemoryTokenStore(),
    },
    {
      provide: UsageStore,
      inject: [appConfig.KEY, RedisService],
      useFactory: (app: AppConfig, redis: RedisService) =>
        app.redisUrl ? new RedisUsageStore(redis) : new MemoryUsageStore(),
    },
    {
      provide: StreamLeases,
      inject: [appConfig.KEY, limitsConfig.KEY, RedisService],
      useFactory: (app: AppConfig, limits: LimitsConfig, redis: RedisService) =>
        app.redisUrl ? new RedisStreamLeases(redis, limits.streamLeaseTtlMs) : new LocalStreamLeases(),
    },
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [appConfig.KEY, RedisService],
      useFactory: (app: AppConfig, redis: RedisService) =>
        app.redisUrl ? new RedisThrottlerStorage(redis) : undefined,
    },
  ],
  exports: [
    RedisService,
    SessionStore,
    ReplayStore,
    StreamControl,
    CircuitSync,
    TokenStore,
    UsageStore,
    StreamLeases,
    RATE_LIMIT_STORAGE,
  ],
})
export class StateModule {}
