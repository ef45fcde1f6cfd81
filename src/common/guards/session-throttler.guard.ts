import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import { ErrorCode } from '../errors/error-codes';
import { GatewayException } from '../errors/gateway.exception';
import { METRIC } from '../../metrics/metric-names';
import { clientOf } from '../request-origin';
import { RATE_LIMITED_ROUTE } from './rate-limit.decorator';

/**
 * @nestjs/throttler, applied only to routes marked with `@SessionCreationLimit` (the others are cheap or
 * limited elsewhere), with one budget per client shared by all of them. Clients are keyed by IP as Fastify sees it: `req.ip` honours X-Forwarded-For only
 * when TRUST_PROXY says so, so a client cannot pick its own bucket. Refusals become our 429 with
 * `Retry-After` and are counted in `tts_rate_limited_total`.
 */
@Injectable()
export class SessionThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    @InjectMetric(METRIC.rateLimitedTotal) private readonly rateLimited: Counter<string>,
  ) {
    super(options, storage, reflector);
  }

  /**
   * Unlimited (RATE_LIMIT_SESSIONS_PER_MINUTE=0 and no key limit) is skipped rather than counted: the
   * in-memory storage keeps one timestamp per hit and filters them all on every request.
   */
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    if (!this.routeLabel(context)) return true;
    for (const throttler of this.throttlers) {
      const limit = typeof throttler.limit === 'function' ? await throttler.limit(context) : throttler.limit;
      if (limit < Number.MAX_SAFE_INTEGER) return false;
    }
    return true;
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(clientOf(req as unknown as FastifyRequest));
  }

  /**
   * One budget per client across every limited route (session creation, `/file`, `/v1/audio/speech`): the
   * stock key includes the controller and handler, which would give each route its own bucket.
   */
  protected override generateKey(_context: ExecutionContext, suffix: string, name: string): string {
    return `synthesis:${name}:${suffix}`;
  }

  protected override throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    this.rateLimited.inc({ route: this.routeLabel(context) ?? 'unknown' });
    const retryAfterSeconds = Math.max(1, detail.timeToBlockExpire || detail.timeToExpire);
    throw new GatewayException(
      ErrorCode.RateLimited,
      `too many requests from this client (sessions, files and speech share one budget): the limit is ${detail.limit} per ${Math.round(detail.ttl / 1000)} s; retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds },
    );
  }

  private routeLabel(context: ExecutionContext): string | undefined {
    return this.reflector.get<string | undefined>(RATE_LIMITED_ROUTE, context.getHandler());
  }
}
