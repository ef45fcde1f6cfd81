/**
 * SSML in, a flat list of segments out: what the gateway needs to drive engines that take plain text (split
 * into segments, insert silence, change rate/volume per segment) and to rebuild a clean SSML document for the
 * engines that take SSML (`toEspeakSsml`).
 *
 * Parsing: `fast-xml-parser`'s `XMLValidator` first (errors carry line and column), then its ordered parser.
 * Hardening: no DOCTYPE at all (so no custom entities and no entity expansion: the parser's entity processing
 * is off and the five XML entities plus numeric references are decoded here); input length (`maxLength`) and
 * nesting depth (`maxDepth`) are checked before the tree is built. Comments and processing instructions are
 * ignored, CDATA is text.
 *
 * Decisions (the table is the contract for callers and engines):
 * - A document without a `<speak>` root ("Hello <break time='1s'/> world") is accepted as the content of one:
 *   clients and LLMs often omit it. Error positions still refer to the caller's text.
 * - Whitespace runs in text collapse to one space; segment text is trimmed (mark offsets follow).
 * - Segments: consecutive text with the same voice, language, rate, volume, pitch and emphasis is one
 *   segment. A `break`, and the start or end of `s`/`p`, ends the current segment; what follows starts a new
 *   one. A break before any text is a leading segment with empty text. Marks sit at an offset of the segment
 *   that is open when they occur; marks with no open segment (before any text, or right after a break) go to
 *   offset 0 of the next segment, or to an empty trailing segment at the end of the document.
 * - Pauses: `breakAfterMs` = max(structural pause, sum of explicit breaks) after that segment. Structural:
 *   `s` 400 ms, `p` 700 ms (dropped after the last segment: no trailing silence). Break strengths:
 *   none 0, x-weak 100, weak 200, medium 400 (also a bare `<break/>`), strong 700, x-strong 1000 ms. A `time`
 *   wins over `strength`; one break is capped at 10 s, all breaks of a document at `maxTotalBreakMs` (60 s):
 *   a client cannot make the gateway render hours of silence.
 * - `prosody rate`: x-slow 0.5, slow 0.75, medium 1, fast 1.25, x-fast 1.75, "80%" or "0.8" are multipliers of
 *   the default rate; "+10%"/"-20%" change the enclosing rate. Clamped to [0.25, 4].
 *   `volume`: silent -96 dB (below 16-bit resolution), x-soft -12, soft -6, medium 0, loud +6, x-loud +12;
 *   "+6dB"/"-3dB" change the enclosing volume; a bare 0..100 (SSML 1.0) is 20·log10(v/100). Clamped to
 *   [-96, +18]. `pitch`: the innermost value is kept verbatim for engines that can use it.
 * - `say-as`: characters/spell-out/letters → graphemes separated by spaces; digits → digits separated by
 *   spaces; telephone → digit groups read digit by digit, groups separated by commas; cardinal/number →
 *   unchanged (every engine reads numbers as numbers); ordinal → "21st" in English, "21." in languages that
 *   write ordinals so, else unchanged; date (format mdy, dmy, ymd, md, dm, ym, my, y; no format: ISO
 *   "2024-01-05", else the language's order) → the language's long form through `Intl.DateTimeFormat`
 *   ("January 5, 2024", "5. Januar 2024"): language-aware, for the enclosing `xml:lang` or `options.language`.
 *   Two-digit years are 20xx below 50, else 19xx. Text that does not parse is kept, with a warning.
 * - `sub alias` → the alias; `emphasis` → text kept, level on the segment; `voice name`/`xml:lang`, `lang`
 *   and `xml:lang` on `speak`/`p`/`s` → segment voice/language.
 * - Unknown elements: content kept, name added to `warnings` (`audio`, `phoneme`, `mstts:express-as`, …);
 *   `desc`, `metadata`, `lexicon`, `meta` contribute no text. Unusable attribute values are ignored with a
 *   warning such as `prosody rate="zippy"`. Warnings are deduplicated, in order of first occurrence.
 * - `sourceStart`/`sourceEnd`: the span of the caller's string that the segment's text came from (from the
 *   first to the last contributing text node, or the element for `say-as`/`sub`); best effort, never wrong in
 *   order.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface SsmlMark {
  readonly name: string;
  /** Index into the segment's `text` where the mark sits. */
  readonly offset: number;
}

export type EmphasisLevel = 'strong' | 'moderate' | 'reduced' | 'none';

export interface SsmlSegment {
  readonly text: string;
  readonly voice?: string;
  readonly language?: string;
  /** Speaking-rate multiplier; 1 = the engine's default. */
  readonly rate: number;
  /** Gain in dB relative to the engine's default; 0 = unchanged. */
  readonly volumeDb: number;
  /** The SSML pitch value, verbatim, for engines that can apply it. */
  readonly pitch?: string;
  readonly emphasis?: EmphasisLevel;
  /** Silence to insert after this segment. */
  readonly breakAfterMs: number;
  readonly marks: readonly SsmlMark[];
  /** Offsets into the SSML string of where the text came from (best effort). */
  readonly sourceStart: number;
  readonly sourceEnd: number;
  /** With `SsmlOptions.sourceMap`: where each UTF-16 unit of `text` came from in the SSML string. */
  readonly sourceMap?: SsmlSourceMap;
}

