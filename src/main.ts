import { ConfigService } from '@nestjs/config';
import { createApp } from './app.factory';
import type { GatewayConfig } from './config/configuration';

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
}

bootstrap().catch((error: unknown) => {
  // Configuration errors name the variable; print them plainly, not as a stack trace.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
