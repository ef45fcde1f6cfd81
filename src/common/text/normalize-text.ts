/**
 * Text normalization applied to every utterance before validation and synthesis:
 * Unicode NFC, control characters removed (tabs and line breaks become spaces), runs of white space
 * collapsed to one space, and trimmed. Length limits are counted on the result, in characters (code points)
 * and UTF-8 bytes, so what we bound is exactly what the engine receives.
 */
// C0/C1 controls except \t \n \r (folded into spaces below), plus zero-width and bidi-override characters that
// engines read aloud or choke on.
const CONTROL =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200D\u2060\uFEFF\u202A-\u202E]/gu;
const WHITESPACE = /\s+/gu;

export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(CONTROL, '').replace(WHITESPACE, ' ').trim();
}

export function countCharacters(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

export function utf8ByteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
