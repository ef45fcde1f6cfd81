import { Inject, Injectable, Logger } from '@nestjs/common';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import {
  ProviderError,
  type AudioChunk,
  type ProviderCapabilities,
  type ProviderHealth,
  type SynthesisRequest,
  type TtsProvider,
  type Voice,
} from '../provider.contract';
import { Pcm16Decoder } from '../audio/pcm';
import { WavFormatError, WavStreamReader } from '../audio/wav-reader';
import { synthesizeSegments } from '../sentence-pipeline';
import {
  HttpStatusError,
  bodyReadError,
  errorMessage,
  joinUrl,
  readTextBounded,
  startRequest,
  type HttpPeer,
  type StartedRequest,
} from '../shared/http';
import { groupSegments, splitSentences } from '../text/sentence-splitter';
import {
  OPENAI_BUILTIN_VOICES,
  OPENAI_PCM_SAMPLE_RATE,
  openAiVoice,
  parseVoicesResponse,
  type VoiceEntry,
} from './openai-voices';

/**
 * Characters per request, growing: the first request is one sentence (fast first audio even from servers
 * that render a whole request before sending any of it), later ones are larger (fewer requests, fewer
 * prosody breaks), and none exceeds OpenAI's 4096-character `input` limit.
 */
const REQUEST_BUDGETS = [0, 800, 2000, 4000]; // 0: the first sentence alone
const MAX_SEGMENT_CHARS = 250;
/** Until the response head; the body then streams as long as it needs (the gateway watches for stalls). */
const HEAD_TIMEOUT_MS = 30_000;
const DISCOVERY_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 3000;
const VOICES_TTL_MS = 5 * 60_000;
const COMPRESSED_TYPES = /audio\/(mpeg|mp3|ogg|opus|aac|flac|mp4|webm)/i;

/**
 * Any OpenAI-compatible speech server (OpenAI itself, Kokoro-FastAPI, openedai-speech, speaches, LiteLLM,
 * Coqui idiap's `/v1/audio/speech` ...) at `OPENAI_TTS_BASE_URL`.
 *
 * Base URL: like the OpenAI SDK's, it is the API root *including* the version, `http://host:8880/v1`. A
 * URL whose path does not end in a version segment (`http://host:8880`, `http://host/kokoro`) gets `/v1`
 * appended, so both spellings work; a root with another version (`.../v2`) is kept as given.
 *
 * Audio: `response_format: "pcm"` (24 kHz s16le mono, no header) streamed into chunks as the body arrives,
 * carrying odd bytes across network chunks. Servers that break the contract are handled: a WAV body
 * (RIFF header) is parsed for its real rate, an `audio/L16; rate=N` type is honoured, compressed audio is
 * refused with a clear error.
 *
 * Long texts go through the sentence pipeline with growing request sizes (`REQUEST_BUDGETS`) and one
 * request of look-ahead: servers that stream lose nothing (the first request is small and streams), servers
 * that render whole requests first still start after one sentence, and no request exceeds 4096 characters.
 *
 * The API key is sent as a Bearer token and never logged or put into an error message (servers that echo
 * it back, even masked, are redacted).
 */
@Injectable()
export class OpenAiProvider implements TtsProvider {
  readonly id = 'openai' as const;
  readonly displayName = 'OpenAI-compatible TTS';
  readonly capabilities: ProviderCapabilities = {
    streaming: true,
    ssml: false,
    wordTimings: false,
    nativeSampleRate: OPENAI_PCM_SAMPLE_RATE,
  };

  private readonly logger = new Logger(OpenAiProvider.name);
  private readonly baseUrl: string | undefined;
  private readonly peer: HttpPeer;
  private voices: { at: number; value: Promise<Voice[]> } | undefined;

  constructor(@Inject(providersConfig.KEY) private readonly config: ProvidersConfig) {
    this.baseUrl = normalizeOpenAiBaseUrl(config.openai.baseUrl);
    this.peer = {
      providerId: this.id,
      label: `OpenAI-compatible server at ${this.baseUrl ?? '(OPENAI_TTS_BASE_URL unset)'}`,
      secrets: config.openai.apiKey ? [config.openai.apiKey] : [],
    };
  }

  /** Server and model make the audio: a new model must not be served the old model's cached audio. */
  cacheIdentity(): string {
    return `${this.baseUrl ?? ''}|${this.config.openai.model}`;
  }

