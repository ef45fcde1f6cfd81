import type { ProviderFailureKind } from '../providers/provider.contract';
import type { SynthesisSource } from './synthesis.types';

/**
 * Decides which failures reach a provider's circuit breaker, so that one client — or one text that makes
 * the engine fail every time — cannot open the circuit for everyone (a shared breaker poisoned by a single
 * caller is a denial of service).
 *
 * Within the current run of consecutive failures, a single client and a single input may contribute at most
 * `threshold - 1` failures: they can bring the breaker to the edge, but the failure that opens it must come
 * from someone (and something) else. `transport` failures (refused, unreachable, reset before an answer)
 * do not depend on the input or the caller, so they always count: a dead engine still opens the circuit
 * even when one client is all there is. The run is reset on a success and whenever the circuit changes state.
 *
 * Written by hand: cockatiel's breakers count failures but know nothing of who caused them; this gate sits
 * in front of its `ConsecutiveBreaker` as the policy's error filter.
 */
export class FailureGate {
  private run: SynthesisSource[] = [];

  constructor(private readonly threshold: number) {}

  /** Whether this failure counts towards opening the circuit (and records it if so). */
  admit(source: SynthesisSource, kind: ProviderFailureKind): boolean {
    if (kind !== 'transport' && this.threshold > 1) {
      const cap = this.threshold - 1;
      let sameClient = 0;
      let sameInput = 0;
      for (const s of this.run) {
        if (s.client === source.client) sameClient++;
        if (s.input === source.input) sameInput++;
      }
      if (sameClient >= cap || sameInput >= cap) return false;
    }
    this.run.push(source);
    if (this.run.length > this.threshold) this.run.shift();
    return true;
  }

  reset(): void {
    this.run = [];
  }

  /** For the log line when the circuit opens: how many distinct clients and inputs failed. */
  describe(): string {
    const clients = new Set(this.run.map((s) => s.client)).size;
    const inputs = new Set(this.run.map((s) => s.input)).size;
    return `${clients} client${clients === 1 ? '' : 's'}, ${inputs} distinct input${inputs === 1 ? '' : 's'}`;
  }
}
