import { registerAs } from '@nestjs/config';

import { flag, int, list } from '../config/env-values';

/** API keys and tenancy (CONTRACT.md "API keys and tenancy"). No key configured = open gateway. */
export const authConfig = registerAs('auth', () => ({
  /** API_KEYS: plaintext keys for a quick start, named key-1, key-2, … */
  keys: list(process.env.API_KEYS),
  /** API_KEYS_FILE: JSON (or YAML by extension), reloaded when it changes. */
  file: process.env.API_KEYS_FILE || undefined,
  /** /metrics requires an admin key. */
  metricsRequireKey: flag(process.env.METRICS_REQUIRE_KEY),
  /**
   * Requests with a wrong API key per client IP per minute, before that IP gets `429` instead of `401` for
   * the rest of the minute (requests with a valid key are not affected); 0 = no limit.
   */
  authFailuresPerMinute: int(process.env.AUTH_FAILURES_PER_MINUTE, 60),
  /** Lifetime of the single-use WebSocket tokens carried in `ws_url`. */
  wsTokenTtlSeconds: int(process.env.WS_TOKEN_TTL_SECONDS, 60),
}));

export type AuthConfig = ReturnType<typeof authConfig>;
