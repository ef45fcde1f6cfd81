// First, before any other module loads: keeps start-up from growing the heap it would then hold at rest.
import { settleHeapAfterStartup } from './common/heap-at-rest';
// Second: loads @nestjs/common without building its ICU date formatters (~8 MiB at rest).
import './common/deferred-date-format';
import { ConfigService } from '@nestjs/config';
import { PinoLogger } from 'nestjs-pino';
import { createApp } from './app.factory';
import type { GatewayConfig } from './config/configuration';
import { ShutdownState } from './health/shutdown.state';
import { ProviderRegistry } from './providers/provider.registry';
import { LiveGateway } from './live/live.gateway';
import { SessionStreams } from './sessions/session-streams';

/** Time for app.close() after the drain (sockets, codec threads, child processes). */
const CLOSE_MARGIN_MS = 10_000;
/** After the drain, how long app.close() may wait for open HTTP connections before they are closed. */
const CONNECTIONS_GRACE_MS = 2_000;

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const config = app.get(ConfigService<GatewayConfig, true>);
  const { port, host, shutdownDrainSeconds } = config.getOrThrow('app', { infer: true });
  const log = await app.resolve(PinoLogger);
  log.setContext('Gateway');

  // Graceful drain (our own signal handling instead of enableShutdownHooks, which re-raises the signal so
  // the process ends "killed" rather than with exit code 0): readiness turns 503 and new sessions get
  // `shutting_down` at once, while the HTTP server keeps answering; running streams may finish for
  // SHUTDOWN_DRAIN_SECONDS; what still runs then ends with `shutting_down` (4503); then the app closes and
  // the process exits 0. A close that hangs is cut short.
  const shutdown = (signal: NodeJS.Signals) => {
    const force = setTimeout(() => process.exit(1), shutdownDrainSeconds * 1000 + CLOSE_MARGIN_MS).unref();
    const streams = app.get(SessionStreams);
    log.info({ signal, runningStreams: streams.size, drainSeconds: shutdownDrainSeconds }, 'draining');
    app.get(ShutdownState).beginDrain();
    const deadline = performance.now() + shutdownDrainSeconds * 1000;
    Promise.all([streams.drain(deadline), app.get(LiveGateway).drain(deadline)])
      .then(() => {
        // The HTTP server's close waits for every connection it does not count as idle, and a connection
        // on which no request was ever sent is not idle (no request finished on it) nor timed out (no
        // request started): a browser's preconnect, or one a test client opened and never used (caught in
        // the /file tests: 0 bytes read, no request). It would hold the exit until the forced one. Past a
        // short grace, what is still connected is closed (test/drain.e2e-spec.ts).
        const server = app.getHttpServer();
        setTimeout(() => server.closeAllConnections(), CONNECTIONS_GRACE_MS).unref();
        return app.close();
      })
      .then(
        () => {
          clearTimeout(force);
          process.exit(0);
        },
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
  };
  // Before the server listens and says so: a signal the OS delivers before a handler is registered takes
  // its default action (the process ends killed by SIGTERM, not drained with exit code 0). Seen in tests on
  // a loaded machine, where a SIGTERM sent on the startup line could arrive before these lines ran.
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  await app.listen(port, host);
  await logStartup(
    app.get(ProviderRegistry),
    `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`,
    log,
  );
  // Last: the signal handlers are in place before the collection (tens of ms) runs.
  settleHeapAfterStartup();
}

/** One line that says where the gateway listens and which providers it serves, with their state. */
async function logStartup(registry: ProviderRegistry, url: string, log: PinoLogger): Promise<void> {
  const providers = await Promise.all(
    registry.ids().map(async (id) => {
      const health = await registry.checkHealth(id);
      return health.up ? `${id} (up)` : `${id} (down: ${health.reason ?? 'unknown'})`;
    }),
  );
  const defaultProvider = await registry.defaultProviderId();
  log.info(
    { url, providers: registry.ids(), defaultProvider },
    `TTS gateway listening on ${url}; providers: ${providers.join(', ')}; default ${defaultProvider}; demo at ${url}/, docs at ${url}/docs`,
  );
}

bootstrap().catch((error: unknown) => {
  // Configuration errors name the variable; print them plainly, not as a stack trace.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
