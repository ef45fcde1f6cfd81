import type { LimitsConfig } from '../config/configuration';
import { MemorySessionStore } from './memory-session.store';
import type { Session, SessionStatus } from './session.model';

const session = (
  id: string,
  status: SessionStatus = 'pending',
  expiresAt = Date.now() + 60_000,
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
    store = new MemorySessionStore({ maxSessions: 3 } as LimitsConfig);
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
});
