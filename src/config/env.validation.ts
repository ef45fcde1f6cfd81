import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';
import { PROVIDER_IDS } from '../providers/provider.contract';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const PROVIDER_LIST = new RegExp(
  `^\\s*(${PROVIDER_IDS.join('|')})(\\s*,\\s*(${PROVIDER_IDS.join('|')}))*\\s*$`,
);

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === ''
    ? undefined
    : typeof value === 'string' && /^-?\d+$/.test(value)
      ? Number(value)
      : value;
const toNumber = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : Number.isFinite(Number(value)) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return value;
  const v = value.toLowerCase();
  return ['1', 'true', 'yes', 'on'].includes(v)
    ? true
    : ['0', 'false', 'no', 'off'].includes(v)
      ? false
      : value;
};
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/**
 * Every environment variable the gateway reads, with its rule. `validateEnv` runs once at start; a bad value
 * stops the process with a message that names the variable. Defaults live in the typed config factories.
 */
export class EnvironmentVariables {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT?: number;
  @IsOptional() @IsString() HOST?: string;
  @IsOptional() @IsIn(LOG_LEVELS) LOG_LEVEL?: (typeof LOG_LEVELS)[number];
  /** Pretty, human-readable logs instead of JSON (development only). */
  @IsOptional() @Transform(toBool) @IsBoolean() LOG_PRETTY?: boolean;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(PROVIDER_LIST, {
    message: `PROVIDERS must be a comma list of: ${PROVIDER_IDS.join(', ')}`,
  })
  PROVIDERS?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsIn(PROVIDER_IDS) DEFAULT_PROVIDER?: string;

  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000) MAX_TEXT_CHARS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(1000000) MAX_TEXT_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) @Max(10485760) BODY_LIMIT_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(600000) HTTP_SILENT_CONNECTION_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(1000000) RATE_LIMIT_SESSIONS_PER_MINUTE?: number;
  /** Fastify trustProxy: `true`, a hop count, or a comma list of addresses/CIDRs. Unset: trust nobody. */
  @IsOptional() @Transform(emptyToUndefined) @IsString() TRUST_PROXY?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsString() CORS_ORIGINS?: string;

  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000) MAX_CONCURRENT_STREAMS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(60) @Max(604800) SESSION_TTL_SECONDS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(10) @Max(100000000) MAX_SESSIONS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) @Max(16777216) WS_MAX_PAYLOAD_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(300000) WS_PING_INTERVAL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) @Max(67108864) WS_SEND_HIGH_WATER_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(600000) WS_STALL_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(600000) PROVIDER_FIRST_AUDIO_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(600000) PROVIDER_IDLE_TIMEOUT_MS?: number;

  /** mock_tone pacing: 0 = as fast as possible, 1 = real time, 2 = twice as slow as real time. */
  @IsOptional() @Transform(toNumber) @IsNumber() @Min(0) @Max(100) MOCK_TONE_REALTIME_FACTOR?: number;

  @IsOptional() @Transform(emptyToUndefined) @IsString() ESPEAK_BINARY?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  COQUI_BASE_URL?: string;
  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl({ require_tld: false, protocols: ['http', 'https'] })
  OPENAI_TTS_BASE_URL?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsString() OPENAI_TTS_API_KEY?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsString() OPENAI_TTS_MODEL?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsString() OPENAI_TTS_VOICES?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl({ require_tld: false, protocols: ['redis', 'rediss'] })
  REDIS_URL?: string;

  /** Public origin clients reach the gateway at (`https://tts.example.com`): absolute URLs and the WS Origin check. */
  @IsOptional()
  @Transform(emptyToUndefined)
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  PUBLIC_BASE_URL?: string;

  // Per-client fairness and bounds on work per request.
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000) MAX_STREAMS_PER_CLIENT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) @Max(600000) STREAM_LEASE_TTL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000000) MAX_SESSIONS_PER_CLIENT?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(86400) MAX_AUDIO_SECONDS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(600000) HTTP_STALL_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(10000) WS_CLIENT_MESSAGES_PER_SECOND?: number;

  // Resilience (CONTRACT.md "Resilience").
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(86400) RESUME_WINDOW_SECONDS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(1073741824) RESUME_BUFFER_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(68719476736) RESUME_RETAINED_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(3600) SHUTDOWN_DRAIN_SECONDS?: number;
  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(PROVIDER_LIST, {
    message: `DEFAULT_FALLBACK_PROVIDERS must be a comma list of: ${PROVIDER_IDS.join(', ')}`,
  })
  DEFAULT_FALLBACK_PROVIDERS?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(10) PROVIDER_RETRIES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(60000) PROVIDER_RETRY_BACKOFF_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(600000) PROVIDER_RETRY_AFTER_MAX_WAIT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(1000) PROVIDER_BREAKER_THRESHOLD?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) @Max(3600000) PROVIDER_HALF_OPEN_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000) PROVIDER_CONCURRENCY?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(100000) PROVIDER_QUEUE?: number;

  // Codec threads (MP3, Opus; src/transcode/codec.config.ts).
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(64) CODEC_THREADS?: number;
  @IsOptional() @Transform(toBool) @IsBoolean() CODEC_THREADS_AT_BOOT?: boolean;

  // The audio cache (engine PCM, content-addressed, single-flight).
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(68719476736) CACHE_MAX_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) @Max(1073741824) CACHE_MAX_ENTRY_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(2592000) CACHE_TTL_SECONDS?: number;

  // API keys and tenancy (CONTRACT.md).
  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^\s*[^\s,]+(\s*,\s*[^\s,]+)*\s*$/, {
    message: 'API_KEYS must be a comma list of keys (no spaces inside a key)',
  })
  API_KEYS?: string;
  @IsOptional() @Transform(emptyToUndefined) @IsString() API_KEYS_FILE?: string;
  @IsOptional() @Transform(toBool) @IsBoolean() METRICS_REQUIRE_KEY?: boolean;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(1000000) AUTH_FAILURES_PER_MINUTE?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(5) @Max(3600) WS_TOKEN_TTL_SECONDS?: number;

  // Live text input (`WS /v1/tts/live`, src/live/live.config.ts).
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100) LIVE_MAX_CONTEXTS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(10) @Max(60000) LIVE_IDLE_GAP_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(64) @Max(16777216) LIVE_MAX_CONTEXT_TEXT_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(64) @Max(67108864) LIVE_MAX_BUFFERED_TEXT_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1000) @Max(3600000) LIVE_CONTEXT_IDLE_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(100000000) LIVE_CHARS_PER_MINUTE?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(100000) LIVE_CLIENT_MESSAGES_PER_SECOND?: number;
}

