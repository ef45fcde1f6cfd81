import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { callerOf } from '../auth/caller';

/**
 * The bases for absolute URLs we hand back (`ws_url`, `file_url`): `PUBLIC_BASE_URL` when configured;
 * otherwise the request's host if it is a plain `hostname[:port]` (a `Host: evil.com/phish?x=` is not
 * copied into a link), with the scheme from `X-Forwarded-Proto` (it only changes the URL we print, never a
 * security decision); otherwise empty, which makes the URLs relative. Fastify's `req.host` reads
 * X-Forwarded-Host only when TRUST_PROXY allows.
 */
export interface PublicUrls {
  /** `https://host[:port][/base]`, or '' for relative URLs. */
  http: string;
  /** `wss://host[:port][/base]`, or '' for relative URLs. */
  ws: string;
}

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function publicUrls(req: FastifyRequest, publicBaseUrl: string | undefined): PublicUrls {
  if (publicBaseUrl) {
    return { http: publicBaseUrl, ws: publicBaseUrl.replace(/^http/, 'ws') };
  }
  const host = req.host;
  if (!host || !HOST.test(host)) return { http: '', ws: '' };
  const secure = isSecure(req.raw, req.protocol);
  return { http: `${secure ? 'https' : 'http'}://${host}`, ws: `${secure ? 'wss' : 'ws'}://${host}` };
}

function isSecure(raw: IncomingMessage, protocol: string): boolean {
  const forwarded = raw.headers['x-forwarded-proto'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  if (first) return first === 'https' || first === 'wss';
  return protocol === 'https';
}

/** Who is calling, for per-client caps, ownership and the breaker: `key:<name>` with API keys, else the IP. */
export function clientOf(req: FastifyRequest): string {
  return callerOf(req).id;
}
