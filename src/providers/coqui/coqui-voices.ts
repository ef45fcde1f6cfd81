import type { Voice } from '../provider.contract';
import { toBcp47 } from '../shared/language-tag';

/**
 * What a Coqui tts-server tells about itself. No variant has a JSON API for this, so it is scraped from
 * what they do expose (all optional; see tts-apis.md §2.2):
 * - `GET /` (all variants): the demo page, with `<select id="speaker_id">` for multi-speaker models and
 *   `<select id="language_id">` for multilingual ones (XTTS: en, es, …, zh-cn);
 * - `GET /voices` (B, C; MaryTTS style): lines `<speaker> <locale> <gender>`; the speaker may contain spaces
 *   ("Claribel Dervla"); for a single-speaker model the one line names the model instead;
 * - `GET /locales` (B, C): the model's language, or `multilingual`;
 * - `GET /details` (with `--show_details`): tables of CLI arguments (`model_name`, `language_idx`,
 *   `speaker_idx`) and model config.
 */
export interface CoquiServerInfo {
  readonly indexHtml?: string;
  readonly maryVoices?: string;
  readonly locales?: string;
  readonly detailsHtml?: string;
}

/** Typical output rates: XTTS, Bark and Tortoise render 24 kHz; LJSpeech/VCTK-style models 22.05 kHz. */
export const COQUI_DEFAULT_SAMPLE_RATE = 22050;
const RATE_24K_MODELS = /xtts|bark|tortoise/i;
const NOT_A_LANGUAGE = new Set(['multilingual', 'multi-lingual', 'default', '']);

export function coquiVoices(info: CoquiServerInfo): Voice[] {
  const index = info.indexHtml ? parseIndexPage(info.indexHtml) : {};
  const mary = info.maryVoices ? parseMaryVoices(info.maryVoices) : [];
  const details = info.detailsHtml ? parseDetailsPage(info.detailsHtml) : {};
  const modelName = details.model_name && details.model_name !== 'None' ? details.model_name : undefined;
  const modelPath = modelName?.split('/') ?? [];

  // Speakers: the demo page's list is authoritative (it renders only for multi-speaker models); /voices
  // alone is ambiguous with one line (that line is the model), unambiguous with several.
  const speakers = index.speakers?.length ? index.speakers : mary.length > 1 ? mary.map((v) => v.name) : [];

  // Server language ids, as the server spells them (sent back verbatim as language_id).
  const multilingual = (index.languages?.length ?? 0) > 0;
  const serverLanguages = multilingual
    ? (index.languages as string[])
    : [info.locales?.trim().split(/\s+/)[0], mary[0]?.locale, modelPath[1]]
        .filter((l): l is string => !!l && !NOT_A_LANGUAGE.has(l.toLowerCase()))
        .slice(0, 1);
  if (serverLanguages.length === 0) serverLanguages.push('en');
  const preferred =
    [details.language_idx, 'en'].find((l) => l && serverLanguages.includes(l)) ?? serverLanguages[0];
  const ordered = [preferred, ...serverLanguages.filter((l) => l !== preferred)];
  const tags = ordered.map((l) => toBcp47(l) ?? 'und');
  const languages = tags.filter((t, i) => tags.indexOf(t) === i);

  const model = modelPath[modelPath.length - 1] ?? (speakers.length === 0 ? mary[0]?.name : undefined);
  const sampleRateHz = model && RATE_24K_MODELS.test(model) ? 24000 : COQUI_DEFAULT_SAMPLE_RATE;
  const extra = (speakerId?: string): Voice['extra'] => ({
    ...(speakerId !== undefined ? { speakerId } : {}),
    ...(multilingual ? { languageIds: ordered.join(',') } : {}),
    ...(model ? { model } : {}),
  });

  const base = { provider: 'coqui' as const, language: languages[0], languages, sampleRateHz };
  if (speakers.length === 0) {
    return [
      {
        ...base,
        id: model ?? 'default',
        name: model ? `Coqui ${model}` : 'Coqui default voice',
        extra: extra(),
      },
    ];
  }
  const unique = speakers.filter((s, i) => s && speakers.indexOf(s) === i);
  return unique.map((speaker) => ({ ...base, id: speaker, name: speaker, extra: extra(speaker) }));
}

/** Options of the demo page's `speaker_id` and `language_id` selects. */
export function parseIndexPage(html: string): { speakers?: string[]; languages?: string[] } {
  return { speakers: selectOptions(html, 'speaker_id'), languages: selectOptions(html, 'language_id') };
}

export function parseMaryVoices(text: string): { name: string; locale: string; gender: string }[] {
  const voices: { name: string; locale: string; gender: string }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3) continue;
    const gender = fields.pop() as string;
    const locale = fields.pop() as string;
    voices.push({ name: fields.join(' '), locale, gender });
  }
  return voices;
}

/** `<td>key</td><td>value</td>` rows of the details page, first occurrence of each key. */
export function parseDetailsPage(html: string): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const m of html.matchAll(/<tr>\s*<td>([\s\S]*?)<\/td>\s*<td>([\s\S]*?)<\/td>\s*<\/tr>/gi)) {
    const key = decodeHtml(m[1]).trim();
    if (key && !(key in rows)) rows[key] = decodeHtml(m[2]).trim();
  }
  return rows;
}

function selectOptions(html: string, id: string): string[] | undefined {
  const select = new RegExp(`<select[^>]*\\bid=["']?${id}["']?[^>]*>([\\s\\S]*?)</select>`, 'i').exec(html);
  if (!select) return undefined;
  const values = [...select[1].matchAll(/<option\b[^>]*?\bvalue=(?:"([^"]*)"|'([^']*)')[^>]*>/gi)].map((m) =>
    decodeHtml(m[1] ?? m[2] ?? '').trim(),
  );
  return values.filter((v) => v.length > 0);
}

function decodeHtml(text: string): string {
  return text
    .replace(/<[^>]*>/g, '')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
