import { Test } from '@nestjs/testing';
import { getToken } from '@willsoto/nestjs-prometheus';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { startRedis, type RedisServer } from '../../test/support/redis-server';
import { appConfig } from '../config/configuration';
import { METRIC } from '../metrics/metric-names';
import { RedisService, StateUnavailableError, supportsRedisVersion } from './redis.service';

describe('supportsRedisVersion', () => {
  it('should accept Redis 6.2 and newer and refuse older or unreadable versions', () => {
    expect(['6.2.0', '6.2.14', '7.0.15', '7.4.1', '8.0.2', '10.1.0'].map(supportsRedisVersion)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['6.0.16', '5.0.7', '4.0.9', 'unknown', ''].map(supportsRedisVersion)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

/** RedisService on a real redis-server (Debian's, on a free port). */
describe(RedisService.name, () => {
  let redis: RedisServer;
  let service: RedisService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    redis = await startRedis();
    const registry = new Registry();
    const moduleRef = await Test.createTestingModule({
      providers: [
        RedisService,
        { provide: appConfig.KEY, useValue: { redisUrl: redis.url } },
        {
          provide: getToken(METRIC.redisCommandsTotal),
          useValue: new Counter({
            name: 'c',
            help: 'c',
            labelNames: ['command', 'outcome'],
            registers: [registry],
          }),
        },
        {
          provide: getToken(METRIC.redisCommandDuration),
          useValue: new Histogram({ name: 'h', help: 'h', labelNames: ['command'], registers: [registry] }),
        },
        {
          provide: getToken(METRIC.redisUp),
          useValue: new Gauge({ name: 'g', help: 'g', registers: [registry] }),
        },
      ],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(RedisService);
    close = () => moduleRef.close();
    await until(() => service.ready, 5000);
  });

  afterAll(async () => {
    redis?.resume();
    await close?.();
    await redis?.stop();
  });

  it('should serve commands while a blocking read waits on its own connection', async () => {
    const blocking = service.blockingConnection();
    const controller = new AbortController();
    const read = blocking.send(
      'test_read',
      ['XREAD', 'BLOCK', '2000', 'STREAMS', 'tts:{idle}:audio', '$'],
      2000,
      controller.signal,
    );
    try {
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      for (let i = 0; i < 5; i++) await service.run('test_ping', (c) => c.ping());
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      controller.abort(new Error('done'));
      await read.catch(() => undefined);
      blocking.close();
    }
  });

  it('should fail a command within its deadline and report not ready while Redis hangs, then recover', async () => {
    redis.pause();
    try {
      const started = performance.now();
      await expect(service.run('test_ping', (c) => c.ping())).rejects.toBeInstanceOf(StateUnavailableError);
      expect(performance.now() - started).toBeLessThan(1500);
      await until(() => !service.ready, 4000);
      expect(service.unreadyReason).toBeDefined();
    } finally {
      redis.resume();
    }
    await until(() => service.ready, 10000);
    await expect(service.run('test_ping', (c) => c.ping())).resolves.toBe('PONG');
  });
});

async function until(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
