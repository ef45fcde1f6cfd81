import type { AudioFormat } from '../api/types';
import { WholeFilePlayer } from './file-player';
import { MsePlayer } from './mse-player';
import { PcmStreamPlayer } from './pcm-player';
import type { PlayerKind, PlayerOptions, StreamPlayer } from './player';
import { WebCodecsPlayer } from './webcodecs-player';

/** What this browser can do, found by feature detection once at start. */
export interface PlaybackSupport {
  worklet: boolean;
  webcodecs: { mp3: boolean; opus: boolean };
  /** MediaSource with `audio/mpeg` (Chromium's takes MP3 but not Ogg). */
  mseMp3: boolean;
}

export const NO_SUPPORT: PlaybackSupport = {
  worklet: false,
  webcodecs: { mp3: false, opus: false },
  mseMp3: false,
};

export async function detectPlaybackSupport(): Promise<PlaybackSupport> {
  const { worklet, mseMp3 } = guessPlaybackSupport();
  const decodes = async (config: AudioDecoderConfig) => {
    if (typeof AudioDecoder !== 'function') return false;
    try {
      return (await AudioDecoder.isConfigSupported(config)).supported === true;
    } catch {
      return false; // an insecure context or a browser that throws for unknown codecs
    }
  };
  const [mp3, opus] = await Promise.all([
    decodes({ codec: 'mp3', sampleRate: 24000, numberOfChannels: 1 }),
    decodes({ codec: 'opus', sampleRate: 48000, numberOfChannels: 1 }),
  ]);
  return { worklet, webcodecs: { mp3: worklet && mp3, opus: worklet && opus }, mseMp3 };
}

/**
 * What can be told without waiting (for a Speak before `detectPlaybackSupport` has answered): WebCodecs is
 * assumed to decode both codecs when it exists.
 */
export function guessPlaybackSupport(): PlaybackSupport {
  const worklet = typeof AudioWorkletNode === 'function' && typeof AudioContext === 'function';
  const webcodecs = worklet && typeof AudioDecoder === 'function';
  const mseMp3 = typeof MediaSource === 'function' && MediaSource.isTypeSupported('audio/mpeg');
  return { worklet, webcodecs: { mp3: webcodecs, opus: webcodecs }, mseMp3 };
}

/**
 * The way to play `format` live: raw formats through the worklet; MP3 and Opus through WebCodecs when it
 * decodes them, else MP3 through MediaSource, else the whole file after the stream. `preferred` (the
 * `?player=` URL parameter) wins when it can play the format. Null: this browser cannot play it at all.
 */
export function choosePlayer(
  format: AudioFormat,
  support: PlaybackSupport,
  preferred?: PlayerKind | null,
): PlayerKind | null {
  const candidates: PlayerKind[] = [];
  if (format === 'mp3' || format === 'opus') {
    if (support.webcodecs[format]) candidates.push('webcodecs');
    if (format === 'mp3' && support.mseMp3) candidates.push('mse');
    if (support.worklet) candidates.push('file');
  } else if (support.worklet) {
    candidates.push('worklet');
  }
  if (preferred && candidates.includes(preferred)) return preferred;
  return candidates[0] ?? null;
}

export function describePlayer(kind: PlayerKind | null, format: AudioFormat): string {
  switch (kind) {
    case 'worklet':
      return format === 'wav'
        ? 'live: WAV header skipped, samples to an AudioWorklet'
        : 'live: decoded in JavaScript, played by an AudioWorklet';
    case 'webcodecs':
      return `live: WebCodecs AudioDecoder (${format === 'opus' ? 'Ogg demuxed here' : 'MP3 frames split here'}) into an AudioWorklet`;
    case 'mse':
      return 'live: MediaSource (audio/mpeg)';
    case 'file':
      return 'after the stream: this browser cannot decode it as it arrives';
    case null:
      return 'this browser cannot play it (no AudioWorklet)';
  }
}

export function createPlayer(kind: PlayerKind, format: AudioFormat, options: PlayerOptions): StreamPlayer {
  switch (kind) {
    case 'worklet':
      if (format === 'mp3' || format === 'opus') throw new Error(`${format} needs a decoder`);
      return new PcmStreamPlayer(format, options);
    case 'webcodecs':
      if (format !== 'mp3' && format !== 'opus') throw new Error(`${format} is not a WebCodecs format`);
      return new WebCodecsPlayer(format, options);
    case 'mse':
      return new MsePlayer(options);
    case 'file':
      return new WholeFilePlayer({ ...options, sampleRate: format === 'opus' ? 48000 : options.sampleRate });
  }
}