/**
 * Per-provider overrides of the PROVIDER_* policy: `PROVIDER_<ID>_<SETTING>` (e.g. PROVIDER_COQUI_CONCURRENCY,
 * PROVIDER_OPENAI_FIRST_AUDIO_TIMEOUT_MS). Their names depend on the provider list, so they are checked here
 * rather than as decorated properties; each follows the rule of its global counterpart.
 */
export const PROVIDER_POLICY_SETTINGS: Readonly<Record<string, readonly [number, number]>> = {
  FIRST_AUDIO_TIMEOUT_MS: [100, 600000],
  IDLE_TIMEOUT_MS: [100, 600000],
  RETRIES: [0, 10],
  RETRY_BACKOFF_MS: [1, 60000],
  RETRY_AFTER_MAX_WAIT_MS: [0, 600000],
  BREAKER_THRESHOLD: [1, 1000],
  HALF_OPEN_MS: [100, 3600000],
  CONCURRENCY: [1, 100000],
  QUEUE: [0, 100000],
};

function providerPolicyProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(config)) {
    const match =
      /^PROVIDER_([A-Z_]+?)_(FIRST_AUDIO_TIMEOUT_MS|IDLE_TIMEOUT_MS|RETRIES|RETRY_BACKOFF_MS|RETRY_AFTER_MAX_WAIT_MS|BREAKER_THRESHOLD|HALF_OPEN_MS|CONCURRENCY|QUEUE)$/.exec(
        name,
      );
    if (!match || value === undefined || value === '') continue;
    const id = match[1].toLowerCase();
    if (!(PROVIDER_IDS as readonly string[]).includes(id)) {
      problems.push(
        `  ${name}=${JSON.stringify(value)}: no provider "${id}" (providers: ${PROVIDER_IDS.join(', ')})`,
      );
      continue;
    }
    const [min, max] = PROVIDER_POLICY_SETTINGS[match[2]];
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      problems.push(`  ${name}=${JSON.stringify(value)}: must be an integer from ${min} to ${max}`);
  }
  return problems;
}

const SECRET_VARIABLES = new Set(['API_KEYS', 'OPENAI_TTS_API_KEY']);

export function validateEnv(config: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, config, { enableImplicitConversion: false });
  const errors = validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false });
  const lines = errors.map((e) => {
    const rules = Object.values(e.constraints ?? {}).join('; ');
    // Secrets are named, never printed.
    const shown = SECRET_VARIABLES.has(e.property) ? '(redacted)' : JSON.stringify(config[e.property]);
    return `  ${e.property}=${shown}: ${rules}`;
  });
  lines.push(...providerPolicyProblems(config));
  if (lines.length > 0) throw new Error(`Invalid environment configuration:\n${lines.join('\n')}`);
  return env;
}