/**
 * Per UTF-16 unit of a segment's text, the span of the caller's SSML it came from: the character itself, the
 * whole entity (`&amp;`), the first of a collapsed white-space run, or, for text the gateway substituted
 * (`sub` alias, `say-as` expansion), the element's content (`WWW` of `<sub alias="World Wide Web">WWW</sub>`).
 * Word timings use it to report offsets into the text the client sent.
 */
export interface SsmlSourceMap {
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

export interface SsmlDocument {
  readonly segments: readonly SsmlSegment[];
  /** Ignored elements and attribute values, deduplicated. */
  readonly warnings: readonly string[];
  /** The segments' text joined with spaces: what an engine without SSML says. */
  readonly plainText: string;
}

export interface SsmlOptions {
  /** Longest accepted SSML, in UTF-16 units. */
  maxLength?: number;
  /** Deepest accepted element nesting (`speak` is depth 1). */
  maxDepth?: number;
  /** Language for `say-as` expansions where the document names none. */
  language?: string;
  /** Most explicit break time in one document; later breaks are shortened (with a warning). */
  maxTotalBreakMs?: number;
  /** Give each segment its `sourceMap` (for word timings into the caller's text). */
  sourceMap?: boolean;
}

export const DEFAULT_SSML_MAX_LENGTH = 100_000;
export const DEFAULT_SSML_MAX_DEPTH = 64;

/** Invalid or refused SSML. `line` and `column` are 1-based positions in the caller's string. */
export class SsmlSyntaxError extends Error {
  override readonly name = 'SsmlSyntaxError';

  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`Invalid SSML at line ${line}, column ${column}: ${reason}`);
  }
}

export const BREAK_STRENGTH_MS: Readonly<Record<string, number>> = {
  none: 0,
  'x-weak': 100,
  weak: 200,
  medium: 400,
  strong: 700,
  'x-strong': 1000,
};
export const SENTENCE_PAUSE_MS = 400;
export const PARAGRAPH_PAUSE_MS = 700;
export const MAX_BREAK_MS = 10_000;
export const DEFAULT_MAX_TOTAL_BREAK_MS = 60_000;
export const SILENT_DB = -96;

const RATE_LABELS: Readonly<Record<string, number>> = {
  'x-slow': 0.5,
  slow: 0.75,
  medium: 1,
  default: 1,
  fast: 1.25,
  'x-fast': 1.75,
};
const VOLUME_LABELS: Readonly<Record<string, number>> = {
  silent: SILENT_DB,
  'x-soft': -12,
  soft: -6,
  medium: 0,
  default: 0,
  loud: 6,
  'x-loud': 12,
};
const MIN_RATE = 0.25;
const MAX_RATE = 4;
const MAX_GAIN_DB = 18;
const EMPHASIS_LEVELS = new Set<string>(['strong', 'moderate', 'reduced', 'none']);
/** Known elements whose content is not spoken. */
const SILENT_ELEMENTS = new Set(['desc', 'metadata', 'lexicon', 'meta']);
const WRAP_OPEN = '<speak>';
const WRAP_CLOSE = '</speak>';

export function parseSsml(xml: string, options: SsmlOptions = {}): SsmlDocument {
  const maxLength = options.maxLength ?? DEFAULT_SSML_MAX_LENGTH;
  const maxDepth = options.maxDepth ?? DEFAULT_SSML_MAX_DEPTH;
  const lines = new LineIndex(xml);
  if (xml.length > maxLength) {
    throw lines.error(`longer than ${maxLength} characters`, maxLength);
  }
  const doctype = xml.search(/<!DOCTYPE/iu);
  if (doctype >= 0) throw lines.error('DOCTYPE is not allowed in SSML', doctype);

  // The wrapper keeps every offset of the caller's text at +WRAP_OPEN.length; an XML declaration, which
  // must come first, is blanked out (same length, same lines).
  const wrap = !/^\uFEFF?(?:<\?xml[^]*?\?>)?(?:\s|<!--[^]*?-->|<\?[^]*?\?>)*<speak[\s/>]/u.test(xml);
  const source = wrap
    ? `${WRAP_OPEN}${xml.replace(/^(\uFEFF?)(<\?xml[^]*?\?>)/u, (_m, bom: string, decl: string) => bom + ' '.repeat(decl.length))}${WRAP_CLOSE}`
    : xml;
  const shift = wrap ? WRAP_OPEN.length : 0;

  const valid = XMLValidator.validate(source);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    // Positions past the caller's text (an unclosed element found at the wrapper's end) point at its end.
    const at = lines.indexOf(line, wrap && line === 1 ? (col ?? 1) - shift : (col ?? 1));
    throw lines.error(msg.replace(/\s*\(opened in line \d+, col \d+\)/u, ''), Math.min(at, xml.length));
  }
  checkDepth(source, maxDepth + (wrap ? 1 : 0), (index) =>
    lines.error(`elements nested deeper than ${maxDepth}`, Math.max(0, index - shift)),
  );

  const tree: unknown = newParser(maxDepth + 2).parse(source);
  const nodes = asNodes(tree, (raw, at) =>
    decodeEntities(raw, at, (reason, index) => lines.error(reason, clamp(index - shift, 0, xml.length))),
  );
  const roots = nodes.filter((node) => node.kind === 'element');
  if (roots.length !== 1 || roots[0].name !== 'speak') {
    const extra = roots[1] ?? roots[0];
    throw lines.error('the document must have one <speak> root', Math.max(0, (extra?.start ?? 0) - shift));
  }
  const builder = new Builder(source, shift, xml.length, options, lines);
  builder.element(roots[0], rootStyle);
  return builder.finish();
}

