import { registerAs } from '@nestjs/config';
import { PROVIDER_IDS, type ProviderId } from '../providers/provider.contract';

/**
 * Typed, namespaced configuration. Values were validated by `validateEnv`; here we apply defaults and parse
 * lists. Read with `config.getOrThrow('<namespace>', { infer: true })`.
 */
const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const int = (value: string | undefined, fallback: number) => (value ? Number(value) : fallback);

export const appConfig = registerAs('app', () => ({
  port: int(process.env.PORT, 8080),
  host: process.env.HOST || '0.0.0.0',
  logLevel: process.env.LOG_LEVEL || 'info',
  logPretty: ['1', 'true', 'yes', 'on'].includes((process.env.LOG_PRETTY ?? '').toLowerCase()),
  corsOrigins: list(process.env.CORS_ORIGINS),
  trustProxy: parseTrustProxy(process.env.TRUST_PROXY),
  bodyLimitBytes: int(process.env.BODY_LIMIT_BYTES, 64 * 1024),
  redisUrl: process.env.REDIS_URL || undefined,
}));

export const limitsConfig = registerAs('limits', () => {
  const maxTextChars = int(process.env.MAX_TEXT_CHARS, 5000);
  return {
    maxTextChars,
    // UTF-8 bytes: 4 per character covers any script; engines that count bytes (Google: 5000) get a bound.
    maxTextBytes: int(process.env.MAX_TEXT_BYTES, maxTextChars * 4),
    sessionsPerMinute: int(process.env.RATE_LIMIT_SESSIONS_PER_MINUTE, 120),
    maxConcurrentStreams: int(process.env.MAX_CONCURRENT_STREAMS, 1000),
    sessionTtlSeconds: int(process.env.SESSION_TTL_SECONDS, 3600),
    maxSessions: int(process.env.MAX_SESSIONS, 100_000),
  };
});

export const streamingConfig = registerAs('streaming', () => ({
  maxPayloadBytes: int(process.env.WS_MAX_PAYLOAD_BYTES, 64 * 1024),
  pingIntervalMs: int(process.env.WS_PING_INTERVAL_MS, 15000),
  sendHighWaterBytes: int(process.env.WS_SEND_HIGH_WATER_BYTES, 256 * 1024),
  stallTimeoutMs: int(process.env.WS_STALL_TIMEOUT_MS, 10000),
  firstAudioTimeoutMs: int(process.env.PROVIDER_FIRST_AUDIO_TIMEOUT_MS, 20000),
  idleTimeoutMs: int(process.env.PROVIDER_IDLE_TIMEOUT_MS, 15000),
}));

export const providersConfig = registerAs('providers', () => {
  const enabled = list(process.env.PROVIDERS) as ProviderId[];
  return {
    /** Explicit list, or undefined = every provider whose dependencies are present. */
    enabled: enabled.length > 0 ? enabled.filter((id) => PROVIDER_IDS.includes(id)) : undefined,
    defaultProvider: (process.env.DEFAULT_PROVIDER || undefined) as ProviderId | undefined,
    mockTone: { realtimeFactor: Number(process.env.MOCK_TONE_REALTIME_FACTOR ?? 0) },
    espeak: { binary: process.env.ESPEAK_BINARY || 'espeak-ng' },
    coqui: { baseUrl: process.env.COQUI_BASE_URL || undefined },
    openai: {
      baseUrl: process.env.OPENAI_TTS_BASE_URL || undefined,
      apiKey: process.env.OPENAI_TTS_API_KEY || undefined,
      model: process.env.OPENAI_TTS_MODEL || 'tts-1',
      voices: list(process.env.OPENAI_TTS_VOICES),
    },
  };
});

export type AppConfig = ReturnType<typeof appConfig>;
export type LimitsConfig = ReturnType<typeof limitsConfig>;
export type StreamingConfig = ReturnType<typeof streamingConfig>;
export type ProvidersConfig = ReturnType<typeof providersConfig>;

export interface GatewayConfig {
  app: AppConfig;
  limits: LimitsConfig;
  streaming: StreamingConfig;
  providers: ProvidersConfig;
}

function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  if (!value) return false;
  if (['true', 'yes'].includes(value.toLowerCase())) return true;
  if (['false', 'no'].includes(value.toLowerCase())) return false;
  if (/^\d+$/.test(value)) return Number(value);
  return list(value);
}
