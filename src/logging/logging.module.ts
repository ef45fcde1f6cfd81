import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  RequestMethod,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { pino, type Logger } from 'pino';
import { pinoHttp, type HttpLogger, type Options as HttpLogOptions } from 'pino-http';
import type { GatewayConfig } from '../config/configuration';

/**
 * Logging: one pino logger for the process (JSON, redacted), `nestjs-pino` for the Nest logger and
 * `@InjectPinoLogger`, and `pino-http` for the one line per request.
 *
 * Why the request line is wired here rather than by `nestjs-pino`'s own middleware: that middleware also runs
 * every request inside an `AsyncLocalStorage` so service logs carry the request. On Node 20 and 22 that turns on
 * a promise hook for every promise of the process, for as long as it runs — measured at about 15% of the server's
 * CPU per short session. Nothing here needs it: our service logs are about streams and sockets, not HTTP
 * requests, and an error answered to a request is logged with its `request_id` by the exception filter. So
 * `nestjs-pino`'s middleware is given no routes, and ours logs the request with the same logger and options.
 */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

@Module({
  providers: [
    {
      provide: ROOT_LOGGER,
      inject: [ConfigService],
      useFactory: (config: ConfigService<GatewayConfig, true>): Logger => {
        const app = config.getOrThrow('app', { infer: true });
        return pino({
          level: app.logLevel,
          transport: app.logPretty ? { target: 'pino-pretty' } : undefined,
          redact: {
            paths: [
              'req.headers.authorization',
              'req.headers["x-api-key"]',
              'req.headers.cookie',
              'res.headers["set-cookie"]',
            ],
            censor: '[redacted]',
          },
        });
      },
    },
  ],
  exports: [ROOT_LOGGER],
})
class RootLoggerModule {}

const REQUEST_LOG_OPTIONS: HttpLogOptions = {
  // WebSocket tokens may appear in a query string: never in the log.
  serializers: {
    req: (req: { url?: string; query?: Record<string, unknown> }) => {
      if (req.url) req.url = req.url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
      if (req.query && 'token' in req.query) req.query = { ...req.query, token: '[redacted]' };
      return req;
    },
  },
  // Probe and scrape traffic is not worth a log line each.
  autoLogging: { ignore: (req) => /^\/(healthz|readyz|metrics)\b/.test(req.url ?? '') },
  customLogLevel: (_req, res, err) =>
    err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
};

/** One `request completed` line per HTTP request (pino-http), on the process's logger. */
@Injectable()
class RequestLogMiddleware implements NestMiddleware {
  private readonly log: HttpLogger;

  constructor(@Inject(ROOT_LOGGER) logger: Logger) {
    this.log = pinoHttp({ ...REQUEST_LOG_OPTIONS, logger });
  }

  use(req: IncomingMessage, res: ServerResponse, next: () => void): void {
    this.log(req, res);
    next();
  }
}

/**
 * `forRoot()` is called when the app module is composed, after every module is loaded: `nestjs-pino` creates
 * the `@InjectPinoLogger` providers from the contexts declared by then.
 */
@Global()
@Module({})
export class LoggingModule implements NestModule {
  static forRoot(): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        RootLoggerModule,
        LoggerModule.forRootAsync({
          imports: [RootLoggerModule],
          inject: [ROOT_LOGGER],
          // No routes: see above (no AsyncLocalStorage per request).
          useFactory: (logger: Logger) => ({ pinoHttp: { logger }, forRoutes: [] }),
        }),
      ],
      providers: [RequestLogMiddleware],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLogMiddleware).forRoutes({ path: '*', method: RequestMethod.ALL });
  }
}
