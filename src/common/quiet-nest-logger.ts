import type { LoggerService } from '@nestjs/common';

/** Nest's own start-up chatter (one line per module, route and mapping): debug, not info. */
const BOOT_CONTEXTS = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
  'WebSocketsController',
]);

/**
 * Wraps the pino logger given to Nest, demoting its boot lines to debug: at info the log starts with the
 * gateway's own single start-up line (URL, providers and their state) instead of forty lines of wiring.
 */
export class QuietNestLogger implements LoggerService {
  constructor(
    private readonly inner: LoggerService & { debug(message: unknown, ...rest: unknown[]): void },
  ) {}

  log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && BOOT_CONTEXTS.has(context))
      this.inner.debug(message, ...optionalParams);
    else this.inner.log(message, ...optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.error(message, ...optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.warn(message, ...optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.debug(message, ...optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.inner.verbose?.(message, ...optionalParams);
  }
}