/**
 * A clean SSML document for `espeak-ng -m`, using only what espeak-ng reads (`espeak-ng:docs/markup.md`):
 * `speak`, `voice` (name, xml:lang), `prosody` (rate as a percentage, volume in dB or `silent`, pitch as
 * a label or a relative percentage), `emphasis`, `mark`, `break time`. Say-as, sub and structure were already
 * turned into text and breaks by `parseSsml`. Dropped: pitch in Hz or semitones (espeak has no absolute pitch
 * through SSML). Voice names are passed through: map them to espeak voices before calling this.
 */
export function toEspeakSsml(doc: SsmlDocument): string {
  const parts: string[] = ['<speak>'];
  for (const segment of doc.segments) {
    const open: string[] = [];
    const close: string[] = [];
    if (segment.voice !== undefined || segment.language !== undefined) {
      const attributes = [
        segment.voice !== undefined ? ` name="${escapeXml(segment.voice)}"` : '',
        segment.language !== undefined ? ` xml:lang="${escapeXml(segment.language)}"` : '',
      ].join('');
      open.push(`<voice${attributes}>`);
      close.unshift('</voice>');
    }
    const prosody: string[] = [];
    if (segment.rate !== 1) prosody.push(` rate="${Math.round(segment.rate * 100)}%"`);
    if (segment.volumeDb <= SILENT_DB) prosody.push(' volume="silent"');
    else if (segment.volumeDb !== 0) prosody.push(` volume="${signed(round1(segment.volumeDb))}dB"`);
    const pitch = segment.pitch !== undefined ? espeakPitch(segment.pitch) : undefined;
    if (pitch !== undefined) prosody.push(` pitch="${escapeXml(pitch)}"`);
    if (prosody.length > 0) {
      open.push(`<prosody${prosody.join('')}>`);
      close.unshift('</prosody>');
    }
    if (segment.emphasis !== undefined) {
      open.push(`<emphasis level="${segment.emphasis}">`);
      close.unshift('</emphasis>');
    }
    let text = '';
    let at = 0;
    for (const mark of segment.marks) {
      text += `${escapeXml(segment.text.slice(at, mark.offset))}<mark name="${escapeXml(mark.name)}"/>`;
      at = mark.offset;
    }
    text += escapeXml(segment.text.slice(at));
    if (text) parts.push(open.join(''), text, close.join(''));
    if (segment.breakAfterMs > 0) parts.push(`<break time="${segment.breakAfterMs}ms"/>`);
    parts.push(' ');
  }
  parts.push('</speak>');
  return parts.join('').replace(/ <\/speak>$/u, '</speak>');
}

/** espeak-ng takes pitch labels and relative changes; absolute Hz or semitone values are dropped. */
function espeakPitch(pitch: string): string | undefined {
  const value = pitch.trim().toLowerCase();
  if (/^(x-low|low|medium|high|x-high|default)$/u.test(value)) return value;
  if (/^[+-]?\d+(\.\d+)?%$/u.test(value)) return value;
  return undefined;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/gu, (ch) => XML_ESCAPES[ch] ?? ch);
}
const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

// ---------------------------------------------------------------------------------------------------------
// Tree

function newParser(maxNestedTags: number): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    trimValues: false,
    parseTagValue: false,
    parseAttributeValue: false,
    cdataPropName: '#cdata',
    ignorePiTags: true,
    ignoreDeclaration: true,
    captureMetaData: true,
    // Entities are decoded here (five XML entities and numeric references); nothing can expand.
    processEntities: false,
    htmlEntities: false,
    // checkDepth runs first, with positions; this only guards the parser's own recursion.
    maxNestedTags,
  });
}
const META = XMLParser.getMetaDataSymbol();

type XmlNode =
  | {
      kind: 'element';
      name: string;
      attributes: Record<string, string>;
      children: XmlNode[];
      start: number;
      end: number;
    }
  | { kind: 'text'; text: string }
  | { kind: 'cdata'; text: string };

/** The parser's ordered output as typed nodes; attribute values decoded (`at`: the element's index). */
function asNodes(value: unknown, decode: (raw: string, at: number) => string): XmlNode[] {
  if (!Array.isArray(value)) return [];
  const out: XmlNode[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const record = item as Record<string | symbol, unknown>;
    const name = Object.keys(record).find((key) => key !== ':@');
    if (name === undefined) continue;
    const content = record[name];
    if (name === '#text') {
      out.push({ kind: 'text', text: String(content) });
    } else if (name === '#cdata') {
      const inner = asNodes(content, decode);
      out.push({ kind: 'cdata', text: inner.map((n) => (n.kind === 'element' ? '' : n.text)).join('') });
    } else {
      const meta = record[META as unknown as symbol] as
        { startIndex?: number; endIndex?: number } | undefined;
      const rawAttributes = record[':@'];
      const start = meta?.startIndex ?? 0;
      const attributes: Record<string, string> = {};
      if (typeof rawAttributes === 'object' && rawAttributes !== null) {
        for (const [key, attribute] of Object.entries(rawAttributes as Record<string, unknown>)) {
          attributes[key] = decode(typeof attribute === 'string' ? attribute : String(attribute), start);
        }
      }
      out.push({
        kind: 'element',
        name,
        attributes,
        children: asNodes(content, decode),
        start,
        end: meta?.endIndex ?? 0,
      });
    }
  }
  return out;
}

