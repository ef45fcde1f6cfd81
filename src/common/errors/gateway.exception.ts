import { ErrorCode, httpStatusOf } from './error-codes';

export interface GatewayErrorDetails {
  /** The request field at fault, e.g. `sample_rate_hz`. */
  field?: string;
  /** Values the field accepts, when the set is small enough to list. */
  allowed?: ReadonlyArray<string | number>;
  /** Seconds after which a retry may succeed (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  /**
   * The HTTP status, where the code's own ({@link httpStatusOf}) does not fit this case: `too_many_streams`
   * is 503 when the gateway is full, but 429 when the caller is over its own limit. The WebSocket close code
   * follows it (4000 + status).
   */
  status?: 429;
}

/**
 * The one domain exception of the gateway. Services throw it with a stable code; the HTTP filter and the
 * WebSocket gateway turn it into a response or an error frame. Messages are written for the person
 * reading them: say what was wrong and what is allowed.
 */
export class GatewayException extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: GatewayErrorDetails = {},
  ) {
    super(message);
    this.name = 'GatewayException';
  }

  get status(): number {
    return this.details.status ?? httpStatusOf(this.code);
  }

  /** The WebSocket close code: 4000 + the HTTP status, as for every error. */
  get wsCloseCode(): number {
    return 4000 + this.status;
  }

  static invalidField(field: string, message: string, allowed?: ReadonlyArray<string | number>) {
    return new GatewayException(ErrorCode.ValidationFailed, message, { field, allowed });
  }
}
