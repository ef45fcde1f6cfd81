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
 * A third step keeps V8's optimizing compilers (TurboFan; Maglev too on Node 22+, where it is on by default)
 * switched off while the gateway starts: start-up code runs once, yet the module loader and the DI scan get hot
 * enough to be optimized, and running a compiler brings its code into memory — pages of the node binary, some
 * 7 MiB on Node 20 and 8–10 MiB on Node 24, which an idle process then keeps. {@link settleHeapAfterStartup}
 * switches them back on before the first request, so requests are optimized exactly as before (tested). Start
 * takes about 80 ms longer on Node 20 (20 ms on Node 24). A process started with its own compiler flags
 * (`--jitless`, `--no-opt`, `--maglev`, …, in its arguments or NODE_OPTIONS) is left as it was asked.
 *
 * Idle RSS with and without it: docs/BENCHMARKS.md ("Idle").
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's default (`--semi-space-growth-factor`): each growth doubles the young generation. */
const DEFAULT_GROWTH_FACTOR = 2;

const V8_MAJOR = Number(process.versions.v8.split('.')[0]);

/** The optimizing compilers this runtime runs by default: Maglev is on from V8 12 (Node 22). */
const OPTIMIZERS = V8_MAJOR >= 12 ? ['turbofan', 'maglev'] : ['turbofan'];

/** Flags that choose compilers: when the process was started with one, its compilers are not touched. */
const COMPILER_FLAG = /^--(no-)?(turbofan|opt|maglev|jitless|sparkplug|lite-mode)(=|$)/;

function compilersChosenByCaller(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((flag) => COMPILER_FLAG.test(flag.replaceAll('_', '-')));
}

const holdOptimizers = !compilersChosenByCaller();

setFlagsFromString('--semi-space-growth-factor=1');
if (holdOptimizers) for (const compiler of OPTIMIZERS) setFlagsFromString(`--no-${compiler}`);

type GcFunction = (options?: { type?: 'major'; execution?: 'sync'; flavor?: 'last-resort' }) => void;

/** V8 12 (Node 22) is the first to take `gc({ type, execution, flavor })` as a full collection. */
const GC_TAKES_OPTIONS = V8_MAJOR >= 12;

/**
 * Called once the gateway listens: the optimizing compilers on again, default young-generation growth again,
 * and one compacting collection.
 */
export function settleHeapAfterStartup(): void {
  if (holdOptimizers) for (const compiler of OPTIMIZERS) setFlagsFromString(`--${compiler}`);
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
