/**
 * The Xing/Info frame with a LAME tag that whole MP3 files start with, so players know the exact length
 * (frame and byte counts, a seek table) and trim the encoder delay and end padding (gapless). A live
 * stream cannot carry it: it goes first, yet describes the whole file (codecs.md §7). Whole files keep
 * their frames until the end (in memory, `withInfoFrame`, or wherever the caller spools them,
 * `Mp3InfoFrameBuilder`) and get this frame in front.
 *
 * Layout (the LAME "Mp3 Info Tag" rev 1, as LAME and ffmpeg write it): a silent MPEG frame whose side
 * information is all zero, then "Info" (CBR), flags 0x0F, frames, bytes, a 100-entry TOC, a quality word,
 * and the 36-byte LAME extension with encoder delay and padding (12 bits each) and two CRC-16s.
 * Decoders that know the tag skip the frame; older ones decode it as one frame of silence.
 */

/** LAME's encoder delay in samples (decoders add their own 529: 1105 in total, codecs.md §2). */
export const LAME_ENCODER_DELAY = 576;

const BITRATES_KBPS = {
  mpeg1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  lsf: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
/** By the header's 2-bit version field (0 = MPEG-2.5, 2 = MPEG-2, 3 = MPEG-1); index = rate field. */
const SAMPLE_RATES: Record<number, readonly number[]> = {
  0: [11025, 12000, 8000],
  2: [22050, 24000, 16000],
  3: [44100, 48000, 32000],
};
const XING_FIELDS_BYTES = 4 + 4 + 4 + 4 + 100 + 4; // "Info", flags, frames, bytes, TOC, quality
const LAME_TAG_BYTES = 36;
/**
 * The tag CRC covers the first 190 bytes of the frame, its own field counted as zero (LAME's definition,
 * sized for MPEG-1 stereo; checked against a file ffmpeg wrote). The frame is made at least that long.
 */
const TAG_CRC_SPAN = 190;

/** One parsed MPEG audio layer III frame header. */
export interface Mp3FrameHeader {
  readonly version: number;
  readonly sampleRate: number;
  readonly bitrateKbps: number;
  readonly samplesPerFrame: number;
  readonly frameBytes: number;
}

/** Parses the 4-byte header at `offset`, or undefined if it is not a layer III frame header. */
export function parseMp3FrameHeader(bytes: Uint8Array, offset: number): Mp3FrameHeader | undefined {
  if (offset + 4 > bytes.length || bytes[offset] !== 0xff || (bytes[offset + 1] & 0xe0) !== 0xe0) {
    return undefined;
  }
  const version = (bytes[offset + 1] >> 3) & 3;
  const layer = (bytes[offset + 1] >> 1) & 3;
  const rates = SAMPLE_RATES[version];
  const bitrateIndex = bytes[offset + 2] >> 4;
  const rateIndex = (bytes[offset + 2] >> 2) & 3;
  if (layer !== 1 || !rates || rateIndex === 3 || bitrateIndex === 0 || bitrateIndex === 15) return undefined;
  const mpeg1 = version === 3;
  const bitrateKbps = (mpeg1 ? BITRATES_KBPS.mpeg1 : BITRATES_KBPS.lsf)[bitrateIndex];
  const sampleRate = rates[rateIndex];
  const padding = (bytes[offset + 2] >> 1) & 1;
  return {
    version,
    sampleRate,
    bitrateKbps,
    samplesPerFrame: mpeg1 ? 1152 : 576,
    frameBytes: Math.floor(((mpeg1 ? 144 : 72) * bitrateKbps * 1000) / sampleRate) + padding,
  };
}

/** Byte offset of every frame in a stream of back-to-back layer III frames. Throws on anything else. */
export function mp3FrameOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const header = parseMp3FrameHeader(bytes, offset);
    if (!header || offset + header.frameBytes > bytes.length) {
      throw new Error(`no complete MP3 frame at byte ${offset} of ${bytes.length}`);
    }
    offsets.push(offset);
    offset += header.frameBytes;
  }
  return offsets;
}

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[i] = c;
  }
  return table;
})();

/** CRC-16 as the LAME tag uses it (polynomial 0x8005 reflected, initial 0: CRC-16/ARC). */
export function crc16(bytes: Uint8Array, crc = 0): number {
  for (let i = 0; i < bytes.length; i++) crc = (crc >>> 8) ^ CRC16_TABLE[(crc ^ bytes[i]) & 0xff];
  return crc;
}

/**
 * `frames` (a complete CBR layer III stream from LAME, nothing else) with an Info frame in front that
 * states `samples` real samples: frames x samples-per-frame = delay + samples + padding.
 */
export function withInfoFrame(frames: Uint8Array, samples: number, delay = LAME_ENCODER_DELAY): Uint8Array {
  const builder = new Mp3InfoFrameBuilder();
  builder.push(frames);
  const info = builder.finish(samples, delay);
  const out = new Uint8Array(info.length + frames.length);
  out.set(info);
  out.set(frames, info.length);
  return out;
}

/**
 * The Info frame of an MP3 stream built while its frames pass by, so a whole file can be written frame by
 * frame (to disk, say) and get its Info frame in front at the end without being held in memory: it keeps
 * 4 bytes per frame (the offsets for the TOC), the running CRC and at most one partial frame.
 */
