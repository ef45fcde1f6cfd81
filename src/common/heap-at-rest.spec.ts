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
