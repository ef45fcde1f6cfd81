/** WAV (RIFF) reading for the streamed header and writing for downloads of raw formats. */

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_ALAW = 6;
export const WAVE_FORMAT_MULAW = 7;

export interface WavFormat {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

export interface WavHeader extends WavFormat {
  /** Offset of the first sample byte. */
  dataOffset: number;
  /** Size the header claims (0xFFFFFFFF in a streamed WAV: unknown). */
  dataBytes: number;
}

const ascii = (b: Uint8Array, at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);

/**
 * Parses a RIFF/WAVE header up to the start of the `data` chunk. Returns null while more bytes are needed,
 * throws when the bytes are not a WAV. Chunks other than `fmt ` (LIST, fact, …) are skipped.
 */
export function parseWavHeader(bytes: Uint8Array): WavHeader | null {
  if (bytes.length < 12) return null;
  if (ascii(bytes, 0) !== 'RIFF' || ascii(bytes, 8) !== 'WAVE') throw new Error('not a RIFF/WAVE stream');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let fmt: WavFormat | null = null;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = ascii(bytes, at);
    const size = view.getUint32(at + 4, true);
    if (id === 'data') {
      if (!fmt) throw new Error('WAV data chunk before its fmt chunk');
      return { ...fmt, dataOffset: at + 8, dataBytes: size };
    }
    if (at + 8 + size > bytes.length) return null;
    if (id === 'fmt ') {
      fmt = {
        formatTag: view.getUint16(at + 8, true),
        channels: view.getUint16(at + 10, true),
        sampleRate: view.getUint32(at + 12, true),
        bitsPerSample: view.getUint16(at + 22, true),
      };
    }
    at += 8 + size + (size & 1);
  }
  return null;
}

/** A complete header for `dataBytes` of audio: PCM 16-bit, or G.711 (with the `fact` chunk non-PCM needs). */
export function wavHeader(format: WavFormat, dataBytes: number): Uint8Array<ArrayBuffer> {
  const pcm = format.formatTag === WAVE_FORMAT_PCM;
  const fmtSize = pcm ? 16 : 18;
  const factSize = pcm ? 0 : 12;
  const headerBytes = 12 + 8 + fmtSize + factSize + 8;
  const out = new Uint8Array(headerBytes);
  const view = new DataView(out.buffer);
  const text = (at: number, s: string) => [...s].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  const blockAlign = (format.channels * format.bitsPerSample) / 8;
  text(0, 'RIFF');
  view.setUint32(4, headerBytes - 8 + dataBytes + (dataBytes & 1), true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, fmtSize, true);
  view.setUint16(20, format.formatTag, true);
  view.setUint16(22, format.channels, true);
  view.setUint32(24, format.sampleRate, true);
  view.setUint32(28, format.sampleRate * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, format.bitsPerSample, true);
  let at = 36;
  if (!pcm) {
    view.setUint16(at, 0, true); // cbSize
    at += 2;
    text(at, 'fact');
    view.setUint32(at + 4, 4, true);
    view.setUint32(at + 8, Math.floor(dataBytes / blockAlign), true);
    at += 12;
  }
  text(at, 'data');
  view.setUint32(at + 4, dataBytes, true);
  return out;
}

/**
 * A streamed WAV (sizes 0xFFFFFFFF, since the length is unknown when the header leaves) made into a file
 * with real sizes, so players show the duration and seek.
 */
export function finalizeStreamedWav(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const header = parseWavHeader(bytes);
  if (!header) throw new Error('incomplete WAV header');
  const dataBytes = bytes.length - header.dataOffset;
  const fresh = wavHeader(header, dataBytes);
  const out = new Uint8Array(fresh.length + dataBytes);
  out.set(fresh, 0);
  out.set(bytes.subarray(header.dataOffset), fresh.length);
  return out;
}
