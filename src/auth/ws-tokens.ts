import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { appConfig } from '../config/configuration';
import { upgradeClientResolver } from '../common/upgrade-client';
import { TokenStore } from '../state/counters';
import { ApiKeysService } from './api-keys.service';
import { authConfig, type AuthConfig } from './auth.config';
import { bearerOf, keyCaller, type Caller } from './caller';

/**
 * WebSocket credentials. Browsers cannot set headers on a WebSocket, so besides `Authorization: Bearer`
 * the upgrade accepts `?token=`: a random 256-bit token, single use, expiring after WS_TOKEN_TTL_SECONDS,
 * bound to one session (the `ws_url` of a create or get) or to live-text sockets of one key
 * (`POST /v1/tts/live/token`), and useless for anything else.
 */
@Injectable()
export class WsTokens {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly store: TokenStore,
    @Inject(authConfig.KEY) private readonly config: AuthConfig,
    @Inject(appConfig.KEY) app: ConfigType<typeof appConfig>,
  ) {
    this.clientOf = upgradeClientResolver(app.trustProxy);
  }

  private readonly clientOf: (request: IncomingMessage) => string;

  get enabled(): boolean {
    return this.keys.enabled;
  }

  get ttlSeconds(): number {
    return this.config.wsTokenTtlSeconds;
  }

  /** A token for one session's stream; undefined when keys are off (the URL then carries none). */
  forSession(sessionId: string, caller: Caller): Promise<string | undefined> {
    return this.issue(caller, { kind: 'stream', sessionId });
  }

  /** A token for live-text sockets of the caller's key; undefined when keys are off. */
  forLive(caller: Caller): Promise<string | undefined> {
    return this.issue(caller, { kind: 'live' });
  }

  private async issue(
    caller: Caller,
    target: { kind: 'stream'; sessionId: string } | { kind: 'live' },
  ): Promise<string | undefined> {
    if (!this.keys.enabled || !caller.key) return undefined;
    const token = randomBytes(32).toString('base64url');
    await this.store.put(
      token,
      { ...target, callerId: caller.id, keyName: caller.key.name },
      this.ttlSeconds,
    );
    return token;
  }

  /**
   * The caller of an upgrade request to `kind` (for `stream`, to session `sessionId`), from its bearer
   * header or its token; undefined when neither is valid. With keys off, everyone is their address, as
   * `req.ip` would give it under TRUST_PROXY (so caps and budgets behind a proxy are per client).
   */
  async authenticate(
    request: IncomingMessage,
    target: { kind: 'stream' | 'live'; sessionId?: string },
  ): Promise<Caller | undefined> {
    if (!this.keys.enabled) return { id: this.clientOf(request) };
    const key = this.keys.verify(bearerOf(request.headers.authorization));
    if (key) return keyCaller(key);
    const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
    if (!token) return undefined;
    const record = await this.store.consume(token);
    if (!record || record.kind !== target.kind) return undefined;
    if (target.kind === 'stream' && record.sessionId !== target.sessionId) return undefined;
    const principal = this.keys.limitsOf(record.keyName);
    if (!principal) return undefined; // the key was removed since
    return { id: record.callerId, key: { name: record.keyName, admin: false, limits: principal } };
  }
}
