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
  /**
   * `pcm` is only borrowed for the synchronous part of the call: an encoder copies what it keeps or hands
   * on, so the caller may reuse the buffer as soon as `encode` returns (before the promise settles).
   */
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
  /**
   * With `wholeFile`: the exact number of samples (at `sampleRate`, i.e. after resampling) the stream will
   * carry, known in advance when the caller holds the whole utterance (`TranscodeService.outputSamples`
   * converts an input count). Containers then carry the length in their header: WAV streams its exact RIFF
   * sizes from the first bytes, FLAC's STREAMINFO gets the total sample count, MP3 gets a Xing/Info frame
   * with LAME's delay and padding (frames are held until `flush()` for that). Writing more samples than
   * promised, or fewer by `flush()`, fails the encoder: the header would lie. Ignored without `wholeFile`
   * and by formats that signal the length anyway (Opus: the EOS granule) or cannot (raw PCM, G.711, ADTS).
   */
  totalSamples?: number;
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
  /**
   * A stream in `format` has been announced (a session was created; its encoder opens when the client
   * connects): start now what the first encoder would otherwise wait for, such as codec threads. Cheap and
   * idempotent; TranscodeService ignores a failure (the encoder's own open reports it). Omitted: nothing to
   * prepare.
   */
  prepare?(format: AudioFormat): void;
}
