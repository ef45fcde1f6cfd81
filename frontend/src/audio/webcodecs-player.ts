import { Mp3FrameSplitter, type Mp3Frame } from './mp3';
import { OggOpusDemuxer, type OpusPacket } from './ogg-opus';
import { mixToMono } from './pcm';
import { PcmOutput } from './pcm-output';
import type { PlaybackStats } from './playback-stats';
import type { PlayerOptions, StreamPlayer } from './player';

/** Browsers' Opus decoders always give 48 kHz. */
const OPUS_RATE = 48000;

/**
 * MP3 and Opus through WebCodecs `AudioDecoder`, as the stream arrives: MP3 split into frames, Ogg Opus
 * demuxed into packets (OpusHead as the decoder's description), each decoded chunk played by the worklet.
 */
export class WebCodecsPlayer implements StreamPlayer {
  readonly kind = 'webcodecs' as const;
  onStats: ((stats: PlaybackStats) => void) | null = null;
  onError: ((message: string) => void) | null = null;
  private readonly output: PcmOutput;
  private readonly mp3 = new Mp3FrameSplitter();
  private readonly ogg = new OggOpusDemuxer();
  private decoder: AudioDecoder | null = null;
  private stopped = false;
  private timestampUs = 0;

  constructor(
    private readonly format: 'mp3' | 'opus',
    options: PlayerOptions,
  ) {
    this.output = new PcmOutput(format === 'opus' ? OPUS_RATE : options.sampleRate, options.prebufferMs);
    this.output.onStats = (s) => this.onStats?.(s);
    this.output.onError = (m) => this.onError?.(m);
  }

  get analyser() {
    return this.output.analyser;
  }

  push(bytes: Uint8Array): void {
    if (this.stopped) return;
    try {
      if (this.format === 'mp3') this.decodeMp3(this.mp3.push(bytes));
      else this.decodeOpus(this.ogg.push(bytes));
    } catch (error) {
      this.fail(error);
    }
  }

  end(): void {
    if (this.stopped) return;
    try {
      if (this.format === 'mp3') this.decodeMp3(this.mp3.end());
    } catch (error) {
      this.fail(error);
    }
    const flushed =
      this.decoder && this.decoder.state === 'configured' ? this.decoder.flush() : Promise.resolve();
    flushed.then(
      () => this.output.end(),
      (error: unknown) => (this.stopped ? undefined : this.fail(error)),
    );
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.output.stop();
  }

  stats(): PlaybackStats {
    return this.output.stats;
  }

  private decodeMp3(frames: Mp3Frame[]): void {
    for (const { header, data } of frames) {
      this.ensureDecoder({ codec: 'mp3', sampleRate: header.sampleRate, numberOfChannels: header.channels });
      const duration = (header.samplesPerFrame / header.sampleRate) * 1e6;
      this.decoder!.decode(
        new EncodedAudioChunk({ type: 'key', timestamp: this.timestampUs, duration, data }),
      );
      this.timestampUs += duration;
    }
  }

  private decodeOpus(packets: OpusPacket[]): void {
    const head = this.ogg.head;
    if (!head) return;
    this.ensureDecoder({
      codec: 'opus',
      sampleRate: OPUS_RATE,
      numberOfChannels: head.channels,
      description: head.raw,
    });
    for (const p of packets) {
      this.decoder!.decode(
        new EncodedAudioChunk({
          type: 'key',
          timestamp: (p.start48k / OPUS_RATE) * 1e6,
          duration: (p.samples48k / OPUS_RATE) * 1e6,
          data: p.data,
        }),
      );
    }
  }

  private ensureDecoder(config: AudioDecoderConfig): void {
    if (this.decoder) return;
    this.decoder = new AudioDecoder({
      output: (data) => this.onAudioData(data),
      error: (error) => (this.stopped ? undefined : this.fail(error)),
    });
    this.decoder.configure(config);
  }

  private onAudioData(data: AudioData): void {
    try {
      if (this.stopped) return;
      const planes = Array.from({ length: data.numberOfChannels }, (_, c) => {
        const plane = new Float32Array(data.numberOfFrames);
        data.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
        return plane;
      });
      this.output.push(planes.length === 1 ? planes[0] : mixToMono(planes), data.sampleRate);
    } finally {
      data.close();
    }
  }

  private fail(error: unknown): void {
    this.onError?.(`The ${this.format} decoder failed: ${(error as Error)?.message ?? String(error)}`);
  }
}