  /**
   * `OPENAI_TTS_VOICES` first, then what `GET {base}/audio/voices` lists (Kokoro and others have it;
   * OpenAI does not); with neither, OpenAI's built-in names.
   */
  listVoices(): Promise<Voice[]> {
    const cached = this.voices;
    if (cached && performance.now() - cached.at < VOICES_TTL_MS) return cached.value;
    const value = this.discoverVoices().then((discovered) => {
      const entries: VoiceEntry[] = this.config.openai.voices.map((id) => ({ id }));
      for (const entry of discovered ?? []) {
        const configured = entries.findIndex((e) => e.id === entry.id);
        if (configured >= 0) entries[configured] = entry;
        else entries.push(entry);
      }
      if (entries.length === 0) entries.push(...OPENAI_BUILTIN_VOICES.map((id) => ({ id })));
      // Not cached when the server could not be asked: it may list voices once it is up.
      if (discovered === undefined) this.voices = undefined;
      return entries.map(openAiVoice);
    });
    this.voices = { at: performance.now(), value };
    return value;
  }

  /**
   * Up when `GET {base}/models` answers 2xx. A 404/405 there (not every compatible server has it) falls back
   * to `GET {base}/audio/voices`, and any answer below 500 counts as up: the server is there, and
   * synthesis errors will say what is wrong. 401/403 is down: every request would be refused.
   */
  async checkHealth(signal?: AbortSignal): Promise<ProviderHealth> {
    if (!this.baseUrl) return { up: false, reason: 'OPENAI_TTS_BASE_URL is not set' };
    const probe = async (path: string): Promise<ProviderHealth & { missing?: boolean }> => {
      try {
        const started = await this.get(path, signal ?? new AbortController().signal, HEALTH_TIMEOUT_MS);
        started.release();
        return { up: true };
      } catch (error) {
        if (signal?.aborted) return { up: false, reason: `${this.peer.label} did not answer in time` };
        const reason = errorMessage(error);
        if (!(error instanceof HttpStatusError)) return { up: false, reason };
        if (error.status === 401 || error.status === 403) {
          return { up: false, reason: `${reason} (check OPENAI_TTS_API_KEY)` };
        }
        if (error.status >= 500) return { up: false, reason };
        return { up: true, missing: error.status === 404 || error.status === 405 };
      }
    };
    const models = await probe('models');
    if (!models.missing) return { up: models.up, ...(models.reason ? { reason: models.reason } : {}) };
    const voices = await probe('audio/voices');
    return { up: voices.up, ...(voices.reason ? { reason: voices.reason } : {}) };
  }