export class Mp3InfoFrameBuilder {
  private offsets = new Uint32Array(1024);
  private frames = 0;
  private frameBytes = 0;
  private crc = 0;
  private carry = new Uint8Array(0);
  private first: Uint8Array | undefined;
  private header: Mp3FrameHeader | undefined;

  /** Bytes of the audio frames pushed so far (complete frames only). */
  get audioBytes(): number {
    return this.frameBytes;
  }

  /** The next bytes of the stream: back-to-back layer III frames, split anywhere. Throws on anything else. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.crc = crc16(chunk, this.crc);
    let data = chunk;
    if (this.carry.length > 0) {
      data = new Uint8Array(this.carry.length + chunk.length);
      data.set(this.carry);
      data.set(chunk, this.carry.length);
    }
    let offset = 0;
    while (offset + 4 <= data.length) {
      const header = parseMp3FrameHeader(data, offset);
      if (!header) throw new Error(`no MP3 frame at byte ${this.frameBytes}`);
      if (offset + header.frameBytes > data.length) break;
      if (!this.header) {
        this.header = header;
        this.first = data.slice(offset, offset + 4);
      }
      if (this.frames === this.offsets.length) {
        const grown = new Uint32Array(this.offsets.length * 2);
        grown.set(this.offsets);
        this.offsets = grown;
      }
      this.offsets[this.frames++] = this.frameBytes;
      this.frameBytes += header.frameBytes;
      offset += header.frameBytes;
    }
    this.carry = data.slice(offset);
  }

  /** The Info frame for the frames pushed, which hold `samples` real samples after `delay`. */
  finish(samples: number, delay = LAME_ENCODER_DELAY): Uint8Array {
    if (this.carry.length > 0) {
      throw new Error(
        `no complete MP3 frame at byte ${this.frameBytes} of ${this.frameBytes + this.carry.length}`,
      );
    }
    const first = this.header;
    const bytes = this.first;
    if (!first || !bytes || this.frames === 0) throw new Error('an MP3 file needs at least one frame');
    const count = this.frames;
    const padding = count * first.samplesPerFrame - delay - samples;
    if (padding < 0 || padding > 0xfff || delay > 0xfff) {
      throw new Error(`${samples} samples do not fit ${count} frames after a delay of ${delay}`);
    }

    const mpeg1 = first.version === 3;
    const sideInfo = mpeg1 ? 17 : 9; // mono
    const needed = Math.max(TAG_CRC_SPAN, 4 + sideInfo + XING_FIELDS_BYTES + LAME_TAG_BYTES);
    // The stream's own bitrate where the tag fits, else the next one up (as ffmpeg does: 48 kbps at 24 kHz
    // is a 144-byte frame, too small for the tag).
    const bitrates = mpeg1 ? BITRATES_KBPS.mpeg1 : BITRATES_KBPS.lsf;
    let index = bitrates.indexOf(first.bitrateKbps);
    const size = (i: number) => Math.floor(((mpeg1 ? 144 : 72) * bitrates[i] * 1000) / first.sampleRate);
    while (index < 14 && size(index) < needed) index++;
    const frameBytes = size(index);

    const info = new Uint8Array(frameBytes);
    const view = new DataView(info.buffer);
    info[0] = 0xff;
    info[1] = bytes[1] | 0x01; // same version and layer; protection bit set = no CRC after the header
    info[2] = (index << 4) | (bytes[2] & 0x0c); // bitrate, same sample rate, no padding, private bit 0
    info[3] = bytes[3]; // channel mode, copyright, original, emphasis
    let at = 4 + sideInfo; // side information stays zero: a silent frame
    info.set([0x49, 0x6e, 0x66, 0x6f], at); // "Info": the Xing tag of a CBR stream
    view.setUint32(at + 4, 0x0f); // frames, bytes, TOC and quality present
    view.setUint32(at + 8, count); // audio frames, not counting this one
    const totalBytes = frameBytes + this.frameBytes;
    view.setUint32(at + 12, totalBytes);
    // TOC: for each percent of the duration, where that frame starts, in 1/256ths of the file.
    for (let i = 0; i < 100; i++) {
      const frame = Math.min(count - 1, Math.floor((i * count) / 100));
      info[at + 16 + i] = Math.min(255, Math.floor((256 * (frameBytes + this.offsets[frame])) / totalBytes));
    }
    view.setUint32(at + 116, 0); // quality: unused for CBR
    at += XING_FIELDS_BYTES;

    info.set(ascii('LAME3.100'), at); // decoders read delay and padding only behind a known encoder name
    info[at + 9] = 0x01; // tag revision 0, VBR method 1 = constant bitrate
    info[at + 10] = 0; // lowpass: unknown
    // 8 bytes of ReplayGain (none), 1 byte encoding flags and ATH type: zero.
    info[at + 20] = Math.min(255, first.bitrateKbps);
    info[at + 21] = delay >> 4;
    info[at + 22] = ((delay & 0x0f) << 4) | (padding >> 8);
    info[at + 23] = padding & 0xff;
    // misc, MP3 gain, preset and surround: zero.
    view.setUint32(at + 28, totalBytes); // music length
    view.setUint16(at + 32, this.crc); // CRC of the audio frames
    view.setUint16(at + 34, crc16(info.subarray(0, TAG_CRC_SPAN))); // the field itself is still zero here
    return info;
  }
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
