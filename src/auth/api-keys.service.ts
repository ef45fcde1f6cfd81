import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { extname } from 'node:path';
import { authConfig, type AuthConfig } from './auth.config';

/** What a key may do; every limit is optional (absent = the gateway-wide default). */
export interface KeyLimits {
  sessionsPerMinute?: number;
  charsPerMinute?: number;
  maxConcurrentStreams?: number;
  maxTextChars?: number;
  /** Providers it may use; absent = all. */
  providers?: readonly string[];
  /** Voice ids it may use; absent = all. */
  voices?: readonly string[];
}

/** An authenticated caller: a key's name (never the key), its limits and whether it is an admin. */
export interface ApiKeyPrincipal {
  name: string;
  admin: boolean;
  limits: KeyLimits;
}

interface KeyEntry extends ApiKeyPrincipal {
  /** HMAC-SHA256(process pepper, SHA-256(key)): what is kept in memory. */
  digest: Buffer;
}

/** One entry of API_KEYS_FILE (JSON, or YAML by extension). */
interface KeyFileEntry {
  name?: unknown;
  key?: unknown;
  key_sha256?: unknown;
  admin?: unknown;
  sessions_per_minute?: unknown;
  chars_per_minute?: unknown;
  max_concurrent_streams?: unknown;
  max_text_chars?: unknown;
  providers?: unknown;
  voices?: unknown;
}

/**
 * The API keys the gateway accepts, from API_KEYS_FILE (reloaded without a restart when the file changes)
 * and API_KEYS (quick start: plaintext, names key-1, key-2, …); the union applies. No key configured =
 * the gateway is open (the embedded default).
 *
 * Hashing: API keys are long random secrets, not passwords, so a slow hash (scrypt, argon2) buys nothing
 * against guessing and would cost every request CPU (a denial-of-service lever). Keys are hashed with
 * SHA-256 — the file may give that hash (`key_sha256`) instead of the key — and kept only as an HMAC of it
 * under a random per-process pepper (a keyed hash: a memory dump holds nothing that verifies elsewhere).
 * Lookup is by digest, and the match is confirmed with a constant-time comparison. Keys are never logged;
 * errors name the entry by its `name` or position.
 */
