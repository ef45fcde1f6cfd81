import { Injectable, Logger } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import type { ProviderId, TtsProvider, Voice, VoiceGender } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import { canonicalLanguage, languageMatches, languageMatchScore } from '../common/text/language';

const CATALOG_TTL_MS = 60_000;
const FAILED_TTL_MS = 5_000;

export interface ProviderVoices {
  provider: TtsProvider;
  voices: Voice[];
  /** Set when the provider is down or its voice list could not be read. */
  unavailableReason?: string;
}

export interface VoiceQuery {
  provider?: string;
  voice?: string;
  language?: string;
  /** When picking a voice (no `voice` given), prefer this gender among equally good matches. */
  gender?: VoiceGender;
}

export interface ResolvedVoice {
  provider: TtsProvider;
  voice: Voice;
  /** Canonical BCP-47 tag the utterance is spoken in. */
  language: string;
}

/**
 * The merged voice catalog of all enabled providers, cached per provider (remote engines are asked at most
 * once a minute), and the rules that bind a session's provider, voice and language together.
 */
@Injectable()
export class VoicesService {
  private readonly logger = new Logger(VoicesService.name);
  private readonly cache = new Map<ProviderId, { at: number; value: Promise<ProviderVoices> }>();

  constructor(private readonly registry: ProviderRegistry) {}

  async catalog(filter: { provider?: string; language?: string } = {}): Promise<ProviderVoices[]> {
    const providers = filter.provider ? [this.registry.get(filter.provider)] : this.registry.all();
    const language = filter.language ? this.requireLanguage(filter.language) : undefined;
    const entries = await Promise.all(providers.map((p) => this.voicesOf(p)));
    if (!language) return entries;
    return entries.map((e) => ({
      ...e,
      voices: e.voices.filter((v) => v.languages.some((l) => languageMatches(language, l))),
    }));
  }

  /**
   * Picks provider, voice and language for a request, enforcing that the voice belongs to the provider and
   * speaks the language. Without a voice, the provider's best voice for the language is chosen.
   */
  async resolve(query: VoiceQuery, defaultProvider: () => Promise<ProviderId>): Promise<ResolvedVoice> {
    const language = query.language !== undefined ? this.requireLanguage(query.language) : undefined;
    const provider = await this.pickProvider(query, defaultProvider);
    const { voices, unavailableReason } = await this.voicesOf(provider);

    if (query.voice !== undefined) {
      const voice = voices.find((v) => v.id === query.voice);
      if (!voice) {
        const known = voices.map((v) => v.id);
        const owner = await this.ownerOf(query.voice, provider.id);
        throw new GatewayException(
          ErrorCode.VoiceNotFound,
          `voice "${query.voice}" does not belong to provider "${provider.id}"` +
            (owner
              ? `; it is a voice of provider "${owner}" (send "provider": "${owner}")`
              : unavailableReason
                ? ` (the provider is unavailable: ${unavailableReason})`
                : `; its voices: ${preview(known)} (see GET /v1/voices?provider=${provider.id})`),
          { field: 'voice', allowed: known.length <= 50 ? known : undefined },
        );
      }
      if (language && !voice.languages.some((l) => languageMatches(language, l))) {
        throw new GatewayException(
          ErrorCode.LanguageNotSupported,
          `language "${language}" is not spoken by voice "${voice.id}"; it speaks: ${voice.languages.join(', ')}`,
          { field: 'language', allowed: voice.languages },
        );
      }
      return { provider, voice, language: language ?? voice.language };
    }

    if (voices.length === 0) {
      throw new GatewayException(
        ErrorCode.ProviderUnavailable,
        `provider "${provider.id}" has no voices available${unavailableReason ? `: ${unavailableReason}` : ''}`,
        { field: 'provider', retryAfterSeconds: 30 },
      );
    }
    if (!language) {
      const voice = preferredDefault(voices, query.gender);
      return { provider, voice, language: voice.language };
    }

    const best = bestVoiceFor(language, voices, query.gender);
    if (!best) {
      const spoken = [...new Set(voices.flatMap((v) => v.languages))].sort();
      throw new GatewayException(
        ErrorCode.LanguageNotSupported,
        `language "${language}" is not spoken by any voice of provider "${provider.id}"; languages: ${preview(spoken)}`,
        { field: 'language', allowed: spoken.length <= 100 ? spoken : undefined },
      );
    }
    return { provider, voice: best, language };
  }

