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
import { slicePcm } from '../audio/pcm';
import { WavFormatError, WavStreamReader } from '../audio/wav-reader';
import { synthesizeSegments } from '../sentence-pipeline';
import {
  HttpStatusError,
  bodyReadError,
  errorMessage,
  joinUrl,
  readBytesBounded,
  readTextBounded,
  startRequest,
  type HttpPeer,
} from '../shared/http';
import { primaryLanguage, toBcp47 } from '../shared/language-tag';
import { RequestQueue } from '../shared/request-queue';
import { splitSentences } from '../text/sentence-splitter';
import { COQUI_DEFAULT_SAMPLE_RATE, coquiVoices, type CoquiServerInfo } from './coqui-voices';

/** XTTS refuses more than 400 tokens and warns above ~250 characters (coqui-ai/TTS#3111, #1680). */
const MAX_SEGMENT_CHARS = 250;
/** The server renders the whole sentence before answering; on CPU a long XTTS sentence takes a while. */
const SYNTHESIS_TIMEOUT_MS = 60_000;
const DISCOVERY_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 3000;
const VOICES_TTL_MS = 5 * 60_000;
const MAX_PAGE_BYTES = 1 << 20;
/** One sentence (≤ 250 characters) is seconds of audio; 32 MiB is minutes even at 192 kHz. Untrusted. */
const MAX_SENTENCE_WAV_BYTES = 32 << 20;
/** Chunks handed on from a complete sentence WAV: 200 ms, like a streaming engine's. */
const CHUNK_MS = 200;

/**
 * A Coqui `tts-server` (`python -m TTS.server.server`, variants A/B/C of tts-apis.md §2.2) at
 * `COQUI_BASE_URL`, e.g. `http://tts:5002`.
 *
 * The server answers `GET /api/tts` with one complete WAV per request and no streaming, so long texts go
 * through the sentence pipeline: one request per sentence (≤ 250 characters), the next sentence requested
 * while the current one plays (look-ahead 1). Requests are serialized per provider instance: the server
 * holds a global lock, so parallel requests would only queue there (and hold sockets open) instead of here,
 * where an aborted request leaves the queue at once. A queued request's timeout starts when it is sent.
 * The queue slot is held until the WAV is fully received, so a slow consumer never holds the server.
 *
 * `speed` only scales the pauses between sentences: `/api/tts` has no rate parameter in any variant.
 */
@Injectable()
export class CoquiProvider implements TtsProvider {
  readonly id = 'coqui' as const;
  readonly displayName = 'Coqui TTS server';
  readonly capabilities: ProviderCapabilities = {
    streaming: false,
    ssml: false,
    wordTimings: false,
    nativeSampleRate: COQUI_DEFAULT_SAMPLE_RATE,
  };

  private readonly logger = new Logger(CoquiProvider.name);
  private readonly baseUrl: string | undefined;
  private readonly peer: HttpPeer;
  private readonly queue = new RequestQueue(1);
  private voices: { at: number; value: Promise<Voice[]> } | undefined;

  constructor(@Inject(providersConfig.KEY) config: ProvidersConfig) {
    this.baseUrl = config.coqui.baseUrl;
    this.peer = { providerId: this.id, label: `Coqui tts-server at ${safeOrigin(this.baseUrl)}` };
  }

  /**
   * The server and the model it reports (on `/details`, as the last voice discovery read it; every
   * VOICES_TTL_MS) make the audio: the same URL serving another model must not get the old model's audio.
   */
  cacheIdentity(): string {
    return `${this.baseUrl ?? ''}\n${this.model ?? ''}`;
  }

  /** The model of the last discovery (`extra.model` of its voices), when the server names it. */
  private model: string | undefined;

  /** Requests running and waiting (the server runs one at a time). */
  get load(): { active: number; waiting: number } {
    return this.queue.load;
  }

  /** Discovered once and cached (the server's model only changes on restart); shared by concurrent callers. */
  listVoices(): Promise<Voice[]> {
    const cached = this.voices;
    if (cached && performance.now() - cached.at < VOICES_TTL_MS) return cached.value;
    const value = this.discover().catch((error: unknown) => {
      // Unreachable: no voices now (health says why); try again on the next call.
      this.voices = undefined;
      this.logger.warn(`Coqui voices unavailable: ${errorMessage(error)}`);
      return [];
    });
    this.voices = { at: performance.now(), value };
    return value;
  }

  /** Up when the server answers HTTP below 500 on `/` (every variant serves its demo page there). */
  async checkHealth(signal?: AbortSignal): Promise<ProviderHealth> {
    if (!this.baseUrl) return { up: false, reason: 'COQUI_BASE_URL is not set' };
    try {
      const request = await startRequest(
        this.peer,
        joinUrl(this.baseUrl, '/'),
        { method: 'GET' },
        signal ?? new AbortController().signal,
        HEALTH_TIMEOUT_MS,
      );
      request.release();
      return { up: true };
    } catch (error) {
      if (error instanceof HttpStatusError && error.status < 500) return { up: true };
      if (signal?.aborted) return { up: false, reason: `${this.peer.label} did not answer in time` };
      return { up: false, reason: errorMessage(error) };
    }
  }

