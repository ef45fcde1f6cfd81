import { cacheConfig } from './audio-cache';

describe('cacheConfig', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('should take an empty variable as the default, not as 0 (which turns the cache off)', () => {
    process.env.CACHE_MAX_BYTES = '';
    process.env.CACHE_TTL_SECONDS = '';
    expect(cacheConfig()).toMatchObject({ maxBytes: 64 * 1024 * 1024, ttlSeconds: 3600 });
  });

  it('should honour an explicit 0 and explicit sizes', () => {
    process.env.CACHE_MAX_BYTES = '0';
    process.env.CACHE_MAX_ENTRY_BYTES = '4096';
    expect(cacheConfig()).toMatchObject({ maxBytes: 0, maxEntryBytes: 4096 });
  });
});