/**
 * Refuses nesting deeper than `maxDepth` before the parser recurses into it. The validator has accepted the
 * document, so a simple scan suffices: comments, CDATA and processing instructions are skipped, quotes in
 * attribute values respected.
 */
function checkDepth(xml: string, maxDepth: number, fail: (index: number) => Error): void {
  let depth = 0;
  let i = xml.indexOf('<');
  while (i >= 0 && i < xml.length) {
    if (xml.startsWith('<!--', i)) i = xml.indexOf('-->', i + 4) + 3;
    else if (xml.startsWith('<![CDATA[', i)) i = xml.indexOf(']]>', i + 9) + 3;
    else if (xml.startsWith('<?', i)) i = xml.indexOf('?>', i + 2) + 2;
    else if (xml.startsWith('</', i)) {
      depth--;
      i = xml.indexOf('>', i) + 1;
    } else {
      const end = tagEnd(xml, i);
      if (xml[end - 2] !== '/' && ++depth > maxDepth) throw fail(i);
      i = end;
    }
    if (i <= 0) return;
    i = xml.indexOf('<', i);
  }
}

/** Index just past the `>` of the tag starting at `start`, skipping quoted attribute values. */
function tagEnd(xml: string, start: number): number {
  let quote = '';
  for (let i = start + 1; i < xml.length; i++) {
    const ch = xml[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return i + 1;
    }
  }
  return xml.length;
}

class LineIndex {
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  error(reason: string, index: number): SsmlSyntaxError {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid] <= index) low = mid;
      else high = mid - 1;
    }
    return new SsmlSyntaxError(reason, low + 1, index - this.starts[low] + 1);
  }

  indexOf(line: number, column: number): number {
    const start = this.starts[Math.min(Math.max(line, 1), this.starts.length) - 1];
    return Math.max(0, Math.min(this.text.length, start + column - 1));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding entities

const NAMED_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes the XML entities in `raw`, which starts at `index` of `source` (for error positions). */
function decodeEntities(raw: string, index: number, fail: (reason: string, at: number) => Error): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&\s<]*);?/gu, (match: string, name: string, at: number) => {
    if (!match.endsWith(';')) throw fail("'&' must start an entity such as &amp;", index + at);
    if (name.startsWith('#')) {
      const code = /^#x[0-9a-f]+$/iu.test(name)
        ? parseInt(name.slice(2), 16)
        : /^#\d+$/u.test(name)
          ? parseInt(name.slice(1), 10)
          : NaN;
      if (!isXmlChar(code)) throw fail(`invalid character reference ${match}`, index + at);
      return String.fromCodePoint(code);
    }
    const value = NAMED_ENTITIES[name];
    if (value === undefined) throw fail(`unknown entity ${match} (SSML has no DTD)`, index + at);
    return value;
  });
}

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

// ---------------------------------------------------------------------------------------------------------
// Segments

interface Style {
  voice?: string;
  language?: string;
  rate: number;
  volumeDb: number;
  pitch?: string;
  emphasis?: EmphasisLevel;
}

const rootStyle: Style = { rate: 1, volumeDb: 0 };

function sameStyle(a: Style, b: Style): boolean {
  return (
    a.voice === b.voice &&
    a.language === b.language &&
    a.rate === b.rate &&
    a.volumeDb === b.volumeDb &&
    a.pitch === b.pitch &&
    a.emphasis === b.emphasis
  );
}

interface Draft {
  style: Style;
  text: string;
  /** Source span of each unit of `text` (positions in the wrapped source). */
  starts: number[];
  ends: number[];
  marks: { name: string; offset: number }[];
  structuralMs: number;
  explicitMs: number;
  sourceStart: number;
  sourceEnd: number;
}

class Builder {
  private readonly drafts: Draft[] = [];
  /** The segment that takes more text: same style, no break since its last text. */
  private open: Draft | undefined;
  private pendingMarks: string[] = [];
  private readonly warnings = new Set<string>();
  private breakBudgetMs: number;
  private readonly language: string | undefined;
  private readonly withMap: boolean;

  constructor(
    private readonly source: string,
    private readonly shift: number,
    private readonly length: number,
    options: SsmlOptions,
    private readonly lines: LineIndex,
  ) {
    this.breakBudgetMs = options.maxTotalBreakMs ?? DEFAULT_MAX_TOTAL_BREAK_MS;
    this.language = options.language;
    this.withMap = options.sourceMap === true;
  }

