import { concatPcm, pcm16FromLittleEndian } from './pcm';

export class WavFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WavFormatError';
  }
}

export interface WavFormat {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** 1 = integer PCM, 3 = IEEE float (WAVE_FORMAT_EXTENSIBLE is resolved to its sub-format). */
  readonly formatTag: 1 | 3;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;
/** Sizes that mean "unknown, read to the end": streamed WAV (0xFFFFFFFF) and XTTS-streaming-server's 0. */
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);
/** A header larger than this without a `data` chunk is not a WAV we want to buffer. */
const MAX_HEADER_BYTES = 1 << 20;
/**
 * Upstream audio is untrusted: a rate of 20,000,003 Hz once made the resampler build a 100 MB filter. Real
 * engines write 8–48 kHz; 192 kHz is the highest rate of any audio interface.
 */
export const MIN_UPSTREAM_RATE = 8000;
export const MAX_UPSTREAM_RATE = 192000;
const MAX_CHANNELS = 8;
/** A `fmt ` chunk is 16, 18 or 40 bytes; anything much larger is not one. */
const MAX_FMT_BYTES = 1024;

type State =
  | { kind: 'riff' }
  | { kind: 'chunk' }
  | { kind: 'skip'; bytes: number }
  | { kind: 'fmt'; bytes: number }
  | { kind: 'data'; remaining: number | undefined }
  | { kind: 'done' };

/**
 * Incremental RIFF/WAVE reader: push bytes as they arrive, get mono s16 samples back.
 *
 * Tolerates what real engines emit: sizes that are 0, 0xFFFFFFFF or simply wrong (espeak-ng writes
 * 0x7FFFF000 when streaming to a pipe), chunks in any order before `data` (LIST, fact, JUNK), odd-sized
 * chunks with their pad byte, RF64, samples and frames split across pushes, and trailing chunks after a
 * `data` chunk whose size is known. Multi-channel audio is averaged to mono; 8/16/24/32-bit PCM and 32-bit
 * float are converted to s16.
 */
export class WavStreamReader {
  private state: State = { kind: 'riff' };
  private pending: Uint8Array = new Uint8Array(0);
  private headerBytes = 0;
  private fmt: WavFormat | undefined;

  /** The format, once the header up to the `data` chunk has been read. */
  get format(): WavFormat | undefined {
    return this.state.kind === 'data' || this.state.kind === 'done' ? this.fmt : undefined;
  }

  push(bytes: Uint8Array): Int16Array {
    this.pending = this.pending.length === 0 ? bytes : concat(this.pending, bytes);
    const out: Int16Array[] = [];
    for (;;) {
      const before = { bytes: this.pending.length, state: this.state };
      const samples = this.step();
      if (samples && samples.length > 0) out.push(samples);
      if (!samples && this.pending.length === before.bytes && this.state === before.state) break;
    }
    // Keep our own copy of a leftover: the caller may reuse the buffer it pushed.
    if (this.pending.length > 0 && this.pending.buffer === bytes.buffer) this.pending = this.pending.slice();
    return concatPcm(out);
  }

  /** Call at the end of the stream: fails when the header never completed. */
  end(): void {
    if (this.state.kind === 'data' || this.state.kind === 'done') return;
    throw new WavFormatError(
      this.headerBytes + this.pending.length === 0
        ? 'empty response where a WAV file was expected'
        : 'the WAV file ended before its data chunk',
    );
  }

  /** Consumes what it can from `pending`; returns samples when in the data chunk, undefined if it needs more. */
  private step(): Int16Array | undefined {
    const state = this.state;
    switch (state.kind) {
      case 'riff': {
        if (this.pending.length < 12) return undefined;
        const id = ascii(this.pending, 0);
        const wave = ascii(this.pending, 8);
        if ((id !== 'RIFF' && id !== 'RF64') || wave !== 'WAVE') {
          throw new WavFormatError(
            id === 'RIFX' ? 'big-endian WAV (RIFX) is not supported' : 'not a WAV file (no RIFF/WAVE header)',
          );
        }
        this.consume(12);
        this.state = { kind: 'chunk' };
        return undefined;
      }
      case 'chunk': {
        if (this.pending.length < 8) return undefined;
        if (this.headerBytes > MAX_HEADER_BYTES)
          throw new WavFormatError('WAV header too large (no data chunk)');
        const id = ascii(this.pending, 0);
        const size = readU32(this.pending, 4);
        this.consume(8);
        if (id === 'fmt ') {
          if (size > MAX_FMT_BYTES)
            throw new WavFormatError(`WAV fmt chunk of ${size} bytes is not plausible`);
          this.state = { kind: 'fmt', bytes: size + (size % 2) };
        } else if (id === 'data') {
          if (!this.fmt) throw new WavFormatError('WAV data chunk before its fmt chunk');
          this.state = { kind: 'data', remaining: UNKNOWN_SIZES.has(size) ? undefined : size };
        } else {
          // LIST, fact, JUNK, ds64, cue ... : skip, including the pad byte of odd-sized chunks.
          if (this.headerBytes + size > MAX_HEADER_BYTES)
            throw new WavFormatError(`WAV header chunk "${id}" of ${size} bytes is too large`);
          this.state = { kind: 'skip', bytes: size + (size % 2) };
        }
        return undefined;
      }
      case 'skip': {
        if (state.bytes === 0) {
          this.state = { kind: 'chunk' };
          return undefined;
        }
        const n = Math.min(state.bytes, this.pending.length);
        if (n === 0) return undefined;
        this.consume(n);
        this.state = state.bytes === n ? { kind: 'chunk' } : { kind: 'skip', bytes: state.bytes - n };
        return undefined;
      }
      case 'fmt': {
        if (this.pending.length < state.bytes) return undefined;
        this.fmt = parseFmt(this.pending.subarray(0, state.bytes));
        this.consume(state.bytes);
        this.state = { kind: 'chunk' };
        return undefined;
      }
      case 'data':
        return this.readData(state.remaining);
      case 'done':
        this.pending = new Uint8Array(0);
        return undefined;
    }
  }

