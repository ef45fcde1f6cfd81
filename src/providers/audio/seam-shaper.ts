export interface SeamShaperOptions {
  /** Raised-cosine fade at both edges, so an utterance never starts or stops on a non-zero sample. */
  fadeMs: number;
  /** Samples at or below this magnitude count as silence (default ≈ −40 dBFS). */
  silenceThreshold: number;
  /** Quiet audio kept before the first loud sample (soft onsets such as /s/ or /h/ start below threshold). */
  leadKeepMs: number;
  /** Quiet audio kept after the last loud sample (decays and releases). */
  tailKeepMs: number;
  /** Quiet audio held back while waiting to see whether it is trailing silence; beyond this it is passed on. */
  maxHoldMs: number;
}

export const DEFAULT_SEAM_SHAPER_OPTIONS: SeamShaperOptions = {
  fadeMs: 5,
  silenceThreshold: 328,
  leadKeepMs: 15,
  tailKeepMs: 40,
  maxHoldMs: 3000,
};

/**
 * Streaming edge treatment for one utterance (a sentence): drops leading silence beyond `leadKeepMs`, drops
 * trailing silence beyond `tailKeepMs`, and fades both edges in and out. It works chunk by chunk and holds
 * back only what it must: the trailing quiet run (it might turn out to be the end) plus one fade length.
 * With these edges a seam between two utterances, plus a pause of zeros, has no discontinuity.
 */
export class SeamShaper {
  private readonly fadeSamples: number;
  private readonly leadKeep: number;
  private readonly tailKeep: number;
  private readonly maxHold: number;
  private started = false;
  /** Leading quiet samples seen so far (only the last `leadKeep` matter). */
  private lead: Int16Array = new Int16Array(0);
  /** Samples not yet emitted, after the start. */
  private held: Int16Array = new Int16Array(1024);
  private heldLength = 0;
  /** Index in `held` just after the last loud sample (0 when none is held). */
  private heldLoudEnd = 0;
  /** Samples appended since the start, for the fade-in. */
  private appended = 0;

  constructor(
    readonly sampleRate: number,
    private readonly options: SeamShaperOptions = DEFAULT_SEAM_SHAPER_OPTIONS,
  ) {
    const ms = (n: number) => Math.round((sampleRate * n) / 1000);
    this.fadeSamples = Math.max(1, ms(options.fadeMs));
    this.leadKeep = ms(options.leadKeepMs);
    this.tailKeep = Math.max(this.fadeSamples, ms(options.tailKeepMs));
    this.maxHold = Math.max(this.tailKeep * 2, ms(options.maxHoldMs));
  }

  /** Feeds samples; returns what can be emitted now (possibly empty). */
  push(pcm: Int16Array): Int16Array {
    let input = pcm;
    if (!this.started) {
      const first = pcm.findIndex((s) => Math.abs(s) > this.options.silenceThreshold);
      if (first < 0) {
        this.lead = lastSamples(this.lead, pcm, this.leadKeep);
        return new Int16Array(0);
      }
      this.started = true;
      const before = lastSamples(this.lead, pcm.subarray(0, first), this.leadKeep);
      input = concat(before, pcm.subarray(first));
      this.lead = new Int16Array(0);
    }
    this.append(input);
    // Everything up to one fade length before the last loud sample is safe to emit: the end fade (applied
    // at finish) lies within the last loud sample + tailKeep, so it can only touch held samples.
    let emitUpTo = Math.max(0, this.heldLoudEnd - this.fadeSamples);
    if (this.heldLength - emitUpTo > this.maxHold) emitUpTo = this.heldLength - this.maxHold;
    return this.take(emitUpTo);
  }

  /** Ends the utterance: trims the trailing silence, fades out, returns the rest. */
  finish(): Int16Array {
    if (!this.started) return new Int16Array(0);
    const end = Math.min(this.heldLength, this.heldLoudEnd + this.tailKeep);
    const out = this.held.slice(0, end);
    const n = Math.min(this.fadeSamples, out.length);
    for (let i = 0; i < n; i++) {
      const at = out.length - 1 - i;
      out[at] = Math.round(out[at] * rampGain(i, this.fadeSamples));
    }
    this.heldLength = 0;
    this.heldLoudEnd = 0;
    return out;
  }

  private append(pcm: Int16Array): void {
    if (this.heldLength + pcm.length > this.held.length) {
      const grown = new Int16Array(Math.max(this.held.length * 2, this.heldLength + pcm.length));
      grown.set(this.held.subarray(0, this.heldLength));
      this.held = grown;
    }
    const base = this.heldLength;
    this.held.set(pcm, base);
    // The fade-in is applied as samples arrive; nothing is emitted before it passed through here.
    for (let i = 0; i < pcm.length && this.appended + i < this.fadeSamples; i++) {
      this.held[base + i] = Math.round(this.held[base + i] * rampGain(this.appended + i, this.fadeSamples));
    }
    this.appended += pcm.length;
    this.heldLength += pcm.length;
    for (let i = pcm.length - 1; i >= 0; i--) {
      if (Math.abs(pcm[i]) > this.options.silenceThreshold) {
        this.heldLoudEnd = base + i + 1;
        break;
      }
    }
  }

  private take(n: number): Int16Array {
    if (n <= 0) return new Int16Array(0);
    const out = this.held.slice(0, n);
    this.held.copyWithin(0, n, this.heldLength);
    this.heldLength -= n;
    this.heldLoudEnd = Math.max(0, this.heldLoudEnd - n);
    return out;
  }
}

/** Raised-cosine gain for the `i`-th sample of an `n`-sample ramp from silence (i = 0) to full (i = n). */
function rampGain(i: number, n: number): number {
  return 0.5 - 0.5 * Math.cos((Math.PI * i) / n);
}

function lastSamples(a: Int16Array, b: Int16Array, n: number): Int16Array {
  if (n <= 0) return new Int16Array(0);
  const joined = concat(a, b);
  return joined.length <= n ? joined : joined.slice(joined.length - n);
}

function concat(a: Int16Array, b: Int16Array): Int16Array {
  if (a.length === 0) return b.slice();
  const out = new Int16Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
