/**
 * Memory at rest: give back what start-up grew.
 *
 * Start-up (loading some 2,700 modules, building the DI graph, the OpenAPI document, the route schemas)
 * allocates fast, and V8 answers fast allocation by doubling its young generation up to its maximum (32 MiB on
 * Node 20, 64 MiB on Node 24) and by leaving the old generation fragmented. An idle process then keeps all of
 * it: on Node 20 until V8's memory reducer runs some 8 s later, on Node 24 (measured) not at all. Two steps,
 * both by hand because Node has no API for either:
 *
 * - This module, imported before anything else, stops the young generation from growing while the gateway
 *   starts; {@link settleHeapAfterStartup} restores V8's default growth, so a loaded gateway sizes its young
 *   generation to the load exactly as before.
 * - {@link settleHeapAfterStartup} then runs one memory-reducing full collection (V8's "last resort" flavour,
 *   which compacts and releases pages; Node 22+). The only handle on it is the `gc` function that
 *   `--expose-gc` installs: it is taken from a fresh context and the flag is switched off again, so no global
 *   `gc` appears for application code. Node 20's V8 (11.3) reads any options object as a young-generation
 *   collection (measured: old-space garbage stays), so there it is called without options, which is a full
 *   collection that frees the start-up garbage but compacts less than "last resort".
 *
 * Idle RSS with and without it: docs/BENCHMARKS.md ("Idle").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's default (`--semi-space-growth-factor`): each growth doubles the young generation. */
const DEFAULT_GROWTH_FACTOR = 2;

setFlagsFromString('--semi-space-growth-factor=1');

type GcFunction = (options?: { type?: 'major'; execution?: 'sync'; flavor?: 'last-resort' }) => void;

/** V8 12 (Node 22) is the first to take `gc({ type, execution, flavor })` as a full collection. */
const GC_TAKES_OPTIONS = Number(process.versions.v8.split('.')[0]) >= 12;

/** Called once the gateway listens: default young-generation growth again, and one compacting collection. */
export function settleHeapAfterStartup(): void {
  setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
  setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as GcFunction;
    if (GC_TAKES_OPTIONS) gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    else {
      setFlagsFromString('--compact-on-every-full-gc');
      gc();
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  } catch {
    // Only memory is at stake: a runtime without the hook keeps its heap until V8 reduces it by itself.
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
