/**
 * The sample count a whole-file header promised (`EncoderOptions.totalSamples`), checked as audio passes:
 * a header that states the wrong length makes players cut the file short or read past its end, so a
 * mismatch fails the encoder instead of producing such a file.
 */
export class SampleBudget {
  private written = 0;

  constructor(
    readonly total: number,
    /** Largest count the container can state (WAV: 32-bit byte sizes; FLAC: 36 bits). */
    max: number,
  ) {
    if (!Number.isSafeInteger(total) || total < 0 || total > max) {
      throw new RangeError(`totalSamples must be an integer from 0 to ${max} (got ${total})`);
    }
  }

  /** Counts `n` more samples; throws once they exceed the promised total. */
  take(n: number): void {
    this.written += n;
    if (this.written > this.total) {
      throw new Error(`more samples than the ${this.total} promised in the header (${this.written} so far)`);
    }
  }

  /** Throws unless exactly the promised total was written. */
  finish(): void {
    if (this.written !== this.total) {
      throw new Error(`the header promised ${this.total} samples but the stream carried ${this.written}`);
    }
  }
}
