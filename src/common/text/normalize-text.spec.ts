import { countCharacters, normalizeText, utf8ByteLength } from './normalize-text';

describe('normalizeText', () => {
  it('should trim, collapse white space and drop control characters', () => {
    expect(normalizeText('  Hello,\t\tworld!\r\n\n How\u0000 are\u200B you?  ')).toBe(
      'Hello, world! How are you?',
    );
  });

  it('should compose to NFC', () => {
    expect(normalizeText('e\u0301')).toBe('\u00e9');
  });

  it('should leave nothing of a text made of white space and controls', () => {
    expect(normalizeText(' \u0007 \n\u202E ')).toBe('');
  });

  it('should count characters by code point and bytes in UTF-8', () => {
    expect(countCharacters('a😀b')).toBe(3);
    expect(utf8ByteLength('a😀b')).toBe(6);
  });
});
