import { validateEnv } from './env.validation';

describe('validateEnv', () => {
  it('should accept an empty environment (every variable has a default)', () => {
    expect(() => validateEnv({})).not.toThrow();
  });

  it('should accept good values', () => {
    const env = validateEnv({
      PORT: '9000',
      PROVIDERS: 'mock_tone, espeak',
      MOCK_TONE_REALTIME_FACTOR: '0.5',
    });
    expect(env.PORT).toBe(9000);
  });

  it('should name every bad variable in one message', () => {
    expect(() =>
      validateEnv({ PORT: '70000', RATE_LIMIT_SESSIONS_PER_MINUTE: 'many', REDIS_URL: 'http://x' }),
    ).toThrow(/PORT="70000"[\s\S]*RATE_LIMIT_SESSIONS_PER_MINUTE="many"[\s\S]*REDIS_URL="http:\/\/x"/);
  });

  it('should bound the codec threads and read CODEC_THREADS_AT_BOOT as a boolean', () => {
    expect(validateEnv({ CODEC_THREADS: '4', CODEC_THREADS_AT_BOOT: 'yes' })).toMatchObject({
      CODEC_THREADS: 4,
      CODEC_THREADS_AT_BOOT: true,
    });
    expect(() => validateEnv({ CODEC_THREADS: '65', CODEC_THREADS_AT_BOOT: 'maybe' })).toThrow(
      /CODEC_THREADS="65"[\s\S]*CODEC_THREADS_AT_BOOT="maybe"/,
    );
  });

  it('should list the allowed providers when PROVIDERS is wrong', () => {
    expect(() => validateEnv({ PROVIDERS: 'mock_tone,polly' })).toThrow(/mock_tone, espeak, coqui, openai/);
  });
});
