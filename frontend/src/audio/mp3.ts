import { ByteQueue } from './byte-queue';

export interface Mp3FrameHeader {
  /** 1 = MPEG-1, 2 = MPEG-2, 2.5 = MPEG-2.5. */
  version: 1 | 2 | 2.5;
  bitrateKbps: number;
  sampleRate: number;
  channels: 1 | 2;
  padding: boolean;
  frameBytes: number;
  samplesPerFrame: 1152 | 576;
}

const BITRATES_V1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const BITRATES_V2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const RATES: Record<string, readonly number[]> = {
  '1': [44100, 48000, 32000],
  '2': [22050, 24000, 16000],
  '2.5': [11025, 12000, 8000],
};

/**
 * Parses a Layer III frame header (the only layer the gateway writes). Null when the four bytes are not one
 * (no sync, reserved version/rate, free-format or bad bitrate).
 */
export function parseMp3Header(b0: number, b1: number, b2: number, b3: number): Mp3FrameHeader | null {
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return null;
  const versionBits = (b1 >> 3) & 3;
  const layerBits = (b1 >> 1) & 3;
  if (versionBits === 1 || layerBits !== 1) return null; // reserved version; not Layer III
  const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const bitrateIndex = b2 >> 4;
  const rateIndex = (b2 >> 2) & 3;
  if (bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return null;
  const bitrateKbps = (version === 1 ? BITRATES_V1 : BITRATES_V2)[bitrateIndex];
  const sampleRate = RATES[String(version)][rateIndex];
  const padding = ((b2 >> 1) & 1) === 1;
  const samplesPerFrame = version === 1 ? 1152 : 576;
  const frameBytes =
    Math.floor(((samplesPerFrame / 8) * bitrateKbps * 1000) / sampleRate) + (padding ? 1 : 0);
  return {
    version,
    bitrateKbps,
    sampleRate,
    channels: b3 >> 6 === 3 ? 1 : 2,
    padding,
    frameBytes,
    samplesPerFrame,
  };
}

export interface Mp3Frame {
  header: Mp3FrameHeader;
  data: Uint8Array<ArrayBuffer>;
}

/**
 * Splits an MP3 byte stream into whole frames as they complete, for a frame-based decoder (WebCodecs).
 * Skips an ID3v2 tag at the start and resynchronizes past garbage. A frame is only emitted once its end
 * is followed by another sync word or the stream ends, which rejects false syncs inside data.
 */
export class Mp3FrameSplitter {
  private readonly queue = new ByteQueue();
  private started = false;

  push(bytes: Uint8Array): Mp3Frame[] {
    this.queue.push(bytes);
    return this.drain(false);
  }

  /** The stream ended: emit a last complete frame that no sync follows. */
  end(): Mp3Frame[] {
    return this.drain(true);
  }

  private drain(final: boolean): Mp3Frame[] {
    const out: Mp3Frame[] = [];
    const q = this.queue;
    for (;;) {
      if (!this.started) {
        if (q.length < 10) break;
        if (q.at(0) === 0x49 && q.at(1) === 0x44 && q.at(2) === 0x33) {
          // ID3v2: 10-byte header, size as 4 × 7 bits (+10 with a footer).
          const size =
            ((q.at(6)! << 21) | (q.at(7)! << 14) | (q.at(8)! << 7) | q.at(9)!) +
            10 +
            (q.at(5)! & 0x10 ? 10 : 0);
          if (q.length < size) break;
          q.consume(size);
        }
        this.started = true;
      }
      if (q.length < 4) break;
      const header = parseMp3Header(q.at(0)!, q.at(1)!, q.at(2)!, q.at(3)!);
      if (!header) {
        q.consume(1);
        continue;
      }
      const n = header.frameBytes;
      if (q.length < n + (final ? 0 : 2)) {
        if (final && q.length < n) q.consume(q.length);
        break;
      }
      if (!final || q.length >= n + 2) {
        const nextSync = q.at(n) === 0xff && (q.at(n + 1)! & 0xe0) === 0xe0;
        if (!nextSync && q.length >= n + 2) {
          q.consume(1);
          continue;
        }
      }
      const data = q.take(n);
      if (isInfoFrame(data, header)) continue;
      out.push({ header, data });
    }
    return out;
  }
}

/** A Xing/Info/VBRI metadata frame: decodes to silence, so it is dropped. */
function isInfoFrame(frame: Uint8Array, header: Mp3FrameHeader): boolean {
  const sideInfo = header.version === 1 ? (header.channels === 1 ? 17 : 32) : header.channels === 1 ? 9 : 17;
  const tag = (at: number) => String.fromCharCode(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
  const xing = tag(4 + sideInfo);
  return xing === 'Xing' || xing === 'Info' || tag(36) === 'VBRI';
}
