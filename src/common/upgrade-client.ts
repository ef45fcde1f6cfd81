import proxyAddr from '@fastify/proxy-addr';
import type { IncomingMessage } from 'node:http';

export type TrustProxy = boolean | number | string[];

/**
 * Who is calling on a WebSocket upgrade, by the rule `clientOf` applies to HTTP requests: the address
 * Fastify would report as `req.ip` under the same TRUST_PROXY (the upgrade never reaches Fastify, so its
 * `req.ip` is not available here). Without trust the socket peer is the client; with it, X-Forwarded-For is
 * walked from the nearest hop back through trusted proxies, exactly as Fastify does with `@fastify/proxy-addr`.
 * Returns the resolver for one TRUST_PROXY setting.
 */
export function upgradeClientResolver(trustProxy: TrustProxy): (request: IncomingMessage) => string {
  const peerOf = (request: IncomingMessage) => request.socket.remoteAddress ?? 'unknown';
  if (trustProxy === false) return peerOf;
  // Compiled once: the trust list is parsed here, not on every upgrade.
  const trust =
    trustProxy === true
      ? () => true
      : typeof trustProxy === 'number'
        ? (_address: string, hop: number) => hop < trustProxy
        : proxyAddr.compile(trustProxy);
  return (request) => {
    const peer = peerOf(request);
    try {
      return proxyAddr(request, trust) || peer;
    } catch {
      // A malformed X-Forwarded-For or trust entry: fall back to the peer rather than fail the upgrade.
      return peer;
    }
  };
}