  /**
   * The `rank`-th best voice of a provider for a language and gender (wrapping around), so that several
   * names (OpenAI's six voices) map to different voices of one engine. Best = closest language, then id.
   */
  async pickRanked(
    query: { provider?: string; language?: string; gender?: VoiceGender },
    rank: number,
    defaultProvider: () => Promise<ProviderId>,
  ): Promise<ResolvedVoice> {
    const provider = await this.pickProvider({ provider: query.provider }, defaultProvider);
    const language = query.language !== undefined ? this.requireLanguage(query.language) : undefined;
    const { voices } = await this.voicesOf(provider);
    const wanted = language ?? 'en';
    const scored = voices
      .map((voice) => ({
        voice,
        score: Math.max(
          languageMatchScore(wanted, voice.language) * 2,
          ...voice.languages.map((l) => languageMatchScore(wanted, l)),
        ),
      }))
      .filter((c) => c.score > 0);
    const ofGender = query.gender ? scored.filter((c) => c.voice.gender === query.gender) : scored;
    const pool = (ofGender.length > 0 ? ofGender : scored).sort(
      (a, b) => b.score - a.score || a.voice.id.localeCompare(b.voice.id),
    );
    if (pool.length === 0)
      return this.resolve({ provider: provider.id, language, gender: query.gender }, defaultProvider);
    const voice = pool[rank % pool.length].voice;
    return { provider, voice, language: language ?? voice.language };
  }

  /** Another enabled provider that has this voice id, for a message that leads to the fix. */
  private async ownerOf(voiceId: string, except: ProviderId): Promise<ProviderId | undefined> {
    for (const provider of this.registry.all()) {
      if (provider.id === except) continue;
      if ((await this.voicesOf(provider)).voices.some((v) => v.id === voiceId)) return provider.id;
    }
    return undefined;
  }

  private async pickProvider(
    query: VoiceQuery,
    defaultProvider: () => Promise<ProviderId>,
  ): Promise<TtsProvider> {
    if (query.provider !== undefined) return this.registry.get(query.provider);
    const fallback = this.registry.get(await defaultProvider());
    if (query.voice === undefined) return fallback;
    // A voice id without a provider: use the provider that has it (the default one first).
    const owners = await Promise.all(
      [fallback, ...this.registry.all().filter((p) => p !== fallback)].map(async (p) => ({
        provider: p,
        has: (await this.voicesOf(p)).voices.some((v) => v.id === query.voice),
      })),
    );
    return owners.find((o) => o.has)?.provider ?? fallback;
  }

  private requireLanguage(tag: string): string {
    const canonical = canonicalLanguage(tag);
    if (!canonical) {
      throw GatewayException.invalidField(
        'language',
        `language "${tag}" is not a valid BCP-47 tag (examples: en, en-US, pt-BR, zh-Hant-TW)`,
      );
    }
    return canonical;
  }

  private voicesOf(provider: TtsProvider): Promise<ProviderVoices> {
    const cached = this.cache.get(provider.id);
    if (cached && performance.now() - cached.at < CATALOG_TTL_MS) return cached.value;
    const value = this.load(provider);
    this.cache.set(provider.id, { at: performance.now(), value });
    return value;
  }

  private async load(provider: TtsProvider): Promise<ProviderVoices> {
    const health = await this.registry.checkHealth(provider.id);
    try {
      const voices = health.up ? await provider.listVoices(AbortSignal.timeout(5000)) : [];
      return { provider, voices, unavailableReason: health.up ? undefined : health.reason };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`voice list of ${provider.id} unavailable: ${reason}`);
      // Retry soon rather than caching a failure for the full TTL.
      this.cache.set(provider.id, {
        at: performance.now() - CATALOG_TTL_MS + FAILED_TTL_MS,
        value: Promise.resolve({ provider, voices: [], unavailableReason: reason }),
      });
      return { provider, voices: [], unavailableReason: reason };
    }
  }
}

/** No language asked: an en-US voice, or with a gender wish, any English voice of that gender. */
function preferredDefault(voices: Voice[], gender?: VoiceGender): Voice {
  return bestVoiceFor(gender ? 'en' : 'en-US', voices, gender) ?? voices[0];
}

function bestVoiceFor(language: string, voices: Voice[], gender?: VoiceGender): Voice | undefined {
  let best: Voice | undefined;
  let bestScore = 0;
  for (const voice of voices) {
    // The primary language counts more than a secondary one; gender only breaks ties.
    const languageScore = Math.max(
      languageMatchScore(language, voice.language) * 2,
      ...voice.languages.map((l) => languageMatchScore(language, l)),
    );
    const score = languageScore === 0 ? 0 : languageScore * 2 + (gender && voice.gender === gender ? 1 : 0);
    if (score > bestScore) [best, bestScore] = [voice, score];
  }
  return best;
}

function preview(items: string[], max = 20): string {
  return items.length <= max
    ? items.join(', ')
    : `${items.slice(0, max).join(', ')} … (${items.length} in all)`;
}