  async *synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    this.requireBaseUrl();
    const sentences = splitSentences(request.text, { maxChars: MAX_SEGMENT_CHARS, locale: request.language });
    yield* synthesizeSegments(
      groupSegments(sentences, REQUEST_BUDGETS),
      (segment, _index, segmentSignal) => this.speech(segment.text, request, segmentSignal),
      signal,
      { lookAhead: 1, speed: request.speed },
    );
  }

  /** One `POST /audio/speech`, its body streamed as PCM chunks as the bytes arrive. */
  private async *speech(
    input: string,
    request: SynthesisRequest,
    signal: AbortSignal,
  ): AsyncGenerator<AudioChunk> {
    const body = {
      model: this.config.openai.model,
      input,
      voice: request.voice.id,
      response_format: 'pcm',
      speed: request.speed,
    };
    const started = await startRequest(
      this.peer,
      joinUrl(this.baseUrl as string, 'audio/speech'),
      {
        method: 'POST',
        headers: { ...this.authHeaders(), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      signal,
      HEAD_TIMEOUT_MS,
    );
    try {
      const contentType = started.response.headers.get('content-type') ?? '';
      if (COMPRESSED_TYPES.test(contentType)) {
        throw new ProviderError(
          this.id,
          `${this.peer.label} ignored response_format "pcm" and sent ${contentType}`,
          false,
          { publicReason: 'sent compressed audio instead of PCM' },
        );
      }
      const decoder = new BodyDecoder(rateFromContentType(contentType) ?? OPENAI_PCM_SAMPLE_RATE);
      if (started.response.body) {
        for await (const bytes of started.response.body as unknown as AsyncIterable<Uint8Array>) {
          const chunk = this.decode(decoder, bytes);
          if (chunk) yield chunk;
        }
      }
      this.decode(decoder, undefined);
    } catch (error) {
      throw bodyReadError(this.peer, error, started.signal);
    } finally {
      started.release();
    }
  }

  private decode(decoder: BodyDecoder, bytes: Uint8Array | undefined): AudioChunk | undefined {
    try {
      return bytes ? decoder.push(bytes) : decoder.end();
    } catch (error) {
      if (!(error instanceof WavFormatError)) throw error;
      // Retryable: a server that sends garbage should be failed over, like one that answers 5xx.
      throw new ProviderError(this.id, `${this.peer.label} sent an unreadable WAV: ${error.message}`, true, {
        cause: error,
        publicReason: 'sent unreadable audio',
      });
    }
  }

  /** `undefined` when the server could not be asked; `[]` when it has no such endpoint. */
  private async discoverVoices(): Promise<VoiceEntry[] | undefined> {
    if (!this.baseUrl) return undefined;
    let started: StartedRequest;
    try {
      started = await this.get('audio/voices', new AbortController().signal, DISCOVERY_TIMEOUT_MS);
    } catch (error) {
      if (
        error instanceof HttpStatusError &&
        error.status < 500 &&
        error.status !== 401 &&
        error.status !== 403
      ) {
        return [];
      }
      this.logger.warn(`OpenAI-compatible voices not listed: ${errorMessage(error)}`);
      return undefined;
    }
    try {
      return parseVoicesResponse(
        JSON.parse(await readTextBounded(started.response, 1 << 20, started.signal)),
      );
    } catch {
      // Not JSON (an HTML page from a proxy, say): the server has no usable voice list.
      return [];
    } finally {
      started.release();
    }
  }

  private get(path: string, signal: AbortSignal, timeoutMs: number): Promise<StartedRequest> {
    return startRequest(
      this.peer,
      joinUrl(this.requireBaseUrl(), path),
      { method: 'GET', headers: this.authHeaders() },
      signal,
      timeoutMs,
    );
  }

  private authHeaders(): Record<string, string> {
    const key = this.config.openai.apiKey;
    return key ? { authorization: `Bearer ${key}` } : {};
  }

  private requireBaseUrl(): string {
    if (!this.baseUrl) throw new ProviderError(this.id, 'OPENAI_TTS_BASE_URL is not set', false);
    return this.baseUrl;
  }
}

/**
 * The API root with its version: `http://h:8880` → `http://h:8880/v1`, `http://h:8880/v1/` →
 * `http://h:8880/v1`, `https://h/api/openai` → `https://h/api/openai/v1`, `https://h/x/v2` unchanged.
 * Query and fragment are dropped. Undefined when unset or not a URL.
 */
export function normalizeOpenAiBaseUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  const path = url.pathname.replace(/\/+$/, '');
  const versioned = /\/v\d+(?:beta\d*|alpha\d*)?$/i.test(path) ? path : `${path}/v1`;
  return `${url.origin}${versioned}`;
}

function rateFromContentType(contentType: string): number | undefined {
  const match = /(?:^|;)\s*rate\s*=\s*(\d+)/i.exec(contentType);
  const rate = match ? Number(match[1]) : undefined;
  return rate && rate >= 8000 && rate <= 192000 ? rate : undefined;
}

/**
 * Raw s16le by contract; a body that starts with `RIFF` is a WAV (servers that ignore `response_format`)
 * and is parsed for its real rate instead of being played as noise.
 */
class BodyDecoder {
  private mode: 'sniffing' | 'pcm' | 'wav' = 'sniffing';
  private sniffed: Uint8Array = new Uint8Array(0);
  private readonly pcm = new Pcm16Decoder();
  private readonly wav = new WavStreamReader();

  constructor(private readonly pcmRate: number) {}

  push(bytes: Uint8Array): AudioChunk | undefined {
    let input = bytes;
    if (this.mode === 'sniffing') {
      input = concatBytes(this.sniffed, bytes);
      if (input.length < 4) {
        this.sniffed = input;
        return undefined;
      }
      this.mode = String.fromCharCode(...input.subarray(0, 4)) === 'RIFF' ? 'wav' : 'pcm';
      this.sniffed = new Uint8Array(0);
    }
    return this.chunk(input);
  }

  end(): AudioChunk | undefined {
    if (this.mode === 'wav') this.wav.end();
    if (this.mode !== 'sniffing' || this.sniffed.length === 0) return undefined;
    this.mode = 'pcm';
    return this.chunk(this.sniffed);
  }

  private chunk(bytes: Uint8Array): AudioChunk | undefined {
    const samples = this.mode === 'wav' ? this.wav.push(bytes) : this.pcm.push(bytes);
    if (samples.length === 0) return undefined;
    return {
      pcm: samples,
      sampleRate: this.mode === 'wav' ? (this.wav.format?.sampleRate ?? this.pcmRate) : this.pcmRate,
    };
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
