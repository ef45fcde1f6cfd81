import { toBcp47 } from './language-tag';

describe('toBcp47', () => {
  it.each([
    ['en-us', 'en-US'],
    ['en-gb-x-rp', 'en-GB-x-rp'],
    ['pt-br', 'pt-BR'],
    ['zh-cn', 'zh-CN'],
    ['cmn', 'zh'],
    ['yue', 'yue'],
    ['vi-vn-x-central', 'vi-VN-x-central'],
    ['es_419', 'es-419'],
  ])('should canonicalize %s to %s', (input, expected) => {
    expect(toBcp47(input)).toBe(expected);
  });

  it.each([
    ['zh-yue', 'yue'], // extlang form
    ['zh-cmn', 'zh'],
    ['en-us-nyc', 'en-US'], // "nyc" is no valid variant: longest valid prefix
    ['chr-US-Qaaa-x-west', 'chr-US'], // script after region
    ['piqd', 'und-x-piqd'], // 4-letter language subtags are reserved
  ])('should fall back gracefully when Intl rejects %s', (input, expected) => {
    expect(toBcp47(input)).toBe(expected);
    expect(() => Intl.getCanonicalLocales(expected)).not.toThrow();
  });

  it('should return undefined for an empty tag', () => {
    expect(toBcp47('  ')).toBeUndefined();
  });
});
