/**
 * Bytes arriving in chunks, read from the front. Parsers of framed streams (Ogg pages, MP3 frames) look
 * ahead with `peek` and `consume` what they used; storage is compacted as it is consumed.
 */
export class ByteQueue {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(bytes: Uint8Array): void {
    if (this.end + bytes.length > this.buf.length) {
      const need = this.length + bytes.length;
      const next =
        need <= this.buf.length ? this.buf : new Uint8Array(Math.max(need, this.buf.length * 2, 4096));
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.end = this.length;
      this.start = 0;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** Byte at `offset` from the front (undefined past the end). */
  at(offset: number): number | undefined {
    return offset < this.length ? this.buf[this.start + offset] : undefined;
  }

  /** A view of `length` bytes from `offset` (valid until the next push). */
  peek(offset: number, length: number): Uint8Array {
    return this.buf.subarray(this.start + offset, this.start + offset + length);
  }

  /** Copy of `length` bytes from the front, then drops them. */
  take(length: number): Uint8Array<ArrayBuffer> {
    const out = this.buf.slice(this.start, this.start + length);
    this.consume(length);
    return out;
  }

  consume(length: number): void {
    this.start = Math.min(this.end, this.start + length);
    if (this.start === this.end) this.start = this.end = 0;
  }
}
