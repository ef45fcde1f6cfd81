import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { ProviderId } from '../providers/provider.contract';
import type { ProviderRegistry } from '../providers/provider.registry';
import type { ProviderResilienceService } from './provider-resilience.service';

export interface AvailabilitySources {
  readonly registry: ProviderRegistry;
  readonly resilience: ProviderResilienceService;
}

/**
 * Refuses a synthesis (session, live context) that nobody can serve: its provider's circuit is open or its
 * health check fails, and so does every fallback's. One that a fallback can serve is accepted (it fails
 * over before its first audio). `503 provider_unavailable` naming the provider, with `Retry-After`.
 */
export async function assertSomeoneCanServe(
  sources: AvailabilitySources,
  primary: ProviderId,
  fallbacks: readonly ProviderId[],
): Promise<void> {
  const problem = await unavailability(sources, primary);
  if (!problem) return;
  for (const fallback of fallbacks) if (!(await unavailability(sources, fallback))) return;
  throw new GatewayException(
    ErrorCode.ProviderUnavailable,
    `${problem.message}${fallbacks.length > 0 ? ', and none of its fallback_providers is available' : '; add fallback_providers or choose another provider'}`,
    { field: 'provider', retryAfterSeconds: problem.retryAfterSeconds },
  );
}

async function unavailability(
  { registry, resilience }: AvailabilitySources,
  providerId: ProviderId,
): Promise<{ message: string; retryAfterSeconds: number } | undefined> {
  const retryAfter = resilience.retryAfterSeconds(providerId);
  if (retryAfter !== undefined) {
    return {
      message: `provider "${providerId}" is temporarily unavailable after repeated failures; retry in ${retryAfter} s`,
      retryAfterSeconds: retryAfter,
    };
  }
  const health = await registry.checkHealth(providerId);
  if (!health.up) {
    return {
      message: `provider "${providerId}" is unavailable: ${health.reason ?? 'health check failed'}`,
      retryAfterSeconds: 30,
    };
  }
  return undefined;
}
