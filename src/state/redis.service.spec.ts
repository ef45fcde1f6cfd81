import { Test } from '@nestjs/testing';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
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
/** A RedisService of its own on `url`, initialised (connecting); `close` shuts it down. */
async function serviceOn(url: string): Promise<{ service: RedisService; close: () => Promise<void> }> {
  const registry = new Registry();
  const moduleRef = await Test.createTestingModule({
    providers: [
      RedisService,
      { provide: appConfig.KEY, useValue: { redisUrl: url } },
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
  return { service: moduleRef.get(RedisService), close: () => moduleRef.close() };
}

/**
 * A TCP relay in front of the real redis-server standing for the network between a replica and Redis:
 * `freezeSubscribers` stops relaying, both ways and without closing, every connection that has sent a
 * SUBSCRIBE — a pub/sub connection a NAT or load balancer dropped silently.
 */
async function startRelay(redisPort: number) {
  const pairs: { client: Socket; upstream: Socket; subscriber: boolean }[] = [];
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    const pair = { client, upstream, subscriber: false };
    pairs.push(pair);
    client.on('data', (data) => {
      if (/SUBSCRIBE/i.test(data.toString('latin1'))) pair.subscriber = true;
      upstream.write(data);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    freezeSubscribers(): number {
      const frozen = pairs.filter((p) => p.subscriber && !p.client.destroyed);
      for (const { client, upstream } of frozen) {
        client.removeAllListeners('data');
        client.pause();
        upstream.unpipe(client);
        upstream.pause();
      }
      return frozen.length;
    },
    close(): Promise<void> {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe(RedisService.name, () => {
  let redis: RedisServer;
  let service: RedisService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    redis = await startRedis();
    ({ service, close } = await serviceOn(redis.url));
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

describe(`${RedisService.name} behind a network that drops its subscriber silently`, () => {
  it('should replace a subscriber that no longer delivers, report it meanwhile, and get control messages again', async () => {
    const redis = await startRedis();
    const relay = await startRelay(redis.port);
    const { service, close } = await serviceOn(relay.url);
    const other = await serviceOn(redis.url); // another replica, on a network that works
    try {
      await until(() => service.ready && other.service.ready, 5000);
      const received: string[] = [];
      service.onControl((m) => m.t === 'cancel' && received.push(m.s));
      let reconnected = 0;
      service.onConnected(() => reconnected++);
      await other.service.publish({ t: 'cancel', s: 'before', message: 'x' });
      await until(() => received.includes('before'), 2000);

      expect(relay.freezeSubscribers()).toBe(1);
      const frozenAt = performance.now();
      await other.service.publish({ t: 'cancel', s: 'lost', message: 'x' });
      // Within a heartbeat and its 2 s: not ready, naming the control channel.
      await until(() => !service.ready, 5000);
      expect(service.unreadyReason).toMatch(/control channel/);
      expect(performance.now() - frozenAt).toBeLessThan(4500);
      await until(() => service.ready, 5000);
      expect(reconnected).toBeGreaterThan(0); // circuits and the like are read again
      await other.service.publish({ t: 'cancel', s: 'after', message: 'x' });
      await until(() => received.includes('after'), 2000);
    } finally {
      await other.close();
      await close();
      await relay.close();
      await redis.stop();
    }
  }, 30000);
});

async function until(predicate: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
