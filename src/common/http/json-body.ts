import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors/error-codes';
import { GatewayException } from '../errors/gateway.exception';

/** Deeper than any request of this API; 20,000 `[` must not reach JSON.parse or the validator's recursion. */
export const MAX_JSON_DEPTH = 32;

/**
 * The API's only body type is JSON. Fastify's own parsers (and Nest's urlencoded one) are replaced by one
 * `application/json` parser, so a cross-site HTML form (`x-www-form-urlencoded`, `multipart`, `text/plain`)
 * cannot trigger a synthesis without a CORS preflight: other types get `415`. The parser refuses nesting
 * deeper than MAX_JSON_DEPTH with a 400 before parsing, accepts an empty body (a `DELETE` sent with a JSON
 * content type and nothing in it), and keeps Fastify's prototype-poisoning protection.
 */
export function registerJsonBodyParser(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      const depth = nestingDepth(text);
      if (depth > MAX_JSON_DEPTH) {
        return done(
          new GatewayException(
            ErrorCode.MalformedJson,
            `the JSON body nests ${depth > 1000 ? 'more than 1000' : depth} levels deep; the limit is ${MAX_JSON_DEPTH}`,
          ),
        );
      }
      try {
        done(null, secureParse(text));
      } catch (error) {
        done(
          new GatewayException(
            ErrorCode.MalformedJson,
            `malformed JSON body: ${error instanceof Error ? error.message : 'not JSON'}`,
          ),
        );
      }
    },
  );
}

/** Maximum bracket depth outside strings; stops counting past 1000. Linear, allocation-free. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > 1000) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** JSON.parse without `__proto__` / `constructor.prototype` keys (prototype poisoning). */
function secureParse(text: string): unknown {
  return JSON.parse(text, (key, value: unknown) => {
    if (key === '__proto__') throw new SyntaxError('"__proto__" is not allowed as a key');
    if (key === 'constructor' && value && typeof value === 'object' && 'prototype' in value)
      throw new SyntaxError('"constructor.prototype" is not allowed');
    return value;
  });
}
