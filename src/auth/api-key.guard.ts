import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { ApiKeysService } from './api-keys.service';
import { authConfig, type AuthConfig } from './auth.config';
import { bearerOf, keyCaller } from './caller';

/**
 * Who may call: with API keys configured, every `/v1/*` route needs `Authorization: Bearer <key>` (what
 * the OpenAI SDKs send as `apiKey`), and `/metrics` an admin key when METRICS_REQUIRE_KEY is set; the probes,
 * the docs and the demo page stay open. Missing or wrong → `401 unauthorized` with `WWW-Authenticate`.
 * Sets `req.caller` for everything after it (limits, ownership, usage). Without keys: the caller is the IP.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeysService,
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
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
      throw new GatewayException(
        ErrorCode.Unauthorized,
        presented
          ? 'the API key is not valid'
          : "an API key is required: send Authorization: Bearer <key> (the OpenAI SDK's apiKey)",
      );
    }
    if (isMetrics && !key.admin)
      throw new GatewayException(ErrorCode.Unauthorized, '/metrics requires an admin key');
    if (path.startsWith('/v1/admin/') && !key.admin)
      throw new GatewayException(ErrorCode.Unauthorized, 'this route requires an admin key');
    return true;
  }
}
