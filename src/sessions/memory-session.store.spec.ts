import type { LimitsConfig } from '../config/configuration';
import { MemorySessionStore } from './memory-session.store';
import type { Session, SessionStatus } from './session.model';

const session = (
  id: string,
  status: SessionStatus = 'pending',
  expiresAt = Date.now() + 60_000,
  client = 'client-a',
): Session => ({
  id,
  status,
  text: 'x',
  provider: 'mock_tone',
  voice: 'en-US-mock-1',
  language: 'en-US',
  targetFormat: 'pcm16',
  sampleRateHz: 24000,
  speed: 1,
  fallbacks: [],
  failover: 'before_audio',
  client,
  textFormat: 'text',
  warnings: [],
  cache: true,
  createdAt: '',
  updatedAt: '',
  expiresAt,
  chunksSent: 0,
  bytesSent: 0,
  audioMs: 0,
});

describe(MemorySessionStore.name, () => {
  let store: MemorySessionStore;

  beforeEach(() => {
    store = new MemorySessionStore({ maxSessions: 3, maxSessionsPerClient: 100 } as LimitsConfig);
  });

  afterEach(() => store.onModuleDestroy());

  it('should move a session between statuses only from the expected ones (compare-and-set)', async () => {
    await store.insert(session('a'));
    expect(await store.transition('a', ['pending'], { status: 'streaming' })).toMatchObject({
      status: 'streaming',
    });
    expect(await store.transition('a', ['pending'], { status: 'streaming' })).toBeUndefined();
  });

  it('should hand out copies, not its own objects', async () => {
    await store.insert(session('a'));
    (await store.get('a'))!.status = 'failed';
    expect((await store.get('a'))!.status).toBe('pending');
  });

  it('should forget expired sessions unless they are streaming', async () => {
    await store.insert(session('old', 'completed', Date.now() - 1));
    await store.insert(session('live', 'streaming', Date.now() - 1));
    expect(await store.get('old')).toBeUndefined();
    expect(await store.get('live')).toBeDefined();
  });

  it('should stay within MAX_SESSIONS, evicting finished sessions before pending ones', async () => {
    await store.insert(session('p1'));
    await store.insert(session('done', 'completed'));
    await store.insert(session('p2'));
    await store.insert(session('p3'));
    expect(await store.size()).toBe(3);
    expect(await store.get('done')).toBeUndefined();
    expect(await store.get('p1')).toBeDefined();
    await store.insert(session('p4'));
    expect(await store.get('p1')).toBeUndefined();
    expect(await store.size()).toBe(3);
  });

  it("should never evict another client's pending session to make room", async () => {
    await store.insert(session('a1', 'pending', undefined, 'alice'));
    await store.insert(session('a2', 'pending', undefined, 'alice'));
    await store.insert(session('b1', 'pending', undefined, 'bob'));
    // Full, and bob has nothing finished or older of his own to give: he is refused, alice keeps hers.
    await expect(store.insert(session('b2', 'pending', undefined, 'bob'))).resolves.toBeUndefined();
    expect(await store.get('a1')).toBeDefined();
    expect(await store.get('a2')).toBeDefined();
    expect(await store.get('b1')).toBeUndefined();
    await expect(store.insert(session('c1', 'pending', undefined, 'carol'))).rejects.toMatchObject({
      code: 'too_many_streams',
    });
    expect(await store.get('a1')).toBeDefined();
    expect(await store.get('b2')).toBeDefined();
  });

  it('should cap the sessions one client keeps, forgetting its own finished ones first', async () => {
    const perClient = new MemorySessionStore({ maxSessions: 100, maxSessionsPerClient: 2 } as LimitsConfig);
    try {
      await perClient.insert(session('x1', 'completed', undefined, 'x'));
      await perClient.insert(session('x2', 'pending', undefined, 'x'));
      await perClient.insert(session('y1', 'pending', undefined, 'y'));
      await perClient.insert(session('x3', 'pending', undefined, 'x'));
      expect(await perClient.get('x1')).toBeUndefined();
      expect(await perClient.get('x2')).toBeDefined();
      await perClient.insert(session('x4', 'streaming', undefined, 'x'));
      expect(await perClient.get('x2')).toBeUndefined(); // its own oldest pending, never y1
      expect(await perClient.get('y1')).toBeDefined();
    } finally {
      perClient.onModuleDestroy();
    }
  });
});