@Injectable()
export class ApiKeysService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ApiKeys');
  private readonly pepper = randomBytes(32);
  private fromFile: KeyEntry[] = [];
  private readonly fromEnv: KeyEntry[];
  private byDigest = new Map<string, KeyEntry>();
  /** The limits per key name (the first entry of a name, as listed). */
  private limitsByName = new Map<string, KeyLimits>();

  constructor(@Inject(authConfig.KEY) private readonly config: AuthConfig) {
    this.fromEnv = config.keys.map((key, i) => {
      this.warnIfShort(key, `API_KEYS key-${i + 1}`);
      return this.entry({ name: `key-${i + 1}`, admin: false, limits: {} }, sha256(key));
    });
  }

  /** Whether any key is configured: then every /v1 route requires one. */
  get enabled(): boolean {
    return this.byDigest.size > 0 || this.config.file !== undefined;
  }

  onModuleInit(): void {
    if (this.config.file) {
      // Throws at start: a key file that cannot be read must stop the process, naming the variable.
      this.fromFile = this.load(this.config.file);
      watchFile(this.config.file, { interval: 1000, persistent: false }, () => this.reload());
    }
    this.index();
  }

  onModuleDestroy(): void {
    if (this.config.file) unwatchFile(this.config.file);
  }

  /** The principal of a presented key, or undefined. Constant-time in the comparison that decides. */
  verify(presented: string | undefined): ApiKeyPrincipal | undefined {
    if (!presented) return undefined;
    const digest = this.digestOf(sha256(presented));
    const entry = this.byDigest.get(digest.toString('base64'));
    if (!entry || !timingSafeEqual(entry.digest, digest)) return undefined;
    return { name: entry.name, admin: entry.admin, limits: entry.limits };
  }

  /** The limits of a key by name (for streams that start later, from the session's owner). */
  limitsOf(name: string): KeyLimits | undefined {
    return this.limitsByName.get(name);
  }

  names(): string[] {
    return [...this.limitsByName.keys()];
  }

  private reload(): void {
    try {
      this.fromFile = this.load(this.config.file as string);
      this.index();
      this.logger.log(`reloaded API_KEYS_FILE: ${this.fromFile.length} keys`);
    } catch (error) {
      // Keep serving with the keys we had: a half-written file must not lock everyone out.
      this.logger.error(`API_KEYS_FILE not reloaded, keeping the previous keys: ${(error as Error).message}`);
    }
  }

  private index(): void {
    const map = new Map<string, KeyEntry>();
    for (const entry of [...this.fromEnv, ...this.fromFile]) map.set(entry.digest.toString('base64'), entry);
    const byName = new Map<string, KeyLimits>();
    for (const entry of map.values()) if (!byName.has(entry.name)) byName.set(entry.name, entry.limits);
    this.byDigest = map;
    this.limitsByName = byName;
  }

  private load(path: string): KeyEntry[] {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(
        `API_KEYS_FILE="${path}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
    let parsed: unknown;
    try {
      parsed = yaml ? parseYaml(text) : JSON.parse(text);
    } catch (error) {
      throw new Error(
        `API_KEYS_FILE="${path}" is not valid ${yaml ? 'YAML' : 'JSON'}${whereParseFailed(error, text, yaml)}`,
      );
    }
    const keys = (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error(`API_KEYS_FILE="${path}" must hold {"keys": [...]}`);
    return keys.map((raw: KeyFileEntry, i) => this.fromFileEntry(raw, i, path));
  }

  private fromFileEntry(raw: KeyFileEntry, index: number, path: string): KeyEntry {
    const where = `API_KEYS_FILE="${path}" keys[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${where} must be an object`);
    const name = typeof raw.name === 'string' && raw.name.trim() ? raw.name.trim() : undefined;
    if (!name || !/^[\w.@-]{1,64}$/.test(name))
      throw new Error(`${where}: "name" must be 1..64 letters, digits, . _ - @`);
    let hash: Buffer;
    if (typeof raw.key === 'string' && raw.key.length > 0) {
      this.warnIfShort(raw.key, `${where} (${name})`);
      hash = sha256(raw.key);
    } else if (typeof raw.key_sha256 === 'string' && /^[0-9a-f]{64}$/i.test(raw.key_sha256))
      hash = Buffer.from(raw.key_sha256, 'hex');
    else throw new Error(`${where} (${name}): give "key" (the key) or "key_sha256" (64 hex digits)`);
    const count = (field: keyof KeyFileEntry): number | undefined => {
      const value = raw[field];
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
        throw new Error(`${where} (${name}): "${field}" must be a non-negative integer`);
      return value;
    };
    const list = (field: 'providers' | 'voices'): string[] | undefined => {
      const value = raw[field];
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new Error(`${where} (${name}): "${field}" must be a list of strings`);
      return value;
    };
    return this.entry(
      {
        name,
        admin: raw.admin === true,
        limits: {
          sessionsPerMinute: count('sessions_per_minute'),
          charsPerMinute: count('chars_per_minute'),
          maxConcurrentStreams: count('max_concurrent_streams'),
          maxTextChars: count('max_text_chars'),
          providers: list('providers'),
          voices: list('voices'),
        },
      },
      hash,
    );
  }

  /**
   * Any non-empty key is accepted (a deployment may have its own key format), but a short one is easy to
   * guess: say so at start and on reload, naming the entry, never the key.
   */
  private warnIfShort(key: string, where: string): void {
    if (key.length < RECOMMENDED_KEY_CHARS)
      this.logger.warn(
        `${where}: the key is shorter than ${RECOMMENDED_KEY_CHARS} characters; use long random keys (e.g. openssl rand -hex 24)`,
      );
  }

  private entry(principal: ApiKeyPrincipal, keySha256: Buffer): KeyEntry {
    return { ...principal, digest: this.digestOf(keySha256) };
  }

  private digestOf(keySha256: Buffer): Buffer {
    return createHmac('sha256', this.pepper).update(keySha256).digest();
  }
}

/** Shorter keys are accepted with a warning. */
const RECOMMENDED_KEY_CHARS = 16;

/**
 * Where a key file failed to parse, as line and column — never the parser's own message, which quotes the
 * text around the error (Node 22+'s JSON.parse, the yaml package), and that text can be part of a key.
 */
function whereParseFailed(error: unknown, text: string, yaml: boolean): string {
  if (yaml) {
    const linePos = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    return linePos ? ` at line ${linePos.line}, column ${linePos.col}` : '';
  }
  const message = error instanceof Error ? error.message : '';
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return ` at line ${lineColumn[1]}, column ${lineColumn[2]}`;
  const position = /at position (\d+)/.exec(message);
  if (!position) return text.trim() === '' ? ': the file is empty' : '';
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The YAML parser, loaded only for a `.yaml` keys file (about 0.5 MiB of heap a gateway without one need not hold). */
function parseYaml(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('yaml') as typeof import('yaml')).parse(text);
}
