import type { ProviderId, SynthesisRequest, Voice } from '../providers/provider.contract';
import type { SsmlSegment } from '../text/ssml';
import type { WordTiming } from '../text/word-timings';
import type { AudioFormat } from '../transcode/audio-format';

/** Which public route a synthesis serves (a metric label and a log field). */
export type SynthesisRoute = 'stream' | 'file' | 'speech' | 'live';

/**
 * Who asked, for fairness and for the breaker: one client's (or one text's) failures must not open a
 * provider's circuit for everyone. `client` is the caller's identity (API key name, else IP); `input` a
 * digest of what was asked (text and voice), so a text that makes an engine fail every time counts once.
 */
export interface SynthesisSource {
  readonly client: string;
  readonly input: string;
}

/** One way to voice the utterance: a provider and the request it gets. */
export interface SynthesisAttempt {
  readonly providerId: ProviderId;
  readonly request: SynthesisRequest;
  /** SSML `<voice name>` values resolved to this provider's voices (unknown names keep the request voice). */
  readonly segmentVoices?: Readonly<Record<string, Voice>>;
}

export type FailoverMode = 'before_audio' | 'mid_stream';
export const FAILOVER_MODES: readonly FailoverMode[] = ['before_audio', 'mid_stream'];

export interface SynthesisPlan {
  /** The chosen provider first, then its fallbacks, in order. */
  readonly attempts: readonly SynthesisAttempt[];
  readonly format: AudioFormat;
  readonly sampleRate: number;
  /** Produce one file with exact container sizes instead of a live stream. */
  readonly wholeFile?: boolean;
  /**
   * `before_audio` (default): fall back only before the first audio. `mid_stream`: also after audio
   * started, restarting on the fallback at the beginning of the interrupted sentence.
   */
  readonly failover?: FailoverMode;
  readonly source: SynthesisSource;
  /** Longest audio the plan may produce (MAX_AUDIO_SECONDS); longer fails with `audio_too_long`. */
  readonly maxAudioSeconds?: number;
  /** SSML: the segments the gateway renders (voice, rate, volume, exact breaks, marks) for any engine. */
  readonly segments?: readonly SsmlSegment[];
  /** Whether the audio cache may serve and store this plan (default true). */
  readonly cache?: boolean;
  /** Word timings: sentence by sentence, each sentence's timings before its audio. */
  readonly timings?: boolean;
}

/** The words of one sentence with their times on the stream (offsets into the spoken text). */
export interface SentenceTimings {
  readonly words: readonly WordTiming[];
  readonly source: 'native' | 'estimated';
}

/** An SSML `<mark>` reached on the stream, at `startMs` of output audio. */
export interface StreamMark {
  readonly name: string;
  readonly startMs: number;
}

/** A mid-stream change of engine, announced in-band before the fallback's first audio. */
export interface ProviderSwitch {
  readonly from: ProviderId;
  readonly to: ProviderId;
  /** Character offset in the text where the fallback restarts (the start of the interrupted sentence). */
  readonly textOffset: number;
}

/** Encoded bytes ready for the wire, with the provider that made them and the audio they hold. */
export interface EncodedAudio {
  readonly data: Uint8Array;
  readonly providerId: ProviderId;
  /** Milliseconds of audio encoded so far (at the output rate). */
  readonly audioMs: number;
  /** Set on the first chunk after a mid-stream failover. */
  readonly switched?: ProviderSwitch;
  /** SSML marks reached just before this chunk's audio (the chunk may then carry no data). */
  readonly marks?: readonly StreamMark[];
  /** Word timings of the audio that follows (the chunk then carries no data). */
  readonly timings?: SentenceTimings;
  /** The PCM came from the audio cache (a stored entry or a joined synthesis), not a new engine call. */
  readonly fromCache?: boolean;
}
