import { execFileSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { settleHeapAfterStartup } from './heap-at-rest';

const MiB = 1024 * 1024;

function oldSpaceUsed(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'old_space')?.space_used_size ?? 0;
}

describe('settleHeapAfterStartup', () => {
  it('should free old-generation garbage on this runtime (a full collection, not only a young-generation one)', () => {
    let retained: Array<{ i: number; s: string }> | undefined = Array.from({ length: 300_000 }, (_, i) => ({
      i,
      s: `item ${i}`,
    }));
    // Enough young-generation collections for the retained objects to be promoted to the old generation.
    let churn = 0;
    for (let round = 0; round < 40; round++)
      churn += Array.from({ length: 100_000 }, (_, i) => ({ i })).length;
    expect(retained.length + churn).toBeGreaterThan(0);
    const before = oldSpaceUsed();
    retained = undefined;

    settleHeapAfterStartup();

    expect(retained).toBeUndefined();
    expect((before - oldSpaceUsed()) / MiB).toBeGreaterThan(8);
  });
});

/**
 * Runs, in a fresh process, a function hot enough to be optimized while the module holds the compilers, then
 * settles and heats another. `%GetOptimizationStatus` is V8's own answer (`--allow-natives-syntax`); bit 16 is
 * its "optimized" (by TurboFan or Maglev). Each heat stops as soon as its function is optimized, so a window
 * only runs to its end where the answer is "not optimized": those windows are short, and the windows that
 * wait for an optimization are long, because the optimizing compilers run on a background thread that a
 * loaded machine (the CI runs several test workers on two cores) may schedule late (seen: over 1 s).
 */
const PROBE = `
const { settleHeapAfterStartup } = require(${JSON.stringify(require.resolve('./heap-at-rest'))});
const OPTIMIZED = 16;
function heat(f, ms) {
  const end = Date.now() + ms;
  let sum = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 10000; i++) sum += f(i);
    if (%GetOptimizationStatus(f) & OPTIMIZED) return true;
  }
  return sum < 0;
}
const duringStart = heat((i) => (i * 7) ^ 13, Number(process.env.DURING_START_MS));
settleHeapAfterStartup();
const afterStart = heat((i) => (i * 5) ^ 11, Number(process.env.AFTER_START_MS));
console.log(JSON.stringify({ duringStart, afterStart }));
`;

/** How long to heat where the expected answer is "not optimized", and where it is "optimized". */
const PROVE_NOT_OPTIMIZED_MS = 1_000;
const WAIT_FOR_OPTIMIZED_MS = 15_000;

function probe(
  flags: string[],
  windows: { duringStartMs: number; afterStartMs: number },
): { duringStart: boolean; afterStart: boolean } {
  const out = execFileSync(
    process.execPath,
    [...flags, '--allow-natives-syntax', '-r', 'ts-node/register/transpile-only', '-e', PROBE],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        DURING_START_MS: String(windows.duringStartMs),
        AFTER_START_MS: String(windows.afterStartMs),
      },
      timeout: 45_000,
    },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { duringStart: boolean; afterStart: boolean };
}

describe('optimizing compilers while the gateway starts', () => {
  it('should optimize nothing until settleHeapAfterStartup, and optimize hot code again after it', () => {
    expect(probe([], { duringStartMs: PROVE_NOT_OPTIMIZED_MS, afterStartMs: WAIT_FOR_OPTIMIZED_MS })).toEqual(
      {
        duringStart: false,
        afterStart: true,
      },
    );
  }, 60_000);

  it('should leave the compilers of a process started with its own compiler flags as they were asked', () => {
    const noOptimizer = probe(['--no-opt', '--no-maglev'], {
      duringStartMs: PROVE_NOT_OPTIMIZED_MS,
      afterStartMs: 3 * PROVE_NOT_OPTIMIZED_MS,
    });
    expect(noOptimizer).toEqual({ duringStart: false, afterStart: false });
    const optimizer = probe(['--opt'], {
      duringStartMs: WAIT_FOR_OPTIMIZED_MS,
      afterStartMs: WAIT_FOR_OPTIMIZED_MS,
    });
    expect(optimizer).toEqual({ duringStart: true, afterStart: true });
  }, 120_000);
});
