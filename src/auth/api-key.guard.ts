import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { UsageStore } from '../state/counters';
import { ApiKeysService } from './api-keys.service';
import { authConfig, type AuthConfig } from './auth.config';
import { bearerOf, keyCaller } from './caller';

/**
 * Who may call: with API keys configured, every `/v1/*` route needs `Authorization: Bearer <key>` (what
 * the OpenAI SDKs send as `apiKey`), and `/metrics` an admin key when METRICS_REQUIRE_KEY is set; the probes,
 * the docs and the demo page stay open. Missing or wrong → `401 unauthorized` with `WWW-Authenticate`.
 * Sets `req.caller` for everything after it (limits, ownership, usage). Without keys: the caller is the IP.
 *
 * The per-IP floor under the keys: an IP that presents more than AUTH_FAILURES_PER_MINUTE wrong keys in a
 * minute gets `429 rate_limited` instead of `401` until the minute is over (counted like the other limits:
 * in Redis with REDIS_URL). A request without any key is a plain 401 and is not counted, so a client that
 * forgot its key is told so; a valid key is never refused by it.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeysService,
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
    private readonly counters: UsageStore,
  ) {}

  /** Synchronous on every path but a wrong key (which is counted first): no extra await per request. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    req.caller = { id: req.ip || 'unknown' };
    if (!this.keys.enabled) return true;
    const path = (req.routeOptions?.url ?? req.url).split('?')[0];
    const isApi = path.startsWith('/v1/');
    const isMetrics = path === '/metrics' && this.config.metricsRequireKey;
    const presented = bearerOf(req.headers.authorization);
    const key = this.keys.verify(presented);
    if (key) req.caller = keyCaller(key);
    if (!isApi && !isMetrics) return true;
    if (!key) {
      if (!presented)
        throw new GatewayException(
          ErrorCode.Unauthorized,
          "an API key is required: send Authorization: Bearer <key> (the OpenAI SDK's apiKey)",
        );
      return this.countFailure(req.ip || 'unknown').then(() => {
        throw new GatewayException(ErrorCode.Unauthorized, 'the API key is not valid');
      });
    }
    if (isMetrics && !key.admin)
      throw new GatewayException(ErrorCode.Unauthorized, '/metrics requires an admin key');
    if (path.startsWith('/v1/admin/') && !key.admin)
      throw new GatewayException(ErrorCode.Unauthorized, 'this route requires an admin key');
    return true;
  }

  private async countFailure(ip: string): Promise<void> {
    const limit = this.config.authFailuresPerMinute;
    if (limit <= 0) return;
    let window: { total: number; resetMs: number };
    try {
      window = await this.counters.addToWindow(`authfail:${ip}`, 1, MINUTE_MS);
    } catch {
      return; // shared state unreachable: the 401 still stands, uncounted
    }
    if (window.total <= limit) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(window.resetMs / 1000));
    throw new GatewayException(
      ErrorCode.RateLimited,
      `too many requests with a wrong API key from this address (AUTH_FAILURES_PER_MINUTE is ${limit}); retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }
}

const MINUTE_MS = 60_000;
