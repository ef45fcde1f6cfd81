/**
 * Minimal Ogg (RFC 3533) page writer and the two Opus header packets (RFC 7845). Hand-written because the
 * only maintained muxer (mediabunny) holds back ~47 ms and costs 3x the memory per stream (codecs.md §1, §6).
 *
 * Pitfalls this file exists to get right (codecs.md §7):
 * - The Ogg CRC is NOT zlib's crc32: polynomial 0x04C11DB7, unreflected, initial value 0, no final XOR,
 *   computed over the whole page with the CRC field zeroed.
 * - A packet of n bytes takes floor(n / 255) + 1 lacing values (a 255-byte packet is `255, 0`), and a page
 *   holds at most 255 lacing values.
 */

export const OGG_FLAG_CONTINUED = 0x01;
export const OGG_FLAG_BOS = 0x02;
export const OGG_FLAG_EOS = 0x04;
export const OGG_MAX_LACING_VALUES = 255;
const PAGE_HEADER_BYTES = 27;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++)
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  return crc;
}

/** Lacing values a packet of `length` bytes needs. */
export function lacingCount(length: number): number {
  return Math.floor(length / 255) + 1;
}

export interface OggPageOptions {
  readonly packets: readonly Uint8Array[];
  /** Granule position after the last packet that ends on this page (codec-specific units). */
  readonly granule: number;
  readonly serial: number;
  readonly sequence: number;
  readonly flags?: number;
}

/** One page holding whole packets. The caller keeps the packets' lacing values within 255. */
export function oggPage({ packets, granule, serial, sequence, flags = 0 }: OggPageOptions): Uint8Array {
  let segments = 0;
  let bodyBytes = 0;
  for (const p of packets) {
    segments += lacingCount(p.length);
    bodyBytes += p.length;
  }
  if (segments > OGG_MAX_LACING_VALUES) {
    throw new RangeError(`an Ogg page holds at most 255 lacing values (asked for ${segments})`);
  }
  const page = new Uint8Array(PAGE_HEADER_BYTES + segments + bodyBytes);
  const view = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53]); // "OggS"
  page[4] = 0; // stream structure version
  page[5] = flags;
  // 64-bit granule as two halves: a number stays exact up to 2^53, i.e. ~6000 years of 48 kHz samples.
  view.setUint32(6, granule % 0x100000000, true);
  view.setUint32(10, Math.floor(granule / 0x100000000), true);
  view.setUint32(14, serial >>> 0, true);
  view.setUint32(18, sequence >>> 0, true);
  page[26] = segments;
  let lace = PAGE_HEADER_BYTES;
  let body = PAGE_HEADER_BYTES + segments;
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) {
      page[lace++] = 255;
      n -= 255;
    }
    page[lace++] = n;
    page.set(p, body);
    body += p.length;
  }
  view.setUint32(22, oggCrc32(page), true);
  return page;
}

/** OpusHead (RFC 7845 §5.1), mono, channel mapping family 0. */
export function opusHead(preSkip48k: number, inputSampleRate: number): Uint8Array {
  const head = new Uint8Array(19);
  const view = new DataView(head.buffer);
  head.set(ascii('OpusHead'));
  head[8] = 1; // version
  head[9] = 1; // channels
  view.setUint16(10, preSkip48k, true);
  view.setUint32(12, inputSampleRate, true); // informational: the rate the decoder may resample back to
  view.setInt16(16, 0, true); // output gain
  head[18] = 0; // mapping family
  return head;
}

/** OpusTags (RFC 7845 §5.2) with a vendor string and no user comments. */
export function opusTags(vendor: string): Uint8Array {
  const vendorBytes = ascii(vendor);
  const tags = new Uint8Array(8 + 4 + vendorBytes.length + 4);
  const view = new DataView(tags.buffer);
  tags.set(ascii('OpusTags'));
  view.setUint32(8, vendorBytes.length, true);
  tags.set(vendorBytes, 12);
  view.setUint32(12 + vendorBytes.length, 0, true);
  return tags;
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0x7f;
  return out;
}

/** A parsed page, for validation (tests, benchmarks). */
export interface ParsedOggPage {
  readonly offset: number;
  readonly flags: number;
  readonly granule: number;
  readonly serial: number;
  readonly sequence: number;
  readonly crcOk: boolean;
  readonly packets: Uint8Array[];
  /** True when the last packet continues on the next page (a lacing value of 255 ends the page). */
  readonly openEnded: boolean;
  readonly lacingValues: number;
}

/** Splits a byte stream into Ogg pages and checks each CRC. Throws on a missing capture pattern. */
export function parseOggPages(bytes: Uint8Array): ParsedOggPage[] {
  const pages: ParsedOggPage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    if (view.getUint32(offset, false) !== 0x4f676753)
      throw new Error(`no OggS capture pattern at byte ${offset}`);
    const segments = bytes[offset + 26];
    const lacing = bytes.subarray(offset + PAGE_HEADER_BYTES, offset + PAGE_HEADER_BYTES + segments);
    const bodyLength = lacing.reduce((a, b) => a + b, 0);
    const end = offset + PAGE_HEADER_BYTES + segments + bodyLength;
    const stored = view.getUint32(offset + 22, true);
    const page = new Uint8Array(bytes.subarray(offset, end)); // a copy (Buffer#slice would be a view)
    page.fill(0, 22, 26);
    const packets: Uint8Array[] = [];
    let body = offset + PAGE_HEADER_BYTES + segments;
    let start = body;
    for (const value of lacing) {
      body += value;
      if (value < 255) {
        packets.push(bytes.subarray(start, body));
        start = body;
      }
    }
    pages.push({
      offset,
      flags: bytes[offset + 5],
      granule: view.getUint32(offset + 6, true) + view.getUint32(offset + 10, true) * 0x100000000,
      serial: view.getUint32(offset + 14, true),
      sequence: view.getUint32(offset + 18, true),
      crcOk: oggCrc32(page) === stored,
      packets,
      openEnded: segments > 0 && lacing[segments - 1] === 255,
      lacingValues: segments,
    });
    offset = end;
  }
  return pages;
}
