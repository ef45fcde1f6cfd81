import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { ApiKeyPrincipal } from './api-keys.service';

/**
 * Who is calling: the key (by name, never the key itself) when API keys are configured, else the client's
 * IP address. `id` is what per-client limits, fairness caps, the breaker's attribution and session
 * ownership are keyed by.
 */
export interface Caller {
  /** `key:<name>` for a key, else the IP. */
  readonly id: string;
  readonly key?: ApiKeyPrincipal;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

/** Set on an upgrading WebSocket request by the adapter once it authenticated it. */
export type AuthenticatedUpgrade = IncomingMessage & { caller?: Caller };

export function keyCaller(key: ApiKeyPrincipal): Caller {
  return { id: `key:${key.name}`, key };
}

export function callerOf(req: FastifyRequest): Caller {
  return req.caller ?? { id: req.ip || 'unknown' };
}

/** The key name of a caller id (`key:alice` → `alice`), or undefined for an anonymous (IP) caller. */
export function keyNameOf(callerId: string): string | undefined {
  return callerId.startsWith('key:') ? callerId.slice(4) : undefined;
}

/** `Authorization: Bearer <key>` (case-insensitive scheme), or undefined. */
export function bearerOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match?.[1];
}
