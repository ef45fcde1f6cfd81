import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort, waitFor } from './server-process';

export interface RedisServer {
  port: number;
  url: string;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered — a hung Redis. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /** Runs `redis-cli` against it and returns the trimmed reply. */
  cli(...args: string[]): string;
}

/**
 * A real Debian `redis-server` on a free port, in memory only (no RDB/AOF), for the tests that need shared
 * state. Installed by scripts/install-system-deps.sh; a missing binary fails with the fix in the message.
 */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const failed = new Promise<never>((_, reject) =>
      child!.once('error', (e) =>
        reject(
          new Error(
            `redis-server could not start (${e.message}): run bash scripts/install-system-deps.sh --with-test-deps`,
          ),
        ),
      ),
    );
    await Promise.race([failed, waitFor(() => canConnect(port), 5000)]);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  const signal = (name: NodeJS.Signals) => {
    if (child && child.exitCode === null) child.kill(name);
  };
  const stopAndContinue = async () => {
    // A stopped process does not act on SIGTERM until it runs again.
    signal('SIGCONT');
    await stop();
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: stopAndContinue,
    start,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    cli: (...args) =>
      execFileSync('redis-cli', ['-p', String(port), ...args])
        .toString()
        .trim(),
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