  element(node: Extract<XmlNode, { kind: 'element' }>, parent: Style): void {
    const style = this.styleOf(node, parent);
    const name = node.name;
    switch (name) {
      case 'break':
        this.pause(this.breakMs(node.attributes), style);
        return;
      case 'mark':
        if (node.attributes.name !== undefined) this.mark(node.attributes.name);
        return;
      case 'sub': {
        const alias = node.attributes.alias;
        if (alias !== undefined) {
          this.text(alias, style, node.start, node.end, this.contentSpan(node));
          return;
        }
        this.warn('sub without alias');
        break;
      }
      case 'say-as':
        this.sayAs(node, style);
        return;
      case 's':
      case 'p':
        this.boundary(name === 's' ? SENTENCE_PAUSE_MS : PARAGRAPH_PAUSE_MS);
        this.children(node, style);
        this.boundary(name === 's' ? SENTENCE_PAUSE_MS : PARAGRAPH_PAUSE_MS);
        return;
      case 'speak':
      case 'prosody':
      case 'voice':
      case 'lang':
      case 'emphasis':
        break;
      default:
        if (SILENT_ELEMENTS.has(name)) return;
        this.warn(name);
    }
    this.children(node, style);
  }

  finish(): SsmlDocument {
    if (this.pendingMarks.length > 0) this.holder(this.open?.style ?? rootStyle);
    // No trailing silence for a closing </s> or </p>: from the last segment with text on.
    for (let i = this.drafts.length - 1; i >= 0; i--) {
      this.drafts[i].structuralMs = 0;
      if (this.drafts[i].text.trim()) break;
    }
    const segments: SsmlSegment[] = [];
    for (const draft of this.drafts) {
      const lead = draft.text.length - draft.text.trimStart().length;
      const text = draft.text.trim();
      const breakAfterMs = Math.max(draft.structuralMs, draft.explicitMs);
      if (!text && draft.marks.length === 0 && breakAfterMs === 0) continue;
      segments.push({
        text,
        ...(draft.style.voice !== undefined && { voice: draft.style.voice }),
        ...(draft.style.language !== undefined && { language: draft.style.language }),
        rate: draft.style.rate,
        volumeDb: draft.style.volumeDb,
        ...(draft.style.pitch !== undefined && { pitch: draft.style.pitch }),
        ...(draft.style.emphasis !== undefined && { emphasis: draft.style.emphasis }),
        breakAfterMs,
        marks: draft.marks.map((m) => ({ name: m.name, offset: clamp(m.offset - lead, 0, text.length) })),
        sourceStart: this.local(draft.sourceStart),
        sourceEnd: this.local(draft.sourceEnd),
        ...(this.withMap && {
          sourceMap: {
            starts: draft.starts.slice(lead, lead + text.length).map((i) => this.local(i)),
            ends: draft.ends.slice(lead, lead + text.length).map((i) => this.local(i)),
          },
        }),
      });
    }
    return {
      segments,
      warnings: [...this.warnings],
      plainText: segments
        .map((s) => s.text)
        .filter(Boolean)
        .join(' '),
    };
  }

  private readonly fail = (reason: string, at: number): Error =>
    this.lines.error(reason, clamp(at - this.shift, 0, this.length));

  private local(index: number): number {
    return clamp(index - this.shift, 0, this.length);
  }

  /** Walks the children, tracking where each text node sits in the source. */
  private children(node: Extract<XmlNode, { kind: 'element' }>, style: Style): void {
    let cursor = tagEnd(this.source, node.start);
    for (const child of node.children) {
      cursor = skipIgnorable(this.source, cursor);
      if (child.kind === 'element') {
        this.element(child, style);
        cursor = child.end;
      } else if (child.kind === 'cdata') {
        const start = this.source.indexOf('<![CDATA[', cursor);
        const end = this.source.indexOf(']]>', start) + 3;
        this.text(child.text, style, start + 9, end - 3, identityMap(start + 9, child.text.length));
        cursor = end;
      } else {
        const end = textEnd(this.source, cursor);
        const decoded = decodeEntities(child.text, cursor, this.fail);
        this.text(decoded, style, cursor, end, this.withMap ? entityMap(child.text, cursor) : undefined);
        cursor = end;
      }
    }
  }

  /** Concatenated text of an element's descendants (for say-as), entities decoded. */
  private innerText(node: Extract<XmlNode, { kind: 'element' }>): string {
    let cursor = tagEnd(this.source, node.start);
    let out = '';
    for (const child of node.children) {
      cursor = skipIgnorable(this.source, cursor);
      if (child.kind === 'element') {
        out += this.innerText(child);
        cursor = child.end;
      } else if (child.kind === 'cdata') {
        out += child.text;
        cursor = this.source.indexOf(']]>', cursor) + 3;
      } else {
        out += decodeEntities(child.text, cursor, this.fail);
        cursor = textEnd(this.source, cursor);
      }
    }
    return out;
  }

