import { canonicalLanguage, languageMatches, languageMatchScore } from './language';

describe('BCP-47 helpers', () => {
  it.each([
    ['en-us', 'en-US'],
    ['EN_gb', 'en-GB'],
    ['zh-hant-tw', 'zh-Hant-TW'],
    ['pt-br', 'pt-BR'],
  ])('should canonicalize %s to %s', (tag, canonical) => {
    expect(canonicalLanguage(tag)).toBe(canonical);
  });

  it.each(['', 'english!', 'e', 'en-US-x'])('should reject the malformed tag %p', (tag) => {
    expect(canonicalLanguage(tag)).toBeUndefined();
  });

  it('should match on subtag boundaries in both directions', () => {
    expect(languageMatches('en', 'en-US')).toBe(true);
    expect(languageMatches('de-DE', 'de')).toBe(true);
    expect(languageMatches('en-US', 'en-GB')).toBe(false);
    expect(languageMatches('e', 'en-US')).toBe(false);
  });

  it('should score exact over more specific over less specific', () => {
    expect(languageMatchScore('en-US', 'en-US')).toBeGreaterThan(languageMatchScore('en', 'en-US'));
    expect(languageMatchScore('en', 'en-US')).toBeGreaterThan(languageMatchScore('en-US', 'en'));
    expect(languageMatchScore('fr', 'en')).toBe(0);
  });
});
