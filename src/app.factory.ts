import fastifyStatic from '@fastify/static';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppModule } from './app.module';
import { appConfig, limitsConfig, type GatewayConfig } from './config/configuration';
import { validateEnv } from './config/env.validation';
import { StreamWsAdapter } from './streaming/stream-ws.adapter';

export const FRONTEND_DIST = join(__dirname, '..', 'frontend', 'dist');

/**
 * Builds the application exactly as production runs it (Fastify, WS adapter, validation, filters, docs,
 * static demo), without listening. `main.ts` listens on HOST:PORT; e2e tests listen on port 0.
 */
export async function createApp(): Promise<NestFastifyApplication> {
  // Fastify options are needed before Nest's config exists: validate the environment here first, so a bad
  // value stops the process with a message naming the variable.
  validateEnv(process.env);
  const app0 = appConfig();
  const limits = limitsConfig();
  const adapter = new FastifyAdapter({
    trustProxy: app0.trustProxy,
    // A request body never needs more than the text limit (JSON-escaped) plus the other fields.
    bodyLimit: Math.max(app0.bodyLimitBytes, limits.maxTextBytes * 2 + 4096),
    // Slowloris: drop connections that dribble headers or bodies.
    requestTimeout: 30_000,
    connectionTimeout: 0,
    return503OnClosing: true,
  });

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(), adapter, {
    bufferLogs: true,
    // Let start-up errors (bad provider settings) reach the caller instead of exiting inside Nest.
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  const config = app.get(ConfigService<GatewayConfig, true>);
  const { corsOrigins } = config.getOrThrow('app', { infer: true });
  const streaming = config.getOrThrow('streaming', { infer: true });

  if (corsOrigins.length > 0) {
    app.enableCors({
      origin: corsOrigins.includes('*') ? true : corsOrigins,
      exposedHeaders: ['Retry-After'],
    });
  }
  app.useWebSocketAdapter(
    new StreamWsAdapter(app, { maxPayloadBytes: streaming.maxPayloadBytes, allowedOrigins: corsOrigins }),
  );

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('TTS gateway')
      .setDescription(
        'Create a session over REST, then receive the speech over `WS /v1/tts/stream/{session_id}` ' +
          '(JSON frames `{"type":"audio","seq":N,"data":"<base64>"}` then `{"type":"eos"}`; `?binary=1` for raw binary audio frames).',
      )
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  await serveFrontend(app);
  return app;
}

async function serveFrontend(app: NestFastifyApplication): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  if (existsSync(join(FRONTEND_DIST, 'index.html'))) {
    await fastify.register(fastifyStatic, {
      root: FRONTEND_DIST,
      prefix: '/',
      decorateReply: false,
      wildcard: false,
    });
    return;
  }
  fastify.get('/', (_req, reply) => {
    void reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><title>TTS gateway</title><p>The demo is not built. Run <code>npm run build</code>. API docs: <a href="/docs">/docs</a></p>',
      );
  });
}