  /**
   * `map`: the source span of each unit of `raw` (a `SourceSpans`), or one span for all of it (text the
   * gateway substituted); without it (no `sourceMap` asked) positions are not tracked.
   */
  private text(
    raw: string,
    style: Style,
    start: number,
    end: number,
    map?: SourceSpans | { start: number; end: number },
  ): void {
    const spans: SourceSpans = !this.withMap
      ? { starts: [], ends: [] }
      : map && 'starts' in map
        ? map
        : {
            starts: new Array<number>(raw.length).fill(map?.start ?? start),
            ends: new Array<number>(raw.length).fill(map?.end ?? end),
          };
    const collapsed = collapseSpaces(raw, spans, this.withMap);
    let text = collapsed.text;
    if (!text) return;
    if (text === ' ') {
      // Only worth keeping between two words of one segment.
      if (this.open && sameStyle(this.open.style, style) && !this.open.text.endsWith(' ')) {
        this.open.text += ' ';
        this.appendSpans(this.open, collapsed.spans, 0, 1);
      }
      return;
    }
    let from = 0;
    let draft = this.open;
    if (draft && !sameStyle(draft.style, style)) {
      // "<emphasis>now</emphasis>." — the period belongs to the word before, not to a segment of its own.
      const punctuation = /^\p{P}+/u.exec(text)?.[0] ?? '';
      if (punctuation && !draft.text.endsWith(' ')) {
        draft.text += punctuation;
        this.appendSpans(draft, collapsed.spans, 0, punctuation.length);
        text = text.slice(punctuation.length);
        from = punctuation.length;
        if (!text.trim()) return;
      }
    }
    if (!draft || !sameStyle(draft.style, style)) {
      draft = this.newDraft(style, start);
      this.open = draft;
    }
    if (draft.text.endsWith(' ') && text.startsWith(' ')) {
      text = text.slice(1);
      from++;
    }
    for (const name of this.pendingMarks) draft.marks.push({ name, offset: draft.text.length });
    this.pendingMarks = [];
    draft.text += text;
    this.appendSpans(draft, collapsed.spans, from, from + text.length);
    draft.sourceStart = Math.min(draft.sourceStart, start);
    draft.sourceEnd = Math.max(draft.sourceEnd, end);
  }

  private appendSpans(draft: Draft, spans: SourceSpans, from: number, to: number): void {
    if (!this.withMap) return;
    for (let i = from; i < to; i++) {
      draft.starts.push(spans.starts[i]);
      draft.ends.push(spans.ends[i]);
    }
  }

  private newDraft(style: Style, at: number): Draft {
    const draft: Draft = {
      style,
      text: '',
      starts: [],
      ends: [],
      marks: [],
      structuralMs: 0,
      explicitMs: 0,
      sourceStart: at,
      sourceEnd: at,
    };
    this.drafts.push(draft);
    return draft;
  }

  /** An empty segment for marks and breaks that no text segment can take. */
  private holder(style: Style): Draft {
    const at = this.drafts[this.drafts.length - 1]?.sourceEnd ?? this.shift;
    const draft = this.newDraft(style, at);
    for (const name of this.pendingMarks) draft.marks.push({ name, offset: 0 });
    this.pendingMarks = [];
    this.open = undefined;
    return draft;
  }

  private mark(name: string): void {
    if (this.open) this.open.marks.push({ name, offset: this.open.text.length });
    else this.pendingMarks.push(name);
  }

  private pause(ms: number, style: Style): void {
    if (ms <= 0) return;
    const last = this.drafts[this.drafts.length - 1];
    const target =
      this.pendingMarks.length > 0 || last === undefined ? this.holder(style) : (this.open ?? last);
    const granted = Math.min(ms, this.breakBudgetMs);
    if (granted < ms) this.warn('break time beyond maxTotalBreakMs');
    this.breakBudgetMs -= granted;
    target.explicitMs += granted;
    this.open = undefined;
  }

  private boundary(ms: number): void {
    // Only after text: a structure boundary never lengthens a leading or explicit pause.
    const last = this.drafts[this.drafts.length - 1];
    if (last === undefined || this.pendingMarks.length > 0 || !last.text.trim()) return;
    last.structuralMs = Math.max(last.structuralMs, ms);
    this.open = undefined;
  }

  private warn(warning: string): void {
    this.warnings.add(warning);
  }

