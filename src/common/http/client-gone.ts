import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '../errors/error-codes';
import { GatewayException } from '../errors/gateway.exception';

/**
 * A signal that aborts when the request's connection closes, for the synthesis serving it. Its reason is
 * `cancelled` (HTTP 499, nginx's "client closed request"): a client that leaves is not a server failure,
 * so it is neither logged as an internal error nor counted as a 500, and the run ends as `cancelled`.
 */
export function clientGoneSignal(request: IncomingMessage): AbortSignal {
  const clientGone = new AbortController();
  request.once('close', () =>
    clientGone.abort(new GatewayException(ErrorCode.Cancelled, 'the client closed the connection')),
  );
  return clientGone.signal;
}