  private readData(remaining: number | undefined): Int16Array | undefined {
    const fmt = this.fmt as WavFormat;
    const frameBytes = (fmt.bitsPerSample / 8) * fmt.channels;
    const available =
      remaining === undefined ? this.pending.length : Math.min(remaining, this.pending.length);
    const usable = available - (available % frameBytes);
    if (usable === 0) {
      if (remaining !== undefined && remaining < frameBytes) this.state = { kind: 'done' };
      return undefined;
    }
    const samples = decodeFrames(this.pending.subarray(0, usable), fmt);
    this.pending = this.pending.subarray(usable);
    if (remaining !== undefined) {
      const left = remaining - usable;
      // A known size ends the audio: whatever follows (LIST trailers, junk) would click if played.
      this.state = left < frameBytes ? { kind: 'done' } : { kind: 'data', remaining: left };
    }
    return samples;
  }

  private consume(n: number): void {
    this.pending = this.pending.subarray(n);
    this.headerBytes += n;
  }
}

function parseFmt(chunk: Uint8Array): WavFormat {
  if (chunk.length < 16) throw new WavFormatError('WAV fmt chunk too short');
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
  let tag = view.getUint16(0, true);
  const channels = view.getUint16(2, true);
  const sampleRate = view.getUint32(4, true);
  const bitsPerSample = view.getUint16(14, true);
  if (tag === FORMAT_EXTENSIBLE && chunk.length >= 26) tag = view.getUint16(24, true);
  if (channels < 1 || sampleRate < 1)
    throw new WavFormatError('WAV fmt chunk has no channels or no sample rate');
  if (sampleRate < MIN_UPSTREAM_RATE || sampleRate > MAX_UPSTREAM_RATE)
    throw new WavFormatError(
      `WAV sample rate ${sampleRate} Hz is outside ${MIN_UPSTREAM_RATE}..${MAX_UPSTREAM_RATE} Hz`,
    );
  if (channels > MAX_CHANNELS) throw new WavFormatError(`WAV with ${channels} channels is not supported`);
  if (tag === FORMAT_PCM && [8, 16, 24, 32].includes(bitsPerSample)) {
    return { formatTag: FORMAT_PCM, channels, sampleRate, bitsPerSample };
  }
  if (tag === FORMAT_FLOAT && bitsPerSample === 32)
    return { formatTag: FORMAT_FLOAT, channels, sampleRate, bitsPerSample };
  throw new WavFormatError(`unsupported WAV encoding (format ${tag}, ${bitsPerSample} bits)`);
}

function decodeFrames(bytes: Uint8Array, fmt: WavFormat): Int16Array {
  if (fmt.formatTag === FORMAT_PCM && fmt.bitsPerSample === 16 && fmt.channels === 1) {
    return pcm16FromLittleEndian(bytes);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const width = fmt.bitsPerSample / 8;
  const frames = bytes.length / (width * fmt.channels);
  const out = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < fmt.channels; c++) sum += readSample(view, (f * fmt.channels + c) * width, fmt);
    out[f] = Math.max(-32768, Math.min(32767, Math.round(sum / fmt.channels)));
  }
  return out;
}

/** One sample scaled to the s16 range. */
function readSample(view: DataView, at: number, fmt: WavFormat): number {
  if (fmt.formatTag === FORMAT_FLOAT) return view.getFloat32(at, true) * 32767;
  switch (fmt.bitsPerSample) {
    case 8:
      return (view.getUint8(at) - 128) * 256;
    case 16:
      return view.getInt16(at, true);
    case 24:
      return ((view.getUint8(at + 2) << 24) | (view.getUint8(at + 1) << 16) | (view.getUint8(at) << 8)) >> 16;
    default:
      return view.getInt32(at, true) / 65536;
  }
}

function ascii(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) + bytes[at + 3] * 0x1000000;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
