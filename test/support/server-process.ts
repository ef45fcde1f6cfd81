import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { START_NODE_FLAGS } from './start-command';

export const MAIN = process.env.GATEWAY_MAIN ?? join(__dirname, '..', '..', 'dist', 'main.js');

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams;
  /** Every stdout/stderr line so far. */
  lines: string[];
  /** Lines that are JSON log records, parsed. */
  json(): any[];
  exited: Promise<number | null>;
  baseUrl: string;
  port: number;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node [START_NODE_FLAGS] dist/main.js` (what `npm run start:prod` runs) on a free port with a mock-only default
 * environment plus `env`, and collects its output lines. Call `ready()` before using it.
 */
export async function startServer(env: Record<string, string> = {}): Promise<ServerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [...START_NODE_FLAGS, MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PROVIDERS: 'mock_tone',
      LOG_LEVEL: 'warn',
      CACHE_MAX_BYTES: '0',
      ...env,
      PORT: String(port),
    },
  });
  const lines: string[] = [];
  let buffered = '';
  const collect = (data: Buffer) => {
    buffered += data.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const json = () =>
    lines
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return undefined;
        }
      })
      .filter(Boolean);
  return {
    child,
    lines,
    json,
    exited,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Waits until the server answers /healthz (or exits, which fails with its output). */
export async function untilReady(server: ServerProcess, ms = 15000): Promise<void> {
  let exited = false;
  void server.exited.then(() => (exited = true));
  await waitFor(async () => {
    if (exited) throw new Error(`server exited:\n${server.lines.join('\n')}`);
    return (await fetch(`${server.baseUrl}/healthz`)).ok;
  }, ms);
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await predicate()) return;
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('server exited')) throw error;
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `condition not met in ${ms} ms${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}
