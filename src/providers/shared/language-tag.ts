import { canonicalLanguage } from '../../common/text/language';
/**
 * Engines name languages loosely (`en-us`, `en-gb-x-rp`, `zh-yue`, `cmn`, `en-us-nyc`, `chr-US-Qaaa-x-west`,
 * `zh-cn`, `multilingual`). `toBcp47` returns a canonical BCP-47 tag (`Intl.getCanonicalLocales`), falling back
 * step by step when Intl rejects the tag:
 *  1. extlang form (`zh-yue` → `yue`, `zh-cmn` → `zh`),
 *  2. the longest prefix Intl accepts (`en-us-nyc` → `en-US`, `chr-US-Qaaa-x-west` → `chr-US`),
 *  3. `und-x-<code>` (private use, still valid BCP-47) when even the language subtag is unknown (`piqd`).
 * Returns undefined for empty input.
 */
export function toBcp47(code: string): string | undefined {
  const tag = code.trim().replace(/_/g, '-');
  if (!tag) return undefined;
  const exact = canonicalLanguage(tag);
  if (exact) return exact;

  const parts = tag.split('-');
  if (parts.length >= 2 && /^[a-z]{2,3}$/i.test(parts[0]) && /^[a-z]{3}$/i.test(parts[1])) {
    const extlang = canonicalLanguage([parts[1], ...parts.slice(2)].join('-')) ?? canonicalLanguage(parts[1]);
    if (extlang) return extlang;
  }
  for (let n = parts.length - 1; n >= 1; n--) {
    const prefix = canonicalLanguage(parts.slice(0, n).join('-'));
    if (prefix) return prefix;
  }
  const privateUse = tag
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
    .split('-')
    .filter((p) => p.length > 0)
    .map((p) => p.slice(0, 8))
    .join('-');
  return privateUse ? (canonicalLanguage(`und-x-${privateUse}`) ?? 'und') : 'und';
}

/** The language subtag of a BCP-47 tag, lower case (`en-US` → `en`). */
export function primaryLanguage(tag: string): string {
  return tag.split('-')[0].toLowerCase();
}
