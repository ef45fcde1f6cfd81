import {
  ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  UnsupportedCapabilityError,
} from '../../providers/provider.contract';
import { ErrorCode } from './error-codes';
import { GatewayException } from './gateway.exception';

/**
 * Maps anything thrown on the audio path to the exception a client sees. Engine messages are passed on
 * (they name the engine and what failed, and engines must not put secrets in them); anything unexpected
 * becomes a generic internal_error whose details stay in the log.
 */
export function toGatewayException(error: unknown): GatewayException {
  if (error instanceof GatewayException) return error;
  if (error instanceof ProviderUnavailableError) {
    return new GatewayException(ErrorCode.ProviderUnavailable, error.message, {
      retryAfterSeconds: error.retryAfterSeconds,
    });
  }
  if (error instanceof ProviderTimeoutError)
    return new GatewayException(ErrorCode.ProviderTimeout, error.message);
  if (error instanceof UnsupportedCapabilityError)
    return new GatewayException(ErrorCode.ValidationFailed, error.message);
  if (error instanceof ProviderError) return new GatewayException(ErrorCode.ProviderError, error.message);
  return new GatewayException(ErrorCode.InternalError, 'internal error; the gateway logged the details');
}
