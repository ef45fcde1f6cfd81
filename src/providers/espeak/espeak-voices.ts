import type { Voice, VoiceGender } from '../provider.contract';
import { toBcp47 } from '../shared/language-tag';

/** espeak-ng always renders at this rate (mbrola voices, 16 kHz, are not listed by `--voices`). */
export const ESPEAK_SAMPLE_RATE = 22050;

/** One row of `espeak-ng --voices`. */
export interface EspeakVoiceRow {
  readonly priority: number;
  /** espeak's language code, lower case as printed: `en-us`, `en-gb-x-rp`, `cmn`. */
  readonly language: string;
  readonly gender: VoiceGender | undefined;
  /** With spaces restored (espeak prints `English_(America)`). */
  readonly name: string;
  /** Path under espeak-ng-data/voices, e.g. `gmw/en-US`: what `-v` selects unambiguously. */
  readonly file: string;
  /** `(en 10)(zh 5)` → [{ language: 'en', priority: 10 }, ...]. */
  readonly otherLanguages: readonly { language: string; priority: number }[];
}

/**
 * Parses the table of `espeak-ng --voices`:
 * ```
 * Pty Language       Age/Gender VoiceName          File                 Other Languages
 *  2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 * ```
 * Columns are split on white space, not by position: espeak pads by bytes, so a name like `Māori` shifts
 * the columns after it. Voice names never contain spaces (espeak writes `_`).
 */
export function parseEspeakVoices(output: string): EspeakVoiceRow[] {
  const rows: EspeakVoiceRow[] = [];
  for (const line of output.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^\d+$/.test(fields[0])) continue; // header, blank or malformed line
    const [priority, language, ageGender, name, file, ...rest] = fields;
    const otherLanguages = [...rest.join(' ').matchAll(/\(\s*([^\s()]+)\s+(\d+)\s*\)/g)].map((m) => ({
      language: m[1],
      priority: Number(m[2]),
    }));
    rows.push({
      priority: Number(priority),
      language,
      gender: genderOf(ageGender),
      name: name.replace(/_/g, ' '),
      file,
      otherLanguages,
    });
  }
  return rows;
}

/**
 * Voices from the parsed rows. The id is espeak's language code (`en-us`, `en-gb-x-rp`), which is what
 * espeak users know and stays stable across espeak versions; when two voices share a code (espeak 1.51 has
 * two `yue`) the later one is named by its file (`yue-latn-jyutping`), and failing that gets a number.
 */
export function espeakVoicesFromRows(rows: readonly EspeakVoiceRow[]): Voice[] {
  const used = new Set<string>();
  const voices: Voice[] = [];
  for (const row of rows) {
    const fileId = (row.file.split('/').pop() ?? row.file).toLowerCase();
    let id = [row.language.toLowerCase(), fileId].find((candidate) => candidate && !used.has(candidate));
    for (let n = 2; !id; n++) if (!used.has(`${row.language}-${n}`)) id = `${row.language}-${n}`;
    used.add(id);

    const primary = toBcp47(row.language) ?? 'und';
    const languages = [primary];
    for (const other of [...row.otherLanguages].sort((a, b) => a.priority - b.priority)) {
      const tag = toBcp47(other.language);
      if (tag && !languages.includes(tag)) languages.push(tag);
    }
    voices.push({
      id,
      name: row.name,
      provider: 'espeak',
      language: primary,
      languages,
      ...(row.gender ? { gender: row.gender } : {}),
      sampleRateHz: ESPEAK_SAMPLE_RATE,
      extra: { espeakLanguage: row.language, espeakFile: row.file, priority: row.priority },
    });
  }
  return voices;
}

function genderOf(ageGender: string): VoiceGender | undefined {
  const g = ageGender.split('/').pop()?.toUpperCase();
  return g === 'M' ? 'male' : g === 'F' ? 'female' : undefined;
}

/**
 * espeak's voice variants (`+f1`…`+f5`, `+m1`…`+m7`) change the formants and pitch: audibly different
 * speakers of the same language. Listed as voices of their own (with their gender) for the English voices,
 * so that OpenAI's six voice names map to six different-sounding espeak voices. Only these listed
 * variants of the listed voices resolve (see `variantVoice`); other `<voice>+<variant>` names are unknown voices.
 */
export const ESPEAK_VARIANTS: readonly { id: string; gender: VoiceGender }[] = [
  ...[1, 2, 3, 4, 5].map((n) => ({ id: `f${n}`, gender: 'female' as const })),
  ...[1, 2, 3, 4, 5, 6, 7].map((n) => ({ id: `m${n}`, gender: 'male' as const })),
];
const VARIANT_BASES = ['en-us', 'en-gb'];

export function withEnglishVariants(voices: readonly Voice[]): Voice[] {
  const out = [...voices];
  for (const base of voices.filter((v) => VARIANT_BASES.includes(v.id))) {
    for (const variant of ESPEAK_VARIANTS) {
      const voice = variantVoice(base, variant.id);
      if (voice) out.push(voice);
    }
  }
  return out;
}

/** `en-us` + `f3` → the voice `en-us+f3` (espeak `-v gmw/en-US+f3`), or undefined for an unknown variant. */
export function variantVoice(base: Voice, variant: string): Voice | undefined {
  const known = ESPEAK_VARIANTS.find((v) => v.id === variant);
  const file = base.extra?.espeakFile;
  if (!known || typeof file !== 'string') return undefined;
  return {
    ...base,
    id: `${base.id}+${variant}`,
    name: `${base.name} (${known.gender} variant ${variant})`,
    gender: known.gender,
    extra: { ...base.extra, espeakFile: `${file}+${variant}`, variant },
  };
}
