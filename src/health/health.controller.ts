import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
} from '@nestjs/terminus';
import { ProviderRegistry } from '../providers/provider.registry';
import { ProviderResilienceService } from '../synthesis/provider-resilience.service';
import { RedisService } from '../state/redis.service';
import { ShutdownState } from './shutdown.state';

/**
 * Kubernetes probes. Liveness depends on nothing but the process. Readiness fails when the process is
 * draining or the default provider (where requests without `provider` go) is down; other providers are
 * reported in the details without failing readiness (degraded is not dead).
 */
@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly registry: ProviderRegistry,
    private readonly shutdown: ShutdownState,
    private readonly resilience: ProviderResilienceService,
    private readonly redis: RedisService,
  ) {}

  @Get('healthz')
  @ApiOperation({ operationId: 'liveness', summary: 'Liveness: 200 while the process serves' })
  @HealthCheck()
  liveness(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('readyz')
  @ApiOperation({
    operationId: 'readiness',
    summary: 'Readiness: 200 when sessions can be taken, 503 with details otherwise',
  })
  @HealthCheck()
  readiness(): Promise<HealthCheckResult> {
    return this.health.check([
      () => {
        const check = this.indicator.check('accepting_sessions');
        return this.shutdown.draining ? check.down({ reason: 'shutting down' }) : check.up();
      },
      () => {
        // With REDIS_URL, shared state is needed for new sessions: no Redis, no new work here.
        const check = this.indicator.check('redis');
        if (!this.redis.enabled) return check.up({ mode: 'in-process' });
        return this.redis.ready
          ? check.up({ mode: 'redis' })
          : check.down({ mode: 'redis', reason: this.redis.unreadyReason ?? 'not connected' });
      },
      async () => {
        const id = await this.registry.defaultProviderId();
        const health = await this.registry.checkHealth(id);
        const check = this.indicator.check('default_provider');
        return health.up ? check.up({ provider: id }) : check.down({ provider: id, reason: health.reason });
      },
      async () => {
        const entries = await Promise.all(
          this.registry.ids().map(async (id) => [id, await this.registry.checkHealth(id)] as const),
        );
        const details = Object.fromEntries(
          entries.map(([id, h]) => {
            const load = this.resilience.load(id);
            const circuit = {
              circuit: load.circuit,
              ...(load.retryAfterSeconds !== undefined ? { retry_after_s: load.retryAfterSeconds } : {}),
            };
            return [
              id,
              h.up ? { status: 'up', ...circuit } : { status: 'down', reason: h.reason, ...circuit },
            ];
          }),
        );
        return this.indicator.check('providers').up(details);
      },
    ]);
  }
}
