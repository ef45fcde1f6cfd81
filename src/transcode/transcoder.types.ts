import type { AudioFormat } from './audio-format';

/**
 * One stateful encoder per stream: push mono s16 PCM at `sampleRate`, get the bytes the codec has ready
 * (possibly none), and at the end flush what it still holds. Concatenating every returned chunk gives one
 * valid stream of the format (one header, one continuous codec stream).
 *
 * The methods are async so an implementation may run the codec on a worker thread; in-process encoders
 * simply resolve at once. Calls on one encoder are made strictly one after another.
 */
export interface AudioEncoder {
  readonly format: AudioFormat;
  readonly sampleRate: number;
  encode(pcm: Int16Array): Promise<Uint8Array>;
  /** Flushes the codec and container (Ogg EOS page, MP3 tail frames). The encoder is unusable afterwards. */
  flush(): Promise<Uint8Array>;
  /** Frees native/wasm/worker resources without flushing (client went away). Safe to call twice. */
  dispose(): void;
}

export interface EncoderOptions {
  format: AudioFormat;
  sampleRate: number;
  /**
   * The whole output will be kept as one file (the `/file` route): a container may then write exact sizes
   * (WAV) instead of streaming placeholders. Encoders that cannot seek ignore it.
   */
  wholeFile?: boolean;
}

/** Builds encoders for the formats it knows. Each codec family registers one. */
export interface AudioEncoderFactory {
  readonly formats: readonly AudioFormat[];
  create(options: EncoderOptions): AudioEncoder;
  /**
   * Whether `format` can be produced on this machine right now (a factory may depend on an external binary,
   * such as ffmpeg). Omitted: always available.
   */
  isAvailable?(format: AudioFormat): boolean;
}
