/**
 * Memory at rest: load `@nestjs/common` without building its date formatters.
 *
 * `@nestjs/common` builds two `Intl.DateTimeFormat`s as it loads (module-level constants in
 * console-logger.service.js and logger.service.js, for the timestamps of Nest's console logger). Building one
 * maps ICU's date and time-zone data: about 8 MiB of RSS, 6.5 MiB of it pages of the node binary, on Node 20
 * and on Node 24 (measured with `node -e`). The gateway logs through pino, so those formatters format nothing
 * unless Nest's own console logger runs (a start-up failure before pino is wired).
 *
 * This module, imported by main.ts before anything that imports Nest, loads `@nestjs/common` while
 * `Intl.DateTimeFormat` builds a stand-in that makes the real formatter on first use, and puts the real
 * constructor back before any other code runs. Only those two module-level constants ever see the stand-in.
 * By hand because it is a matter of load order, which no library addresses.
 */

type DateTimeFormatArgs = ConstructorParameters<typeof Intl.DateTimeFormat>;

const RealDateTimeFormat = Intl.DateTimeFormat;

/** A formatter that is built on first use, then answers every property as the real one would. */
function deferredDateTimeFormat(...args: DateTimeFormatArgs): Intl.DateTimeFormat {
  let real: Intl.DateTimeFormat | undefined;
  return new Proxy({} as Intl.DateTimeFormat, {
    get(_target, property) {
      real ??= new RealDateTimeFormat(...args);
      const value: unknown = Reflect.get(real, property, real);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
    },
  });
}

const standIn = function DateTimeFormat(...args: DateTimeFormatArgs) {
  return deferredDateTimeFormat(...args);
} as unknown as typeof Intl.DateTimeFormat;

const globalIntl = Intl as { DateTimeFormat: typeof Intl.DateTimeFormat };
globalIntl.DateTimeFormat = standIn;
try {
  // A plain require on purpose: it must run between the two assignments, where an import cannot be placed.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@nestjs/common');
} finally {
  globalIntl.DateTimeFormat = RealDateTimeFormat;
}
