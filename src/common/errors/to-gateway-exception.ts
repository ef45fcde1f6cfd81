import {
  ProviderBusyError,
  ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  UnsupportedCapabilityError,
} from '../../providers/provider.contract';
import { ErrorCode } from './error-codes';
import { GatewayException } from './gateway.exception';

/**
 * Maps anything thrown on the audio path to the exception a client sees. Engine failures become a category
 * ("provider "openai" answered HTTP 500", "... timed out") — never the upstream's body, URL, host or stack,
 * which only the log gets (`internalDetail`). Anything unexpected becomes a generic internal_error.
 */
export function toGatewayException(error: unknown): GatewayException {
  if (error instanceof GatewayException) return error;
  if (error instanceof ProviderUnavailableError) {
    return new GatewayException(ErrorCode.ProviderUnavailable, error.publicReason, {
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  if (error instanceof ProviderBusyError) {
    return new GatewayException(ErrorCode.ProviderBusy, error.publicReason, { retryAfterSeconds: 1 });
  }
  if (error instanceof ProviderTimeoutError)
    return new GatewayException(
      ErrorCode.ProviderTimeout,
      `provider "${error.providerId}" ${error.publicReason}`,
    );
  if (error instanceof UnsupportedCapabilityError)
    return new GatewayException(ErrorCode.ValidationFailed, error.publicReason);
  if (error instanceof ProviderError)
    return new GatewayException(
      ErrorCode.ProviderError,
      `provider "${error.providerId}" ${error.publicReason}`,
    );
  return new GatewayException(ErrorCode.InternalError, 'internal error; the gateway logged the details');
}

/** What the log (and only the log) should say about an error: the full engine message and its cause. */
export function internalDetail(error: unknown): string | undefined {
  if (error instanceof GatewayException) return undefined;
  if (error instanceof Error) return error.message;
  return String(error);
}
