import { Counter, Registry } from 'prom-client';
import type { UsageService } from '../auth/usage.service';
import type { LimitsConfig } from '../config/configuration';
import { StreamLeases, type LeaseRelease } from '../state/stream-leases';
import { SynthesisSlots } from './synthesis-slots';

/** Shared leases held in a plain counter, standing for Redis (the e2e spec runs the real one). */
class CountingLeases extends StreamLeases {
  readonly shared = true;
  held = 0;
  constructor(private readonly othersHold: number) {
    super();
  }
  take(_owner: string, limit: number): Promise<LeaseRelease | undefined> {
    if (this.othersHold + this.held >= limit) return Promise.resolve(undefined);
    this.held++;
    let done = false;
    return Promise.resolve(() => {
      if (!done) this.held--;
      done = true;
    });
  }
}

function slotsWith(leases: StreamLeases, keyLimit: number | undefined): SynthesisSlots {
  const limits = { maxConcurrentStreams: 100, maxStreamsPerClient: 5 } as LimitsConfig;
  const refused = new Counter({
    name: 'refused',
    help: 'h',
    labelNames: ['route'],
    registers: [new Registry()],
  });
  const usage = { maxConcurrentStreams: () => keyLimit } as unknown as UsageService;
  return new SynthesisSlots(limits, refused, usage, leases);
}

describe('SynthesisSlots.acquireShared', () => {
  it("should take a key's lease with the local slot and give both back with one release", async () => {
    const leases = new CountingLeases(0);
    const slots = slotsWith(leases, 2);
    const release = await slots.acquireShared('key:alice', 'stream');
    expect([slots.activeFor('key:alice'), leases.held]).toEqual([1, 1]);
    release();
    release();
    expect([slots.activeFor('key:alice'), leases.held, slots.active]).toEqual([0, 0, 0]);
  });

  it("should refuse with 429 too_many_streams when other replicas hold the key's leases, freeing the local slot", async () => {
    const slots = slotsWith(new CountingLeases(2), 2);
    await expect(slots.acquireShared('key:alice', 'speech')).rejects.toMatchObject({
      code: 'too_many_streams',
      status: 429,
    });
    expect([slots.activeFor('key:alice'), slots.active]).toEqual([0, 0]);
  });

  it('should take no lease for a caller without a key limit', async () => {
    const leases = new CountingLeases(1000);
    const slots = slotsWith(leases, undefined);
    expect(slots.lease('127.0.0.1', 'stream')).toBeUndefined();
    const release = await slots.acquireShared('127.0.0.1', 'stream');
    expect([slots.activeFor('127.0.0.1'), leases.held]).toEqual([1, 0]);
    release();
  });
});
