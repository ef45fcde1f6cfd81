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
 * its "optimized" (by TurboFan or Maglev).
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
const duringStart = heat((i) => (i * 7) ^ 13, 1000);
settleHeapAfterStartup();
const afterStart = heat((i) => (i * 5) ^ 11, 3000);
console.log(JSON.stringify({ duringStart, afterStart }));
`;

function probe(flags: string[]): { duringStart: boolean; afterStart: boolean } {
  const out = execFileSync(
    process.execPath,
    [...flags, '--allow-natives-syntax', '-r', 'ts-node/register/transpile-only', '-e', PROBE],
    { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 25_000 },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as { duringStart: boolean; afterStart: boolean };
}

describe('optimizing compilers while the gateway starts', () => {
  it('should optimize nothing until settleHeapAfterStartup, and optimize hot code again after it', () => {
    expect(probe([])).toEqual({ duringStart: false, afterStart: true });
  });

  it('should leave the compilers of a process started with its own compiler flags as they were asked', () => {
    expect(probe(['--no-opt', '--no-maglev'])).toEqual({ duringStart: false, afterStart: false });
    expect(probe(['--opt'])).toEqual({ duringStart: true, afterStart: true });
  });
});