  async *synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const baseUrl = this.requireBaseUrl();
    const speakerId = stringExtra(request.voice, 'speakerId');
    const languageId = languageIdFor(request);
    const segments = splitSentences(request.text, { maxChars: MAX_SEGMENT_CHARS, locale: request.language });
    yield* synthesizeSegments(
      segments,
      (segment, _index, segmentSignal) =>
        this.synthesizeSentence(baseUrl, segment.text, speakerId, languageId, segmentSignal),
      signal,
      { lookAhead: 1, speed: request.speed },
    );
  }

  private async *synthesizeSentence(
    baseUrl: string,
    text: string,
    speakerId: string | undefined,
    languageId: string | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<AudioChunk> {
    const query = new URLSearchParams({ text });
    if (speakerId !== undefined) query.set('speaker_id', speakerId);
    if (languageId !== undefined) query.set('language_id', languageId);
    const url = `${joinUrl(baseUrl, '/api/tts')}?${query.toString()}`;

    const body = await this.queue.run(signal, async () => {
      const started = await startRequest(
        this.peer,
        url,
        { method: 'GET', headers: { accept: 'audio/wav' } },
        signal,
        SYNTHESIS_TIMEOUT_MS,
      );
      try {
        return await readBytesBounded(this.peer, started.response, MAX_SENTENCE_WAV_BYTES, started.signal);
      } catch (error) {
        throw bodyReadError(this.peer, error, started.signal);
      } finally {
        started.release();
      }
    });

    const wav = new WavStreamReader();
    let pcm: Int16Array;
    try {
      pcm = wav.push(body);
      wav.end();
    } catch (error) {
      if (!(error instanceof WavFormatError)) throw error;
      throw new ProviderError(this.id, `${this.peer.label} sent an unreadable WAV: ${error.message}`, true, {
        cause: error,
        publicReason: 'sent unreadable audio',
      });
    }
    const sampleRate = wav.format?.sampleRate ?? COQUI_DEFAULT_SAMPLE_RATE;
    for (const slice of slicePcm(pcm, Math.round((sampleRate * CHUNK_MS) / 1000))) {
      signal.throwIfAborted();
      yield { pcm: slice, sampleRate };
    }
  }

  private async discover(): Promise<Voice[]> {
    const baseUrl = this.requireBaseUrl();
    const signal = new AbortController().signal; // each page has its own timeout
    const [indexHtml, maryVoices, locales, detailsHtml] = await Promise.all(
      ['/', '/voices', '/locales', '/details'].map((path) => this.fetchPage(baseUrl, path, signal)),
    );
    const pages = [indexHtml, maryVoices, locales, detailsHtml];
    const unreachable = pages.find((p) => p.kind === 'unreachable');
    if (pages.every((p) => p.kind === 'unreachable') && unreachable?.kind === 'unreachable')
      throw unreachable.error;
    const info: CoquiServerInfo = {
      indexHtml: textOf(indexHtml),
      maryVoices: textOf(maryVoices),
      locales: textOf(locales),
      detailsHtml: textOf(detailsHtml),
    };
    const voices = coquiVoices(info);
    this.model = voices.map((voice) => stringExtra(voice, 'model')).find(Boolean);
    return voices;
  }

  /** One discovery page: its text, `missing` (any HTTP error: older variants lack it), or `unreachable`. */
  private async fetchPage(baseUrl: string, path: string, signal: AbortSignal): Promise<Page> {
    try {
      const started = await startRequest(
        this.peer,
        joinUrl(baseUrl, path),
        { method: 'GET' },
        signal,
        DISCOVERY_TIMEOUT_MS,
      );
      try {
        return { kind: 'ok', text: await readTextBounded(started.response, MAX_PAGE_BYTES, started.signal) };
      } finally {
        started.release();
      }
    } catch (error) {
      return error instanceof HttpStatusError ? { kind: 'missing' } : { kind: 'unreachable', error };
    }
  }

  private requireBaseUrl(): string {
    if (!this.baseUrl) throw new ProviderError(this.id, 'COQUI_BASE_URL is not set', false);
    return this.baseUrl;
  }
}

type Page = { kind: 'ok'; text: string } | { kind: 'missing' } | { kind: 'unreachable'; error: unknown };

function textOf(page: Page): string | undefined {
  return page.kind === 'ok' ? page.text : undefined;
}

function stringExtra(voice: Voice, key: string): string | undefined {
  const value = voice.extra?.[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The server's own language id for the requested BCP-47 tag (`zh-CN` → `zh-cn`, `pt-BR` → `pt`), or none for
 * a model that is not multilingual (the server would ignore it, or in older variants choke on it).
 */
function languageIdFor(request: SynthesisRequest): string | undefined {
  const ids = stringExtra(request.voice, 'languageIds')?.split(',').filter(Boolean);
  if (!ids || ids.length === 0) return undefined;
  const wanted = toBcp47(request.language) ?? request.language;
  const tagOf = (id: string) => toBcp47(id) ?? id;
  return (
    ids.find((id) => tagOf(id).toLowerCase() === wanted.toLowerCase()) ??
    ids.find((id) => primaryLanguage(tagOf(id)) === primaryLanguage(wanted)) ??
    ids[0]
  );
}

/** The base URL without credentials or query, for messages. */
function safeOrigin(url: string | undefined): string {
  if (!url) return '(COQUI_BASE_URL unset)';
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '(invalid COQUI_BASE_URL)';
  }
}
