import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';

/**
 * Host and scheme the client used, for the absolute URLs we hand back (`ws_url`). `X-Forwarded-Proto` is
 * honoured as the contract asks (it only changes the URL we print, never a security decision); the host is
 * Fastify's, which reads X-Forwarded-Host only when TRUST_PROXY allows.
 */
export function requestOrigin(req: FastifyRequest): { host: string; secure: boolean } {
  return { host: req.host || 'localhost', secure: isSecure(req.raw, req.protocol) };
}

function isSecure(raw: IncomingMessage, protocol: string): boolean {
  const forwarded = raw.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  if (first) return first === 'https' || first === 'wss';
  return protocol === 'https';
}
