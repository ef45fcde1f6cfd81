/**
 * The seam between the gateway and a text-to-speech engine.
 *
 * Every engine (built-in tone generator, espeak-ng, Coqui tts-server, OpenAI-compatible servers, ...) is one
 * Nest provider class implementing `TtsProvider`. The engine yields mono signed 16-bit PCM at whatever rate
 * it produces natively (declared on every chunk); the gateway resamples and encodes. Engines never see
 * client formats, sockets or sessions.
 */

export const PROVIDER_IDS = ['mock_tone', 'espeak', 'coqui', 'openai'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];

export type VoiceGender = 'female' | 'male' | 'neutral';

export interface ProviderCapabilities {
  /** Yields audio while synthesizing (true), or only after whole sentences (false). */
  readonly streaming: boolean;
  /**
   * The SSML dialect the engine takes in `SynthesisRequest.ssml`, or false. The gateway renders every SSML
   * feature itself for any engine (segments, rate, volume, breaks, marks); the dialect is only used for what
   * it cannot render (pitch, emphasis). espeak-ng's is the only dialect rendered today (`toEspeakSsml`);
   * another engine's dialect needs its own renderer next to it.
   */
  readonly ssml: false | 'espeak';
  /**
   * Exact word timings (`source: "native"`), known from the engine's own rendering plan; otherwise the
   * gateway estimates them from the audio. Only the tone generator today (`nativeToneTimings`).
   */
  readonly wordTimings: boolean;
  /** Typical output rate; the rate on each AudioChunk is authoritative. */
  readonly nativeSampleRate: number;
}

export interface Voice {
  /** Unique within the provider; the id clients send as `voice`. */
  readonly id: string;
  readonly name: string;
  readonly provider: ProviderId;
  /** Primary BCP-47 tag, canonical case (`en-US`). */
  readonly language: string;
  /** Every BCP-47 tag the voice speaks, primary first. */
  readonly languages: readonly string[];
  readonly gender?: VoiceGender;
  readonly sampleRateHz: number;
  /** Engine-specific extras that clients may find useful (e.g. an espeak variant). */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

/** What the gateway asks an engine to say. Text is already normalized; voice and language are validated. */
export interface SynthesisRequest {
  readonly text: string;
  readonly voice: Voice;
  readonly language: string;
  /** 0.25..4, 1 = natural pace. */
  readonly speed: number;
  /** For log correlation only. */
  readonly sessionId?: string;
  /**
   * The same utterance as SSML in the engine's dialect (`capabilities.ssml`; espeak-ng's `-m`): used
   * instead of `text` when set.
   */
  readonly ssml?: string;
}

export interface AudioChunk {
  /** Mono signed 16-bit samples. */
  readonly pcm: Int16Array;
  readonly sampleRate: number;
}

export interface ProviderHealth {
  readonly up: boolean;
  /** Why it is down (binary missing, server unreachable ...), for /readyz and /v1/voices. */
  readonly reason?: string;
}

export interface TtsProvider {
  readonly id: ProviderId;
  readonly displayName: string;
  readonly capabilities: ProviderCapabilities;

  /** Voices this engine offers now. May query the engine; callers cache. */
  listVoices(signal?: AbortSignal): Promise<Voice[]>;

  checkHealth(signal?: AbortSignal): Promise<ProviderHealth>;

  /**
   * Streams the utterance as PCM chunks, in order, as soon as they exist. Must stop promptly (and release
   * processes, sockets and timers) when `signal` aborts; throw `ProviderError` subclasses on failure.
   */
  synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncIterable<AudioChunk>;

  /**
   * What, besides the request, makes this engine's audio what it is (server, model, binary version), for
   * the audio cache's key: a change of model must not serve the old model's audio. Default: nothing.
   */
  cacheIdentity?(): string;
}

/**
 * How an engine failed, for the circuit breaker: `transport` (unreachable, refused, reset before an answer)
 * never depends on the input, so it always counts; `response` (5xx, garbage, a stall) might be caused by one
 * text; `rate_limited` (429) is the engine asking us to slow down and never opens the circuit by itself.
 */
export type ProviderFailureKind = 'transport' | 'response' | 'rate_limited';

export interface ProviderErrorOptions {
  cause?: unknown;
  kind?: ProviderFailureKind;
  /** From an upstream `Retry-After`. */
  retryAfterSeconds?: number;
  /**
   * What a client may be told: a category ("answered HTTP 500", "timed out"), never an upstream body, URL,
   * host or path. The full `message` goes to the log only.
   */
  publicReason?: string;
}

/** Base for failures inside an engine; the orchestration maps them to stable error codes. */
export class ProviderError extends Error {
  readonly kind: ProviderFailureKind;
  readonly retryAfterSeconds: number | undefined;
  readonly publicReason: string;

  constructor(
    readonly providerId: ProviderId,
    message: string,
    /** A retry (or another provider) might succeed: network errors, 5xx, timeouts. */
    readonly retryable = true,
    options: ProviderErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.kind = options.kind ?? 'response';
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.publicReason = options.publicReason ?? 'the engine failed';
  }
}

export class ProviderTimeoutError extends ProviderError {
  constructor(providerId: ProviderId, message: string, publicReason = 'timed out') {
    super(providerId, message, true, { publicReason });
    this.name = 'ProviderTimeoutError';
  }
}

/** The gateway refuses to call the provider for now (its circuit is open after repeated failures). */
export class ProviderUnavailableError extends ProviderError {
  constructor(
    providerId: ProviderId,
    retryAfterSeconds: number,
    reason = 'circuit open after repeated failures',
  ) {
    const message = `provider "${providerId}" is unavailable (${reason}); retry in ${retryAfterSeconds} s`;
    super(providerId, message, true, { publicReason: message, retryAfterSeconds });
    this.name = 'ProviderUnavailableError';
  }
}

/** The provider is at its concurrency cap and its queue is full (bulkhead). */
export class ProviderBusyError extends ProviderError {
  constructor(providerId: ProviderId, concurrency: number, queue: number) {
    const message = `provider "${providerId}" is busy: ${concurrency} requests running and ${queue} waiting, its limits; retry shortly or choose another provider`;
    super(providerId, message, true, { publicReason: message, retryAfterSeconds: 1 });
    this.name = 'ProviderBusyError';
  }
}

/** The request asked for something this engine cannot do (SSML, word timings, a missing voice ...). */
export class UnsupportedCapabilityError extends ProviderError {
  constructor(providerId: ProviderId, message: string) {
    super(providerId, message, false, { publicReason: message });
    this.name = 'UnsupportedCapabilityError';
  }
}
