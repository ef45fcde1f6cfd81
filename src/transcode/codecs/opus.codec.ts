import { concatBytes } from '../bytes';
import { OPUS_COMPLEXITY, OPUS_FRAME_MS, opusBitrate, type SyncCodec } from './codec.types';
import { opusEncoderClass, type OpusEncoderHandle } from './opus-binding';
import {
  OGG_FLAG_BOS,
  OGG_FLAG_EOS,
  OGG_MAX_LACING_VALUES,
  lacingCount,
  oggPage,
  opusHead,
  opusTags,
} from './ogg';

const EMPTY = new Uint8Array(0);
/** Granules are always counted at 48 kHz, whatever the input rate (RFC 7845 §4). */
const GRANULE_RATE = 48000;
const VENDOR = 'tts-gateway (libopus via @evan/opus)';
/** libopus encoder CTLs (opus_defines.h). */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_VBR = 4006;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SIGNAL_VOICE = 3001;
const OPUS_GET_LOOKAHEAD = 4027;

export interface OpusCodecOptions {
  readonly sampleRate: number;
  readonly complexity?: number;
  readonly bitrate?: number;
  /** Ogg stream serial; random by default so concatenated files stay distinguishable. */
  readonly serial?: number;
}

/**
 * Ogg/Opus for one stream: 20 ms packets from libopus, grouped one page per input chunk (a page per packet
 * would add ~15% to a 32 kbps stream, codecs.md §7), partial frames held until the next chunk.
 *
 * Timing: OpusHead pre-skip = the encoder's lookahead in 48 kHz units; page granules count every decoded
 * sample including pre-skip; only the EOS page's granule (pre-skip + real samples) trims the zero padding,
 * so the stream decodes to exactly the input length with zero lag.
 */
export class OpusOggCodec implements SyncCodec {
  private readonly encoder: OpusEncoderHandle;
  private readonly frameSize: number;
  private readonly granulesPerFrame: number;
  private readonly granulesPerSample: number;
  /** Encoder lookahead at the input rate. */
  private readonly lookahead: number;
  private readonly serial: number;
  private readonly pending: Int16Array;
  private pendingLength = 0;
  private samplesIn = 0;
  private framesOut = 0;
  private pageSequence = 0;
  private headersSent = false;
  private finished = false;

  constructor(private readonly options: OpusCodecOptions) {
    const { sampleRate } = options;
    if (GRANULE_RATE % sampleRate !== 0) throw new RangeError(`Opus cannot encode at ${sampleRate} Hz`);
    const Encoder = opusEncoderClass();
    this.encoder = new Encoder({ channels: 1, sample_rate: sampleRate, application: 'audio' });
    this.encoder.ctl(OPUS_SET_COMPLEXITY, options.complexity ?? OPUS_COMPLEXITY);
    this.encoder.ctl(OPUS_SET_BITRATE, options.bitrate ?? opusBitrate(sampleRate));
    this.encoder.ctl(OPUS_SET_VBR, 1);
    // Keeps libopus in hybrid SILK+CELT mode for speech at every complexity (see OPUS_COMPLEXITY).
    this.encoder.ctl(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE);
    this.frameSize = (sampleRate * OPUS_FRAME_MS) / 1000;
    this.granulesPerSample = GRANULE_RATE / sampleRate;
    this.granulesPerFrame = this.frameSize * this.granulesPerSample;
    this.lookahead = this.encoder.ctl(OPUS_GET_LOOKAHEAD);
    this.serial = options.serial ?? Math.floor(Math.random() * 0x100000000);
    this.pending = new Int16Array(this.frameSize);
  }

  /** Pre-skip written in OpusHead, in 48 kHz samples. */
  get preSkip(): number {
    return this.lookahead * this.granulesPerSample;
  }

  encode(pcm: Int16Array): Uint8Array {
    this.assertOpen();
    this.samplesIn += pcm.length;
    const packets: Uint8Array[] = [];
    let offset = 0;
    if (this.pendingLength > 0) {
      const take = Math.min(this.frameSize - this.pendingLength, pcm.length);
      this.pending.set(pcm.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      offset = take;
      if (this.pendingLength === this.frameSize) {
        packets.push(this.encodeFrame(this.pending));
        this.pendingLength = 0;
      }
    }
    for (; offset + this.frameSize <= pcm.length; offset += this.frameSize) {
      packets.push(this.encodeFrame(pcm.subarray(offset, offset + this.frameSize)));
    }
    if (offset < pcm.length) {
      this.pending.set(pcm.subarray(offset), 0);
      this.pendingLength = pcm.length - offset;
    }
    return this.output(packets, false);
  }

  flush(): Uint8Array {
    this.assertOpen();
    // Enough frames for every real sample to come out of the encoder's lookahead; the rest is padding that
    // the EOS granule trims.
    const framesNeeded = Math.max(1, Math.ceil((this.samplesIn + this.lookahead) / this.frameSize));
    const packets: Uint8Array[] = [];
    while (this.framesOut < framesNeeded) {
      this.pending.fill(0, this.pendingLength);
      this.pendingLength = 0;
      packets.push(this.encodeFrame(this.pending));
    }
    const out = this.output(packets, true);
    this.free();
    return out;
  }

  free(): void {
    this.finished = true;
    // @evan/opus frees the libopus state in its GC finalizer; there is no explicit destroy.
  }

  private encodeFrame(frame: Int16Array): Uint8Array {
    this.framesOut++;
    return this.encoder.encode(frame); // a copy of the binding's scratch buffer (see opus-binding.ts)
  }

  private output(packets: readonly Uint8Array[], eos: boolean): Uint8Array {
    const parts: Uint8Array[] = [];
    if (!this.headersSent) {
      this.headersSent = true;
      // OpusHead must be alone on the first (BOS) page, OpusTags alone on the second; both have granule 0.
      parts.push(this.page([opusHead(this.preSkip, this.options.sampleRate)], 0, OGG_FLAG_BOS));
      parts.push(this.page([opusTags(VENDOR)], 0, 0));
    }
    let granule = (this.framesOut - packets.length) * this.granulesPerFrame;
    let group: Uint8Array[] = [];
    let lacing = 0;
    for (let i = 0; i < packets.length; i++) {
      const need = lacingCount(packets[i].length);
      if (lacing + need > OGG_MAX_LACING_VALUES) {
        parts.push(this.page(group, granule, 0));
        group = [];
        lacing = 0;
      }
      group.push(packets[i]);
      lacing += need;
      granule += this.granulesPerFrame;
    }
    if (group.length > 0) {
      const last = eos ? this.preSkip + this.samplesIn * this.granulesPerSample : granule;
      parts.push(this.page(group, last, eos ? OGG_FLAG_EOS : 0));
    }
    return parts.length === 0 ? EMPTY : concatBytes(parts);
  }

  private page(packets: readonly Uint8Array[], granule: number, flags: number): Uint8Array {
    return oggPage({ packets, granule, serial: this.serial, sequence: this.pageSequence++, flags });
  }

  private assertOpen(): void {
    if (this.finished) throw new Error('Opus encoder already flushed or freed');
  }
}