  private breakMs(attributes: Record<string, string>): number {
    const time = attributes.time;
    if (time !== undefined) {
      const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)\s*$/iu.exec(time);
      if (match) {
        const ms = parseFloat(match[1]) * (match[2].toLowerCase() === 's' ? 1000 : 1);
        return Math.round(Math.min(ms, MAX_BREAK_MS));
      }
      this.warn(`break time="${time}"`);
    }
    const strength = attributes.strength;
    if (strength !== undefined) {
      const ms = BREAK_STRENGTH_MS[strength.trim().toLowerCase()];
      if (ms !== undefined) return ms;
      this.warn(`break strength="${strength}"`);
    }
    return BREAK_STRENGTH_MS.medium;
  }

  private styleOf(node: Extract<XmlNode, { kind: 'element' }>, parent: Style): Style {
    const a = node.attributes;
    let style = parent;
    const set = (patch: Partial<Style>) => {
      style = { ...style, ...patch };
    };
    const lang = a['xml:lang'];
    if (lang !== undefined && lang.trim()) set({ language: lang.trim() });
    switch (node.name) {
      case 'voice':
        if (a.name !== undefined && a.name.trim()) set({ voice: a.name.trim() });
        break;
      case 'prosody':
        if (a.rate !== undefined) {
          const rate = parseRate(a.rate, parent.rate);
          if (rate === undefined) this.warn(`prosody rate="${a.rate}"`);
          else set({ rate });
        }
        if (a.volume !== undefined) {
          const volumeDb = parseVolume(a.volume, parent.volumeDb);
          if (volumeDb === undefined) this.warn(`prosody volume="${a.volume}"`);
          else set({ volumeDb });
        }
        if (a.pitch !== undefined && a.pitch.trim()) set({ pitch: a.pitch.trim() });
        break;
      case 'emphasis': {
        const level = (a.level ?? 'moderate').trim().toLowerCase();
        if (EMPHASIS_LEVELS.has(level)) set({ emphasis: level as EmphasisLevel });
        else this.warn(`emphasis level="${a.level}"`);
        break;
      }
    }
    return style;
  }

  private sayAs(node: Extract<XmlNode, { kind: 'element' }>, style: Style): void {
    const raw = this.innerText(node).trim();
    const interpret = (node.attributes['interpret-as'] ?? '').trim().toLowerCase();
    const language = style.language ?? this.language ?? 'en';
    let spoken: string | undefined;
    switch (interpret) {
      case 'characters':
      case 'spell-out':
      case 'letters':
      case 'verbatim':
        spoken = graphemes(raw.replace(/\s+/gu, '')).join(' ');
        break;
      case 'digits':
        spoken = [...raw.replace(/\s+/gu, '')].join(' ');
        break;
      case 'telephone':
        spoken = telephone(raw);
        break;
      case 'cardinal':
      case 'number':
        spoken = raw;
        break;
      case 'ordinal':
        spoken = ordinal(raw, language);
        break;
      case 'date':
        spoken = spokenDate(raw, node.attributes.format, language);
        if (spoken === undefined) this.warn(`say-as date "${raw}"`);
        break;
      default:
        this.warn(`say-as interpret-as="${interpret}"`);
    }
    this.text(spoken ?? raw, style, node.start, node.end, this.contentSpan(node));
  }

  /** What the client wrote inside an element (the element itself when it is empty). */
  private contentSpan(node: Extract<XmlNode, { kind: 'element' }>): { start: number; end: number } {
    const open = tagEnd(this.source, node.start);
    const close = this.source.lastIndexOf('</', node.end);
    return close >= open && close > node.start
      ? { start: open, end: close }
      : { start: node.start, end: node.end };
  }
}

/** Past comments and processing instructions, which the parser drops. */
function skipIgnorable(source: string, cursor: number): number {
  let at = cursor;
  for (;;) {
    if (source.startsWith('<!--', at)) at = source.indexOf('-->', at + 4) + 3;
    else if (source.startsWith('<?', at)) at = source.indexOf('?>', at + 2) + 2;
    else return at;
  }
}

/** The end of a text node: the next markup that is not a comment (comments do not split text nodes). */
function textEnd(source: string, cursor: number): number {
  let at = cursor;
  for (;;) {
    const lt = source.indexOf('<', at);
    if (lt < 0) return source.length;
    if (!source.startsWith('<!--', lt)) return lt;
    at = source.indexOf('-->', lt + 4) + 3;
  }
}

/** Source spans per UTF-16 unit of a text, in the wrapped source's positions. */
interface SourceSpans {
  starts: number[];
  ends: number[];
}

function identityMap(at: number, length: number): SourceSpans {
  const starts = Array.from({ length }, (_, i) => at + i);
  return { starts, ends: starts.map((i) => i + 1) };
}

/**
 * The spans of `raw` (a text node at `at` of the source) once its entities are decoded, as
 * `decodeEntities` decodes them (which has already refused bad ones): every unit of an entity's
 * replacement spans the whole entity.
 */
function entityMap(raw: string, at: number): SourceSpans {
  const out: SourceSpans = { starts: [], ends: [] };
  let i = 0;
  for (const match of raw.matchAll(/&([^;&\s<]*);/gu)) {
    const index = match.index;
    for (; i < index; i++) {
      out.starts.push(at + i);
      out.ends.push(at + i + 1);
    }
    const name = match[1];
    const decoded = name.startsWith('#')
      ? String.fromCodePoint(
          name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10),
        )
      : (NAMED_ENTITIES[name] ?? '');
    for (let k = 0; k < decoded.length; k++) {
      out.starts.push(at + index);
      out.ends.push(at + index + match[0].length);
    }
    i = index + match[0].length;
  }
  for (; i < raw.length; i++) {
    out.starts.push(at + i);
    out.ends.push(at + i + 1);
  }
  return out;
}

/** White-space runs collapsed to one space (each space spans the run's first character). */
function collapseSpaces(
  raw: string,
  spans: SourceSpans,
  track: boolean,
): { text: string; spans: SourceSpans } {
  const text = raw.replace(/\s+/gu, ' ');
  if (!track) return { text, spans };
  const out: SourceSpans = { starts: [], ends: [] };
  let inSpace = false;
  for (let i = 0; i < raw.length; i++) {
    const space = /\s/u.test(raw[i]);
    if (space && inSpace) continue;
    inSpace = space;
    out.starts.push(spans.starts[i]);
    out.ends.push(spans.ends[i]);
  }
  return { text, spans: out };
}

// ---------------------------------------------------------------------------------------------------------
// Values

function parseRate(value: string, parent: number): number | undefined {
  const v = value.trim().toLowerCase();
  let rate: number | undefined = RATE_LABELS[v];
  const relative = /^([+-])(\d+(?:\.\d+)?)%$/u.exec(v);
  const percent = /^(\d+(?:\.\d+)?)%$/u.exec(v);
  if (rate !== undefined) {
    // a label
  } else if (relative) {
    rate = parent * (1 + (relative[1] === '-' ? -1 : 1) * (parseFloat(relative[2]) / 100));
  } else if (percent) {
    rate = parseFloat(percent[1]) / 100;
  } else if (/^\d+(\.\d+)?$/u.test(v)) {
    rate = parseFloat(v);
  }
  if (rate === undefined || !Number.isFinite(rate)) return undefined;
  return round3(clamp(rate, MIN_RATE, MAX_RATE));
}

