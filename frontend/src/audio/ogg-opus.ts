import { ByteQueue } from './byte-queue';
import { concatBytes } from './pcm';

/** The Opus identification header (RFC 7845 §5.1). */
export interface OpusHead {
  version: number;
  channels: number;
  /** Samples at 48 kHz to drop at the start (the encoder's lookahead). */
  preSkip: number;
  inputSampleRate: number;
  mappingFamily: number;
  /** The whole packet: WebCodecs takes it as `description`. */
  raw: Uint8Array<ArrayBuffer>;
}

export function parseOpusHead(packet: Uint8Array<ArrayBuffer>): OpusHead {
  if (packet.length < 19 || String.fromCharCode(...packet.subarray(0, 8)) !== 'OpusHead')
    throw new Error('the first Ogg packet is not an OpusHead');
  const view = new DataView(packet.buffer, packet.byteOffset, packet.length);
  return {
    version: packet[8],
    channels: packet[9],
    preSkip: view.getUint16(10, true),
    inputSampleRate: view.getUint32(12, true),
    mappingFamily: packet[18],
    raw: packet,
  };
}

const SILK_MS = [10, 20, 40, 60];
const HYBRID_MS = [10, 20];
const CELT_MS = [2.5, 5, 10, 20];

/** Duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 §3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0];
  const config = toc >> 3;
  const frameMs =
    config < 12 ? SILK_MS[config % 4] : config < 16 ? HYBRID_MS[config % 2] : CELT_MS[config % 4];
  const code = toc & 3;
  const frames = code === 0 ? 1 : code < 3 ? 2 : packet.length > 1 ? packet[1] & 0x3f : 0;
  return frames * frameMs * 48;
}

export interface OpusPacket {
  data: Uint8Array<ArrayBuffer>;
  /** Start, in 48 kHz samples from the stream start (before pre-skip). */
  start48k: number;
  samples48k: number;
}

const CAPTURE = [0x4f, 0x67, 0x67, 0x53]; // "OggS"

/**
 * Incremental Ogg demuxer for one Opus stream: feed bytes as they arrive, get the head once and audio
 * packets as soon as their pages are complete. Packets continued across pages are joined; OpusTags is
 * skipped; bytes before a capture pattern are dropped (resync).
 */
export class OggOpusDemuxer {
  head: OpusHead | null = null;
  private readonly queue = new ByteQueue();
  private partial: Uint8Array[] = [];
  private packetIndex = 0;
  private position48k = 0;

  push(bytes: Uint8Array): OpusPacket[] {
    this.queue.push(bytes);
    const out: OpusPacket[] = [];
    for (;;) {
      if (!this.syncToCapture()) break;
      if (this.queue.length < 27) break;
      const segments = this.queue.at(26)!;
      if (this.queue.length < 27 + segments) break;
      const lacing = this.queue.peek(27, segments);
      let bodyBytes = 0;
      for (const l of lacing) bodyBytes += l;
      if (this.queue.length < 27 + segments + bodyBytes) break;
      const continued = (this.queue.at(5)! & 1) === 1;
      const lacingCopy = Uint8Array.from(lacing);
      this.queue.consume(27 + segments);
      const body = this.queue.take(bodyBytes);
      if (!continued) this.partial = [];
      let offset = 0;
      let run = 0;
      for (const l of lacingCopy) {
        run += l;
        if (l < 255) {
          this.partial.push(body.subarray(offset, offset + run));
          this.emit(concatBytes(this.partial), out);
          this.partial = [];
          offset += run;
          run = 0;
        }
      }
      if (run > 0) this.partial.push(body.subarray(offset, offset + run));
    }
    return out;
  }

  private syncToCapture(): boolean {
    const n = this.queue.length;
    let skip = 0;
    while (skip + 4 <= n) {
      let match = true;
      for (let i = 0; i < 4; i++) if (this.queue.at(skip + i) !== CAPTURE[i]) match = false;
      if (match) break;
      skip++;
    }
    if (skip > 0) this.queue.consume(Math.min(skip, Math.max(0, n - 3)));
    return this.queue.length >= 4;
  }

  private emit(packet: Uint8Array<ArrayBuffer>, out: OpusPacket[]): void {
    const index = this.packetIndex++;
    if (index === 0) {
      this.head = parseOpusHead(packet);
      return;
    }
    if (index === 1) return; // OpusTags
    const samples48k = opusPacketSamples(packet);
    out.push({ data: packet, start48k: this.position48k, samples48k });
    this.position48k += samples48k;
  }
}
