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
}

export function validateEnv(config: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, config, { enableImplicitConversion: false });
  const errors = validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const rules = Object.values(e.constraints ?? {}).join('; ');
      return `  ${e.property}=${JSON.stringify(config[e.property])}: ${rules}`;
    });
    throw new Error(`Invalid environment configuration:\n${lines.join('\n')}`);
  }
  return env;
}