function parseVolume(value: string, parent: number): number | undefined {
  const v = value.trim().toLowerCase();
  let db: number | undefined = VOLUME_LABELS[v];
  const decibels = /^([+-]?)(\d+(?:\.\d+)?)\s*db$/u.exec(v);
  if (db !== undefined) {
    // a label
  } else if (decibels) {
    const amount = parseFloat(decibels[2]) * (decibels[1] === '-' ? -1 : 1);
    db = decibels[1] ? parent + amount : amount;
  } else if (/^\d+(\.\d+)?$/u.test(v) && parseFloat(v) <= 100) {
    const level = parseFloat(v);
    db = level === 0 ? SILENT_DB : 20 * Math.log10(level / 100);
  }
  if (db === undefined || !Number.isFinite(db)) return undefined;
  return round1(clamp(db, SILENT_DB, MAX_GAIN_DB));
}

function graphemes(text: string): string[] {
  return [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(text)].map((s) => s.segment);
}

function telephone(raw: string): string {
  const groups = raw.match(/\+?\d+/gu) ?? [];
  if (groups.length === 0) return raw;
  return groups.map((group) => [...group].join(' ').replace(/^\+ /u, '+')).join(', ');
}

/** Languages that write an ordinal as the number and a dot. */
const DOT_ORDINALS = new Set([
  'de',
  'da',
  'nb',
  'nn',
  'no',
  'fi',
  'cs',
  'sk',
  'pl',
  'hu',
  'et',
  'lv',
  'sl',
  'hr',
  'sr',
  'tr',
  'is',
]);
const ENGLISH_SUFFIX: Readonly<Record<string, string>> = { one: 'st', two: 'nd', few: 'rd', other: 'th' };

function ordinal(raw: string, language: string): string {
  const match = /^(\d+)\.?$/u.exec(raw);
  if (!match) return raw;
  const base = primaryLanguage(language);
  if (base === 'en') {
    const category = new Intl.PluralRules('en', { type: 'ordinal' }).select(Number(match[1]));
    return `${match[1]}${ENGLISH_SUFFIX[category] ?? 'th'}`;
  }
  return DOT_ORDINALS.has(base) ? `${match[1]}.` : raw;
}

/**
 * A date in the language's long form, or undefined when `raw` does not parse in `format`
 * (SSML say-as formats: any order of d, m, y).
 */
export function spokenDate(raw: string, format: string | undefined, language: string): string | undefined {
  const parts = raw
    .trim()
    .split(/[-/.,\s]+/u)
    .filter(Boolean);
  let order = format?.trim().toLowerCase();
  if (!order) {
    if (/^\d{4}-\d{1,2}-\d{1,2}$/u.test(raw.trim())) order = 'ymd';
    else order = defaultDateOrder(language);
  }
  if (!/^(?!.*(.).*\1)[dmy]{1,3}$/u.test(order) || parts.length !== order.length) return undefined;
  if (!parts.every((p) => /^\d{1,4}$/u.test(p))) return undefined;
  const value: Partial<Record<'d' | 'm' | 'y', number>> = {};
  [...order].forEach((key, i) => {
    value[key as 'd' | 'm' | 'y'] = Number(parts[i]);
  });
  let year = value.y;
  if (year !== undefined && parts[order.indexOf('y')].length <= 2) year += year < 50 ? 2000 : 1900;
  const month = value.m;
  const day = value.d;
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined) {
    const days = month === undefined ? 31 : new Date(Date.UTC(year ?? 2000, month, 0)).getUTCDate();
    if (day < 1 || day > days) return undefined;
  }
  if (month === undefined && day !== undefined) return undefined; // "d" or "dy" alone is not a date
  const formatter = dateFormatter(language, {
    timeZone: 'UTC',
    ...(year !== undefined && { year: 'numeric' }),
    ...(month !== undefined && { month: 'long' }),
    ...(day !== undefined && { day: 'numeric' }),
  });
  const date = new Date(Date.UTC(year ?? 2000, (month ?? 1) - 1, day ?? 1));
  if (year !== undefined) date.setUTCFullYear(year); // years below 100 too
  return formatter.format(date);
}

function defaultDateOrder(language: string): string {
  try {
    const parts = new Intl.DateTimeFormat(language, {
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).formatToParts(new Date(Date.UTC(2000, 0, 2)));
    const order = parts
      .map((p) => (p.type === 'day' ? 'd' : p.type === 'month' ? 'm' : p.type === 'year' ? 'y' : ''))
      .join('');
    return order.length === 3 ? order : 'mdy';
  } catch {
    return 'mdy';
  }
}

function dateFormatter(language: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat(language, options);
  } catch {
    return new Intl.DateTimeFormat('en', options);
  }
}

function primaryLanguage(language: string): string {
  return language.trim().toLowerCase().split(/[-_]/u)[0] ?? 'en';
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function signed(value: number): string {
  return value > 0 ? `+${value}` : `${value}`;
}
