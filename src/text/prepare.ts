import { GatewayException } from '../common/errors/gateway.exception';
import { normalizeText } from '../common/text/normalize-text';
import { markdownToSpeech } from './markdown';
import { parseSsml, SsmlSyntaxError, type SsmlSegment } from './ssml';

export const TEXT_FORMATS = ['text', 'ssml', 'markdown'] as const;
export type TextFormat = (typeof TEXT_FORMATS)[number];

/** What the engines will say, from what the client sent. */
export interface PreparedText {
  /** Plain text as spoken (markdown cleaned, SSML reduced to its words). */
  readonly spokenText: string;
  /** SSML only: the segments the gateway renders itself (voice, rate, volume, breaks, marks). */
  readonly segments?: readonly SsmlSegment[];
  /** Ignored SSML elements and values. */
  readonly warnings: readonly string[];
}

/**
 * `text_format`: plain text as today; SSML parsed once (fast-xml-parser; invalid XML → 400 naming line and
 * column) into segments the gateway renders for every engine; markdown reduced to its spoken words
 * (markdown-it tokens: no emphasis markers, link URLs, code fences, table pipes, list markers or emoji).
 * The client's text is kept as sent (only line breaks matter to markdown, so it is not whitespace-collapsed).
 */
export function prepareText(raw: string, format: TextFormat, language?: string): PreparedText {
  switch (format) {
    case 'text':
      return { spokenText: normalizeText(raw), warnings: [] };
    case 'markdown': {
      const spokenText = normalizeText(markdownToSpeech(raw).text);
      return { spokenText, warnings: [] };
    }
    case 'ssml': {
      try {
        const doc = parseSsml(raw, { language });
        return { spokenText: normalizeText(doc.plainText), segments: doc.segments, warnings: doc.warnings };
      } catch (error) {
        if (error instanceof SsmlSyntaxError)
          throw GatewayException.invalidField('text', `invalid SSML: ${error.message}`);
        throw error;
      }
    }
  }
}

// Controls but tab and line breaks, plus zero-width and bidi-override characters (as normalizeText).
const SOURCE_CONTROLS =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200D\u2060\uFEFF\u202A-\u202E]/gu;

/**
 * Light normalization for the text as sent: Unicode NFC, control characters other than tab and line breaks
 * removed, trimmed. Markdown needs its line breaks, SSML its exact characters.
 */
export function normalizeSource(text: string): string {
  return text.normalize('NFC').replace(SOURCE_CONTROLS, '').trim();
}

/** A request's text normalized for its `text_format`: markdown and SSML as sent, plain text fully. */
export function normalizeForFormat(value: unknown, textFormat: unknown): unknown {
  if (typeof value !== 'string') return value;
  return textFormat === 'ssml' || textFormat === 'markdown' ? normalizeSource(value) : normalizeText(value);
}
