/**
 * BCP-47 helpers. `Intl.getCanonicalLocales` does the case normalization (`en-us` → `en-US`,
 * `zh-hant-tw` → `zh-Hant-TW`) and rejects malformed tags.
 */
export function canonicalLanguage(tag: string): string | undefined {
  try {
    return Intl.getCanonicalLocales(tag.replace(/_/g, '-'))[0];
  } catch {
    // RangeError: not a well-formed BCP-47 tag. Callers turn `undefined` into a 400 naming the field.
    return undefined;
  }
}

/**
 * Whether a voice tagged `voiceTag` speaks what a client asked for with `requested`: equal tags, a request
 * for the language alone (`en` finds `en-US`, `en-GB`), or a voice tagged with the language alone (`de`
 * speaks `de-DE`). Compared on subtag boundaries, case-insensitively.
 */
export function languageMatches(requested: string, voiceTag: string): boolean {
  const a = requested.toLowerCase();
  const b = voiceTag.toLowerCase();
  return a === b || b.startsWith(`${a}-`) || a.startsWith(`${b}-`);
}

/** How closely a voice tag fits a request: 3 exact, 2 voice more specific, 1 voice less specific, 0 none. */
export function languageMatchScore(requested: string, voiceTag: string): number {
  const a = requested.toLowerCase();
  const b = voiceTag.toLowerCase();
  if (a === b) return 3;
  if (b.startsWith(`${a}-`)) return 2;
  if (a.startsWith(`${b}-`)) return 1;
  return 0;
}
