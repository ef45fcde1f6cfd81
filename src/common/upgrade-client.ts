import proxyAddr from '@fastify/proxy-addr';
import type { IncomingMessage } from 'node:http';

export type TrustProxy = boolean | number | string[];

/**
 * Who is calling on a WebSocket upgrade, by the rule `clientOf` applies to HTTP requests: the address
 * Fastify would report as `req.ip` under the same TRUST_PROXY (the upgrade never reaches Fastify, so its
 * `req.ip` is not available here). Without trust the socket peer is the client; with it, X-Forwarded-For is
 * walked from the nearest hop back through trusted proxies, exactly as Fastify does with `@fastify/proxy-addr`.
 */
export function clientOfUpgrade(request: IncomingMessage, trustProxy: TrustProxy): string {
  const peer = request.socket.remoteAddress ?? 'unknown';
  if (trustProxy === false) return peer;
  const trust =
    trustProxy === true
      ? () => true
      : typeof trustProxy === 'number'
        ? (_address: string, hop: number) => hop < trustProxy
        : proxyAddr.compile(trustProxy);
  try {
    return proxyAddr(request, trust) || peer;
  } catch {
    // A malformed X-Forwarded-For or trust entry: fall back to the peer rather than fail the upgrade.
    return peer;
  }
}
