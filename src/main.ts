import { ConfigService } from '@nestjs/config';
import { createApp } from './app.factory';
import type { GatewayConfig } from './config/configuration';

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function bootstrap(): Promise<void> {
  const app = await createApp();
  const { port, host, redisUrl } = app
    .get(ConfigService<GatewayConfig, true>)
    .getOrThrow('app', { infer: true });
  if (redisUrl) {
    app
      .getHttpAdapter()
      .getInstance()
      .log.warn('REDIS_URL is set, but this version keeps sessions and limits in process; run one replica');
  }
  await app.listen(port, host);

  // Our own signal handling instead of enableShutdownHooks (which re-raises the signal, so the process ends
  // "killed" rather than with exit code 0): close runs the shutdown hooks (readiness 503, streams end with
  // `shutting_down`), then exit cleanly; a close that hangs is cut short well inside Kubernetes' 30 s grace.
  const shutdown = (signal: NodeJS.Signals) => {
    const force = setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    app.getHttpAdapter().getInstance().log.info({ signal }, 'shutting down');
    app.close().then(
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
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

bootstrap().catch((error: unknown) => {
  // Configuration errors name the variable; print them plainly, not as a stack trace.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
