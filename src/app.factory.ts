import fastifyStatic from '@fastify/static';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AppModule } from './app.module';
import { appConfig, limitsConfig, type GatewayConfig } from './config/configuration';
import { validateEnv } from './config/env.validation';
import { registerJsonBodyParser } from './common/http/json-body';
import { closeSilentConnections } from './common/http/silent-connections';
import { QuietNestLogger } from './common/quiet-nest-logger';
import { countHttpRequests } from './metrics/http-metrics';
import { ASYNCAPI_DOCUMENT } from './streaming/asyncapi';
import { WsTokens } from './auth/ws-tokens';
import { StreamWsAdapter } from './streaming/stream-ws.adapter';
import { STREAM_PATH } from './streaming/streaming.gateway';

export const FRONTEND_DIST = join(__dirname, '..', 'frontend', 'dist');

/** A request's headers and body must arrive within this long. */
const REQUEST_TIMEOUT_MS = 30_000;

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
    // Slowloris: drop connections that dribble headers or bodies (408; Node checks every 30 s).
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: 0,
    return503OnClosing: true,
  });

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(), adapter, {
    bufferLogs: true,
    // Let start-up errors (bad provider settings) reach the caller instead of exiting inside Nest, and
    // without Nest's own stack trace before our message.
    abortOnError: false,
    logger: false,
    // Our own JSON-only parser below (Nest would add urlencoded).
    bodyParser: false,
  });
  app.useLogger(new QuietNestLogger(app.get(Logger)));
  // Node's headers timeout (60 s) outlasts the request timeout for headers that never end: the same 30 s.
  app.getHttpServer().headersTimeout = REQUEST_TIMEOUT_MS;
  closeSilentConnections(app.getHttpServer(), app0.silentConnectionTimeoutMs);
  const config = app.get(ConfigService<GatewayConfig, true>);
  const { corsOrigins, publicBaseUrl } = config.getOrThrow('app', { infer: true });
  const streaming = config.getOrThrow('streaming', { infer: true });
  const fastify = app.getHttpAdapter().getInstance();
  registerJsonBodyParser(fastify);
  countHttpRequests(app);

  if (corsOrigins.length > 0) {
    app.enableCors({
      origin: corsOrigins.includes('*') ? true : corsOrigins,
      exposedHeaders: ['Retry-After'],
    });
  }
  const tokens = app.get(WsTokens);
  app.useWebSocketAdapter(
    new StreamWsAdapter(app, {
      maxPayloadBytes: streaming.maxPayloadBytes,
      allowedOrigins: corsOrigins,
      publicOrigin: publicBaseUrl ? new URL(publicBaseUrl).origin : undefined,
      authenticate: (request, pathname) => {
        if (pathname.startsWith(`${STREAM_PATH}/`)) {
          return tokens.authenticate(request, { kind: 'stream', sessionId: safeSessionId(pathname) });
        }
        return tokens.authenticate(request, { kind: 'live' });
      },
    }),
  );

  // Built on the first request for it, not at start-up: the document and the scan behind it are memory an
  // idle gateway would otherwise hold for a page most replicas never serve.
  let document: OpenAPIObject | undefined;
  const openApiDocument = (): OpenAPIObject => (document ??= buildOpenApiDocument(app, publicBaseUrl));
  SwaggerModule.setup('docs', app, openApiDocument, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
  fastify.get('/docs/asyncapi.json', (_req, reply) => {
    void reply.type('application/json').send(ASYNCAPI_DOCUMENT);
  });

  await serveFrontend(app);
  return app;
}

/** The session id of a stream path, decoded when it is valid percent-encoding. */
function safeSessionId(pathname: string): string {
  const raw = pathname.slice(STREAM_PATH.length + 1).replace(/\/+$/, '');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function buildOpenApiDocument(app: NestFastifyApplication, publicBaseUrl: string | undefined): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, openApiConfig(publicBaseUrl), {
    operationIdFactory: (_controller, method) => method,
  });
  // Probes stay open for Kubernetes: no security on them.
  for (const path of ['/healthz', '/readyz']) {
    const get = document.paths[path]?.get;
    if (get) get.security = [];
  }
  errorsAsJson(document);
  return document;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * Every error answer is JSON, whatever a route sends on success: `@ApiProduces` would list a route's error
 * responses under its success types too (text/plain on /metrics), so they are put back under JSON.
 */
function errorsAsJson(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const method of HTTP_METHODS) {
      for (const [status, response] of Object.entries(item[method]?.responses ?? {})) {
        if (!/^[45]/.test(status) || !response || !('content' in response) || !response.content) continue;
        const media = Object.values(response.content);
        if (media.length > 0 && !response.content['application/json'])
          response.content = { 'application/json': media[0] };
      }
    }
  }
}

function openApiConfig(publicBaseUrl: string | undefined) {
  const builder = new DocumentBuilder()
    .setTitle('TTS gateway')
    .setDescription(
      'Create a session over REST, then receive the speech over `WS /v1/tts/stream/{session_id}` ' +
        '(JSON frames `{"type":"audio","seq":N,"data":"<base64>"}` then `{"type":"eos"}`; `?binary=1` for raw binary audio frames; `?from_seq=N` to resume). ' +
        'Voice agents stream text in over `WS /v1/tts/live`. Both WebSocket protocols are described in the AsyncAPI document at [/docs/asyncapi.json](/docs/asyncapi.json). ' +
        'Also OpenAI-compatible: `POST /v1/audio/speech`, `GET /v1/models`, `GET /v1/audio/voices`.',
    )
    .setVersion('1')
    .addServer(publicBaseUrl ?? '/', publicBaseUrl ? 'This gateway' : 'The gateway serving this page')
    .addTag('sessions', 'Create, inspect, cancel sessions; fetch the whole file')
    .addTag('voices', 'Voice catalog')
    .addTag('providers', 'Engines and their health')
    .addTag('openai-compatible', "OpenAI's speech API")
    .addTag('operations', 'Probes and metrics')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description:
          "An API key, when the gateway is configured with API_KEYS or API_KEYS_FILE (the OpenAI SDK's `apiKey`). Without keys configured the gateway is open and any value is ignored.",
      },
      'apiKey',
    )
    .addSecurityRequirements('apiKey');
  return builder.build();
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
