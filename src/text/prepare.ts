import { GatewayException } from '../common/errors/gateway.exception';
import { normalizeText } from '../common/text/normalize-text';
import { markdownToSpeech } from './markdown';
import { engineTextOf } from './sentence-timings';
import type { WordTiming } from './word-timings';
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
        const doc = parseSsml(raw, { language, sourceMap: true });
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

/**
 * Providers whose engine request has no speaking-rate parameter: Coqui's `/api/tts` takes none in any
 * variant (`providers/coqui/coqui.provider.ts`), so `speed` there only scales the pauses between sentences.
 */
const WITHOUT_RATE: ReadonlySet<string> = new Set(['coqui']);

/**
 * Warnings about SSML the chosen engine cannot render, to list with the parser's (session `warnings`, live
 * `warning` frames): `<prosody rate>` on an engine without a rate parameter is spoken at the normal rate.
 */
export function engineSsmlWarnings(prepared: Pick<PreparedText, 'segments'>, provider: string): string[] {
  const rated = prepared.segments?.some((s) => s.rate !== 1 && s.text.trim() !== '');
  if (!rated || !WITHOUT_RATE.has(provider)) return [];
  return [
    `prosody rate is not applied by provider "${provider}" (the engine has no rate parameter); that text is spoken at the normal rate`,
  ];
}

/**
 * Word timings of a markdown text come with offsets into its spoken text (`prepareText(md).spokenText`);
 * this maps them into the markdown as sent (the contract's `text_start`/`text_end`), through
 * `markdownToSpeech`'s source offsets: a word spans its first to its last character found in the markdown
 * (`**bold**` → `bold`, `a\\*b` → `a\\*b`). Words the gateway inserted (the code note) sit, empty, where
 * the markdown was at that point. `text` stays the word as spoken.
 */
export function markdownTimingsToSource(md: string): (words: readonly WordTiming[]) => WordTiming[] {
  const speech = markdownToSpeech(md);
  const spoken = engineTextOf(speech.text);
  const offsets = speech.sourceOffsets;
  /** The markdown index of the last source character at or before speech index `i` (0 if none). */
  const before = (i: number) => {
    for (let k = Math.min(i, offsets.length - 1); k >= 0; k--) if (offsets[k] >= 0) return offsets[k] + 1;
    return 0;
  };
  return (words) =>
    words.map((w) => {
      const from = spoken.rawStart[w.text_start] ?? speech.text.length;
      const to = w.text_end > w.text_start ? (spoken.rawEnd[w.text_end - 1] ?? from) : from;
      let start = -1;
      let end = -1;
      for (let k = from; k < to; k++) {
        if (offsets[k] < 0) continue;
        if (start < 0) start = offsets[k];
        end = offsets[k] + 1;
      }
      if (start < 0) start = end = before(from - 1);
      return { ...w, text_start: start, text_end: Math.max(start, end) };
    });
}
