import { registerAs } from '@nestjs/config';
import { PROVIDER_IDS, type ProviderId } from '../providers/provider.contract';
import { flag, int, list } from './env-values';

/**
 * Typed, namespaced configuration. Values were validated by `validateEnv`; here we apply defaults and parse
 * lists. Read with `config.getOrThrow('<namespace>', { infer: true })`.
 */

export const appConfig = registerAs('app', () => ({
  port: int(process.env.PORT, 8080),
  host: process.env.HOST || '0.0.0.0',
  logLevel: process.env.LOG_LEVEL || 'info',
  logPretty: flag(process.env.LOG_PRETTY),
  corsOrigins: list(process.env.CORS_ORIGINS),
  trustProxy: parseTrustProxy(process.env.TRUST_PROXY),
  bodyLimitBytes: int(process.env.BODY_LIMIT_BYTES, 64 * 1024),
  /** A connection that has sent no byte this long after it opened is closed. */
  silentConnectionTimeoutMs: int(process.env.HTTP_SILENT_CONNECTION_TIMEOUT_MS, 10_000),
  redisUrl: process.env.REDIS_URL || undefined,
  publicBaseUrl: parsePublicBaseUrl(process.env.PUBLIC_BASE_URL),
  /** How long SIGTERM lets running streams finish before ending them with `shutting_down`. */
  shutdownDrainSeconds: int(process.env.SHUTDOWN_DRAIN_SECONDS, 25),
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
    /** Concurrent syntheses (stream, file, speech) one client may run. */
    maxStreamsPerClient: int(process.env.MAX_STREAMS_PER_CLIENT, 20),
    /**
     * With REDIS_URL: how long a replica's hold on one of a key's `max_concurrent_streams` outlives its last
     * renewal (every third of it), so the streams of a replica that died are free again within this.
     */
    streamLeaseTtlMs: int(process.env.STREAM_LEASE_TTL_MS, 15_000),
    /** Sessions one client may keep at once (pending or retained). */
    maxSessionsPerClient: int(process.env.MAX_SESSIONS_PER_CLIENT, 1000),
    /** Longest audio one request may produce, at any speed (slow speech of a long text is long). */
    maxAudioSeconds: int(process.env.MAX_AUDIO_SECONDS, 1800),
  };
});

export const streamingConfig = registerAs('streaming', () => ({
  maxPayloadBytes: int(process.env.WS_MAX_PAYLOAD_BYTES, 64 * 1024),
  pingIntervalMs: int(process.env.WS_PING_INTERVAL_MS, 15000),
  sendHighWaterBytes: int(process.env.WS_SEND_HIGH_WATER_BYTES, 256 * 1024),
  stallTimeoutMs: int(process.env.WS_STALL_TIMEOUT_MS, 10000),
  /** How long an HTTP response body may sit unread before the request is dropped. */
  httpStallTimeoutMs: int(process.env.HTTP_STALL_TIMEOUT_MS, int(process.env.WS_STALL_TIMEOUT_MS, 10000)),
  /** Client messages per second a socket may send (sustained, burst 2×) before `policy_violation`. */
  clientMessagesPerSecond: int(process.env.WS_CLIENT_MESSAGES_PER_SECOND, 50),
  resumeWindowSeconds: int(process.env.RESUME_WINDOW_SECONDS, 60),
  resumeBufferBytes: int(process.env.RESUME_BUFFER_BYTES, 8 * 1024 * 1024),
  /** Audio of ended streams kept for replay, all sessions together; the oldest go first past it. */
  resumeRetainedBytes: int(process.env.RESUME_RETAINED_BYTES, 256 * 1024 * 1024),
}));

/** One provider's resilience policy: timeouts, retries, breaker and bulkhead. */
export interface ProviderPolicy {
  firstAudioTimeoutMs: number;
  idleTimeoutMs: number;
  retries: number;
  retryBackoffMs: number;
  /** An upstream 429 asking to wait at most this long is waited out; longer fails over. */
  retryAfterMaxWaitMs: number;
  breakerThreshold: number;
  halfOpenMs: number;
  /** Concurrent requests to the engine (bulkhead); undefined = unbounded. */
  concurrency: number | undefined;
  /** Requests waiting for a slot beyond `concurrency`; past it `provider_busy`. */
  queue: number;
}

/** Engines that serve one request at a time unless told otherwise. */
const SERIAL_ENGINES: readonly ProviderId[] = ['coqui'];

export const resilienceConfig = registerAs('resilience', () => {
  const env = (id: ProviderId, setting: string) =>
    process.env[`PROVIDER_${id.toUpperCase()}_${setting}`] || process.env[`PROVIDER_${setting}`];
  const policyOf = (id: ProviderId): ProviderPolicy => {
    const concurrency = env(id, 'CONCURRENCY');
    return {
      firstAudioTimeoutMs: int(env(id, 'FIRST_AUDIO_TIMEOUT_MS'), 20000),
      idleTimeoutMs: int(env(id, 'IDLE_TIMEOUT_MS'), 15000),
      retries: int(env(id, 'RETRIES'), 1),
      retryBackoffMs: int(env(id, 'RETRY_BACKOFF_MS'), 200),
      retryAfterMaxWaitMs: int(env(id, 'RETRY_AFTER_MAX_WAIT_MS'), 3000),
      breakerThreshold: int(env(id, 'BREAKER_THRESHOLD'), 5),
      halfOpenMs: int(env(id, 'HALF_OPEN_MS'), 10000),
      concurrency: concurrency ? Number(concurrency) : SERIAL_ENGINES.includes(id) ? 1 : undefined,
      queue: int(env(id, 'QUEUE'), 64),
    };
  };
  return {
    policies: Object.fromEntries(PROVIDER_IDS.map((id) => [id, policyOf(id)])) as Record<
      ProviderId,
      ProviderPolicy
    >,
    defaultFallbacks: list(process.env.DEFAULT_FALLBACK_PROVIDERS) as ProviderId[],
  };
});

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
export type ResilienceConfig = ReturnType<typeof resilienceConfig>;

export interface GatewayConfig {
  app: AppConfig;
  limits: LimitsConfig;
  streaming: StreamingConfig;
  providers: ProvidersConfig;
  resilience: ResilienceConfig;
}

/** `https://tts.example.com/base/` → `https://tts.example.com/base` (origin plus path, no trailing slash). */
function parsePublicBaseUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const url = new URL(value);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  if (!value) return false;
  if (['true', 'yes'].includes(value.toLowerCase())) return true;
  if (['false', 'no'].includes(value.toLowerCase())) return false;
  if (/^\d+$/.test(value)) return Number(value);
  return list(value);
}
