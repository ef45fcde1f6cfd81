/**
 * `text_format` on the live socket: the client's text arrives in pieces (LLM tokens), so neither markdown nor
 * SSML can be parsed as a document. These filters take the raw pieces and release, as early as it is safe,
 * what the session path (`prepareText`) would make of the whole text:
 *
 * - `MarkdownLiveFilter` → plain text, fed to the context's `SentenceAccumulator` like `text_format: "text"`;
 * - `SsmlLiveFilter` → SSML fragments parsed by `parseSsml` into segments, synthesized like the session's
 *   SSML (`SynthesisPlan.segments`: voice, rate, volume, breaks, marks).
 *
 * Both keep what they hold small (a line of markdown, an SSML sentence) and never throw on valid input;
 * invalid SSML throws `LiveTextError` naming the character of the context's text where it went wrong.
 *
 * Offsets: every character released carries the span of the context's text (the concatenation of the pieces
 * the client sent) it came from, so word timings index what the client wrote, as the session path's do
 * (`markdownTimingsToSource`, `SsmlOptions.sourceMap`). Markdown: `releasedSource` after each call, a source
 * character at its place, a character the rendering inserted (a joint, a block's period, the code note) as
 * an empty span after the last source character released before it. SSML: each segment's `sourceMap`,
 * `sourceStart` and `sourceEnd` are offsets into the context's text (a `sub` or `say-as` word spans the
 * element's content). `SpokenSource` keeps the spans of released text until its sentence is cut.
 */
import { PAUSE_MS } from '../providers/sentence-pipeline';
import {
  DEFAULT_MAX_SEGMENT_CHARS,
  SENTENCE_END_HINT,
  segmentEnd,
  splitSettledSpans,
} from '../providers/text/sentence-splitter';
import { DEFAULT_CODE_NOTE, markdownToSpeech } from './markdown';
import {
  DEFAULT_SSML_MAX_DEPTH,
  PARAGRAPH_PAUSE_MS,
  SENTENCE_PAUSE_MS,
  SsmlSyntaxError,
  parseSsml,
  type SsmlSegment,
} from './ssml';

/** Invalid SSML (`invalid`), or a fragment that grew past the bound while waiting to be cut (`too_large`). */
export class LiveTextError extends Error {
  override readonly name = 'LiveTextError';

  constructor(
    readonly kind: 'invalid' | 'too_large',
    /** UTF-16 index in the context's text (everything the client sent for it) where the problem is. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${kind === 'invalid' ? 'invalid SSML' : 'SSML held too long'} at character ${offset}: ${reason}`);
  }
}

/** A run of text with no sentence end held longer than this (UTF-16 units) is cut at a space. */
const MAX_RUN = DEFAULT_MAX_SEGMENT_CHARS;

/** Terminal punctuation (with closing quotes, brackets and emphasis markers) that may end a sentence. */
const TERMINATOR = /[.!?…]+["'”’»)\]}」』）】*_~`]*(?=\s)|[。！？]+["'”’»)\]}」』）】*_~`]*(?=.)/gu;

/**
 * Per UTF-16 unit of a released text, the span of the context's text it came from (`SsmlSourceMap`'s shape):
 * `[starts[i], ends[i])`, empty for a character the gateway inserted.
 */
export interface SourceSpans {
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

const NO_SPANS: SourceSpans = { starts: [], ends: [] };

/**
 * The span of the context's text that the released characters `[from, to)` came from: from the first source
 * character's start to the last one's end (`**bold**` → `bold`); without any (a word the gateway inserted),
 * empty, where the context's text was at that point.
 */
export function sourceSpanOf(spans: SourceSpans, from: number, to: number): { start: number; end: number } {
  let start = -1;
  let end = -1;
  for (let k = from; k < to && k < spans.starts.length; k++) {
    if (spans.ends[k] <= spans.starts[k]) continue;
    if (start < 0) start = spans.starts[k];
    end = Math.max(end, spans.ends[k]);
  }
  if (start >= 0) return { start, end: Math.max(start, end) };
  const at = spans.starts[from] ?? spans.ends[spans.ends.length - 1] ?? 0;
  return { start: at, end: at };
}

/**
 * The spans of a text released in pieces (what the accumulator is fed), kept only from the first character
 * not yet taken by a sentence: bounded like the accumulator's own buffer.
 */
export class SpokenSource {
  private starts: number[] = [];
  private ends: number[] = [];
  /** Released index of `starts[0]`. */
  private base = 0;

  append(spans: SourceSpans): void {
    for (let i = 0; i < spans.starts.length; i++) {
      this.starts.push(spans.starts[i]);
      this.ends.push(spans.ends[i]);
    }
  }

  /** The spans of released characters `[from, to)`; everything before `to` is dropped. */
  take(from: number, to: number): SourceSpans {
    const a = Math.max(0, from - this.base);
    const b = Math.max(a, to - this.base);
    const out = { starts: this.starts.slice(a, b), ends: this.ends.slice(a, b) };
    const drop = Math.min(b, this.starts.length);
    this.starts = this.starts.slice(drop);
    this.ends = this.ends.slice(drop);
    this.base += drop;
    return out;
  }
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

// ---------------------------------------------------------------------------------------------------------
// Markdown

/**
 * Markdown, line by line, with `markdownToSpeech` doing every rendering decision.
 *
 * - A line is rendered together with the lines of its block before it (since the last blank line, at most
 *   `CONTEXT_CHARS`), and only the output that comes from the new line (by `sourceOffsets`) is released, with
 *   the inserted characters that join it to the text before (" " for a soft break, ".\n" after a block that
 *   ended). So setext headings, lazy continuations, list paragraphs and indented code read as in the whole
 *   document. Inserted characters after the last released one (the period a block gets when it ends) are
 *   held as `tail` until the next line shows whether the block goes on; a blank line or a heading settles it.
 * - Fences (``` and ~~~) are followed here, across lines and pieces: the code note ("(code omitted).") is
 *   released when the fence opens, code lines are dropped as they arrive (not even held), and the fence
 *   closes on its closing line, as markdown-it decides. Indented code comes out of the rendering itself.
 * - The incomplete last line is released up to its last sentence end (a terminator followed by white space,
 *   or a CJK one), so a long one-line paragraph speaks sentence by sentence; a run with no sentence end is cut
 *   at a space once it passes 250 characters. Such a cut renders a prefix of the line, where an emphasis,
 *   code span or link opened before the cut and closed after it shows as literal markers: unmatched markers
 *   are stripped from what a cut releases. Lines that may open a fence or hold a table row (a `|`) are only
 *   released whole: their meaning depends on the rest of the line, or on the next line (a table's delimiter
 *   row), so a line with a `|` after a line without one waits for the next line.
 * - `flush` releases the incomplete line as it is (stray markers stripped); the period a later joint would
 *   insert right after flushed text is dropped (the flushed text already went out as its own sentence).
 *
 * The output, concatenated and normalized, is `prepareText(whole, 'markdown').spokenText` for the usual
 * shapes of an LLM reply (paragraphs on one line, headings, lists, fences, tables, links, emphasis, emoji);
 * constructs that span a sentence cut may differ by a marker.
 */
export class MarkdownLiveFilter {
  private line = '';
  /** UTF-16 units at the start of `line` whose speech was released (by a cut or a flush). */
  private released = 0;
  /**
   * Where in `line` a render may start on its own (0: with the block context): a cut after which no inline
   * construct was open, so the rest of the line reads the same without what came before. Keeps the cost of
   * a long one-line paragraph linear.
   */
  private anchor = 0;
  /** Complete lines of the current block group, rendered again as context for the next line. */
  private context: string[] = [];
  private contextChars = 0;
  /** A complete line not yet rendered (a possible table header waiting for its delimiter row). */
  private waiting: string | undefined;
  /** Inserted text after the last released character (a block's closing period), replaced by the next joint. */
  private tail = '';
  private fence: { char: string; length: number } | undefined;
  /** The rest of the current line is code: nothing of it is kept. */
  private skipping = false;
  private blankBefore = false;
  private emitted = false;
  /** A block separator ("\n") is due before the next output (a block ended outside any rendering). */
  private separate = false;
  /** The next output's leading inserted period is dropped (its block end was already released). */
  private dropPeriod = false;
  private out = '';
  /** Source spans of `out`, character by character. */
  private outStarts: number[] = [];
  private outEnds: number[] = [];
  private taken: SourceSpans = NO_SPANS;
  /** UTF-16 units of the context's text pushed so far. */
  private consumed = 0;
  /** Where `line[0]` (the current physical line's start) is in the context's text; `waiting`'s, likewise. */
  private lineBase = 0;
  private waitingBase = 0;
  /** Just past the last source character released: where an inserted character sits. */
  private lastEnd = 0;

  /** Where each UTF-16 unit of the text the last `push`, `flush` or `end` returned came from. */
  get releasedSource(): SourceSpans {
    return this.taken;
  }

  /** UTF-8 bytes of the client's text held and not yet released. */
  get heldBytes(): number {
    return utf8Bytes(this.line.slice(this.released)) + (this.waiting ? utf8Bytes(this.waiting) : 0);
  }

  /** Appends a piece of the client's text; returns the spoken text it released (often ''). */
  push(text: string): string {
    const base = this.consumed;
    this.consumed += text.length;
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      this.append(newline < 0 ? text.slice(start) : text.slice(start, newline));
      if (newline < 0) break;
      this.completeLine();
      start = newline + 1;
      this.lineBase = base + start;
    }
    this.cutPartial();
    return this.take();
  }

  /** Releases the incomplete line as it is (`flush`, idle gap); a line that may open a fence stays. */
  flush(): string {
    if (!this.fence && !this.skipping && !mayOpenFence(this.line)) {
      // Trailing white space stays: it belongs before the next word (the render would trim it).
      let end = this.line.trimEnd().length;
      if (isHighSurrogate(this.line.charCodeAt(end - 1))) end--;
      if (end > this.released || this.waiting !== undefined) this.render(end, 'partial');
    }
    this.dropPeriod = true;
    return this.take();
  }

  /** No more text: the rest, and the period its block ends with. */
  end(): string {
    if (this.line.length > 0 || this.skipping) this.completeLine();
    if (this.waiting !== undefined) this.renderWaiting();
    this.emit(this.tail, true);
    this.tail = '';
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    this.taken = { starts: this.outStarts, ends: this.outEnds };
    this.outStarts = [];
    this.outEnds = [];
    return out;
  }

  private append(piece: string): void {
    if (!piece || this.skipping) return;
    this.line += piece;
    if (this.fence && !mayCloseFence(this.line, this.fence)) {
      // A code line: dropped now, and the rest of it as it comes.
      this.skipping = true;
      this.line = '';
    }
  }

  private completeLine(): void {
    let line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    // A final unescaped backslash is a hard break, read as the space the next line's joint brings (or, at a
    // paragraph's end, a literal backslash nobody wants read): rendered alone, the line would keep it.
    if (!this.fence) line = line.replace(/(?<!\\)((?:\\\\)*)\\$/u, '$1');
    const skipped = this.skipping;
    const released = this.released;
    const anchor = this.anchor;
    this.line = '';
    this.released = 0;
    this.anchor = 0;
    this.skipping = false;
    if (this.fence) {
      if (!skipped && closesFence(line, this.fence)) {
        this.fence = undefined;
        this.resetContext();
      }
      return;
    }
    const opened = released === 0 ? fenceOpening(line) : undefined;
    if (opened) {
      if (this.waiting !== undefined) this.renderWaiting();
      this.resetContext();
      this.emit(`${DEFAULT_CODE_NOTE}.`, true);
      this.separate = true;
      this.fence = opened;
      return;
    }
    if (/^[ \t]*$/u.test(line)) {
      if (this.waiting !== undefined) this.renderWaiting();
      // The block before has certainly ended: its closing period can go now.
      this.settleTail();
      this.addContext(line);
      this.blankBefore = true;
      return;
    }
    if (
      released === 0 &&
      this.waiting === undefined &&
      hasPipe(line) &&
      !hasPipe(this.context.at(-1) ?? '')
    ) {
      // Maybe a table header: what it is depends on the next line.
      this.startLine(line);
      this.waiting = line;
      this.waitingBase = this.lineBase;
      return;
    }
    this.line = line;
    this.released = released;
    this.anchor = anchor;
    this.render(line.length, 'complete');
    this.addContext(line);
    this.line = '';
    this.released = 0;
    this.anchor = 0;
    if (/^ {0,3}#{1,6}(?:[ \t]|$)/u.test(line)) this.settleTail(); // a heading never continues
  }

  /** Releases what the incomplete line holds up to its last sentence end (or a space past MAX_RUN). */
  private cutPartial(): void {
    const line = this.line;
    if (this.fence || this.skipping || this.waiting !== undefined || line.length <= this.released) return;
    if (mayOpenFence(line) || hasPipe(line)) return;
    let cut = -1;
    TERMINATOR.lastIndex = this.released;
    for (let match = TERMINATOR.exec(line); match; match = TERMINATOR.exec(line))
      cut = match.index + match[0].length;
    if (cut <= this.released && line.length - this.released > MAX_RUN) {
      const space = line.slice(this.released + 1).search(/\s\S*$/u);
      cut = space >= 0 ? this.released + 1 + space : line.length;
      if (isHighSurrogate(line.charCodeAt(cut - 1))) cut--;
    }
    if (cut > this.released) this.render(cut, 'partial', /\s/u.test(line[cut] ?? ''));
  }

  /**
   * A line starts a new block group when it follows a blank line and is not indented as a continuation, or
   * when it is a list item after a list item line (an item reads the same without its siblings; this keeps a
   * long list from being rendered again line after line).
   */
  private startLine(line: string): void {
    if (this.blankBefore && indentOf(line) < 4) this.resetContext();
    else if (LIST_ITEM.test(line) && LIST_ITEM.test(this.context.at(-1) ?? '')) this.resetContext();
    this.blankBefore = false;
  }

  /**
   * Renders the block context, the waiting line and `line` up to `end`, and releases the output of what was
   * not released yet. `complete`: the line is whole, so what follows its last character is the new tail.
   * `anchorable`: white space follows `end`, so the rest of the line may later be rendered on its own.
   */
  private render(end: number, mode: 'complete' | 'partial', anchorable = false): void {
    if (this.released === 0 && this.waiting === undefined) this.startLine(this.line);
    let source: string;
    let from: number;
    let to: number;
    /** The index in the context's text of `source[at]`, for what may be released (-1: rendering context). */
    let toClient: (at: number) => number;
    if (this.anchor > 0) {
      // The rest of the line after a clean cut (it starts with white space), behind a letter so that nothing
      // in it reads as block syntax.
      source = ANCHOR_WORD + this.line.slice(this.anchor, end);
      from = ANCHOR_WORD.length + this.released - this.anchor;
      to = ANCHOR_WORD.length + end - this.anchor;
      const shift = this.lineBase + this.anchor - ANCHOR_WORD.length;
      toClient = (at) => (at >= ANCHOR_WORD.length ? shift + at : -1);
    } else {
      const lines = this.waiting === undefined ? this.context : [...this.context, this.waiting];
      const prefix = lines.length > 0 ? `${lines.join('\n')}\n` : '';
      const contextEnd = this.context.length > 0 ? this.context.join('\n').length + 1 : 0;
      from = this.waiting !== undefined ? contextEnd : prefix.length + this.released;
      to = prefix.length + end;
      source = prefix + this.line.slice(0, end);
      const { lineBase, waitingBase } = this;
      const waitingEnd = contextEnd + (this.waiting?.length ?? -1);
      toClient = (at) =>
        at >= prefix.length
          ? lineBase + at - prefix.length
          : at >= contextEnd && at < waitingEnd
            ? waitingBase + at - contextEnd
            : -1;
    }
    const { text, sourceOffsets } = markdownToSpeech(source);
    let before = -1;
    let last = -1;
    for (let i = 0; i < text.length; i++) {
      const at = sourceOffsets[i];
      if (at >= 0 && at < from) before = i;
      else if (at >= from && at < to) last = i;
    }
    this.released = end;
    if (this.waiting !== undefined) {
      this.addContext(this.waiting);
      this.waiting = undefined;
    }
    if (last < 0) {
      if (mode === 'complete') this.tail = insertedRun(text, sourceOffsets, before + 1);
      return;
    }
    const lead = insertedRun(text, sourceOffsets, before + 1).length;
    const piece = text.slice(before + 1, last + 1);
    const offsets: number[] = [];
    for (let i = before + 1; i <= last; i++)
      offsets.push(sourceOffsets[i] < 0 ? -1 : toClient(sourceOffsets[i]));
    if (mode === 'partial') {
      const stripped = stripStrayMarkers(piece, offsets, lead);
      if (anchorable && stripped.text === piece) this.anchor = end;
      this.emit(stripped.text, false, lead, stripped.offsets);
    } else {
      this.emit(piece, false, lead, offsets);
    }
    this.tail = mode === 'complete' ? insertedRun(text, sourceOffsets, last + 1) : '';
  }

  /** The waiting line (a possible table header) was not followed by a table row: a line of its own. */
  private renderWaiting(): void {
    const saved = { line: this.line, released: this.released, lineBase: this.lineBase };
    this.line = this.waiting!;
    this.lineBase = this.waitingBase;
    this.released = 0;
    this.waiting = undefined;
    this.render(this.line.length, 'complete');
    this.addContext(this.line);
    this.line = saved.line;
    this.released = saved.released;
    this.lineBase = saved.lineBase;
  }

  /**
   * Adds output. `inserted`: the whole text is the gateway's (a note, a tail); otherwise its first `lead`
   * characters are (the joint to the text before), and `offsets` gives each character's index in the
   * context's text (-1: inserted).
   */
  private emit(text: string, inserted: boolean, lead = 0, offsets?: readonly number[]): void {
    let out = text;
    if (this.dropPeriod && out) {
      const joint = inserted ? out : out.slice(0, lead);
      out = joint.replace(/^[.。]+/u, '') + (inserted ? '' : out.slice(lead));
    }
    if (!out) return;
    if (this.separate) {
      this.out += '\n';
      this.recordSource(-1);
      this.separate = false;
    }
    // What the period drop removed is at the start.
    const dropped = text.length - out.length;
    for (let i = 0; i < out.length; i++) this.recordSource(inserted ? -1 : (offsets?.[dropped + i] ?? -1));
    this.out += out;
    this.emitted = true;
    if (out.trim()) this.dropPeriod = false;
  }

  /** Records the source span of one more output character (`at`: its index in the context's text, or -1). */
  private recordSource(at: number): void {
    if (at >= 0) {
      this.outStarts.push(at);
      this.outEnds.push(at + 1);
      this.lastEnd = Math.max(this.lastEnd, at + 1);
    } else {
      this.outStarts.push(this.lastEnd);
      this.outEnds.push(this.lastEnd);
    }
  }

  /** The block before has ended: its tail goes out now, and the next joint's period does not repeat it. */
  private settleTail(): void {
    if (!this.tail) return;
    this.emit(this.tail, true);
    this.tail = '';
    this.dropPeriod = true;
  }

  /** A new block group starts: what ended goes out, and nothing before can change the next line. */
  private resetContext(): void {
    this.emit(this.tail, true);
    this.tail = '';
    if (this.emitted) this.separate = true;
    this.context = [];
    this.contextChars = 0;
    this.blankBefore = false;
  }

  private addContext(line: string): void {
    this.context.push(line);
    this.contextChars += line.length + 1;
    while (this.contextChars > CONTEXT_CHARS && this.context.length > 1)
      this.contextChars -= this.context.shift()!.length + 1;
  }
}

const LIST_ITEM = /^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S/u;

/** Put before the rest of a line rendered on its own (see `anchor`); its output is never released. */
const ANCHOR_WORD = 'x';

/** Context kept for the next line: enough for any list item or paragraph an LLM writes. */
const CONTEXT_CHARS = 4096;

function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n++;
    else if (ch === '\t') n += 4 - (n % 4);
    else break;
  }
  return n;
}

function hasPipe(line: string): boolean {
  return /(?:^|[^\\])\|/u.test(line);
}

/** An opening fence (any indentation: indented further, it would be indented code, not read either). */
function fenceOpening(line: string): { char: string; length: number } | undefined {
  const match = /^[ \t]*(`{3,}|~{3,})(.*)$/u.exec(line);
  if (!match) return undefined;
  if (match[1][0] === '`' && match[2].includes('`')) return undefined; // inline code, not a fence
  return { char: match[1][0], length: match[1].length };
}

/** Whether an incomplete line may still turn out to open a fence. */
function mayOpenFence(line: string): boolean {
  return /^[ \t]*(?:`{3}|~{3}|`{1,2}$|~{1,2}$)/u.test(line) || /^[ \t]*$/u.test(line);
}

function closesFence(line: string, fence: { char: string; length: number }): boolean {
  const match = /^[ \t]*(`+|~+)[ \t]*$/u.exec(line);
  return !!match && match[1][0] === fence.char && match[1].length >= fence.length;
}

/** Whether an incomplete line inside a fence may still be its closing line. */
function mayCloseFence(line: string, fence: { char: string; length: number }): boolean {
  const match = /^[ \t]*(`*|~*)([ \t]*)$/u.exec(line);
  if (!match) return false;
  if (match[1] && match[1][0] !== fence.char) return false;
  return !(match[2] && match[1].length < fence.length);
}

/** The characters from `start` on that the rendering inserted (offset -1), up to the first source one. */
function insertedRun(text: string, offsets: Int32Array, start: number): string {
  let end = start;
  while (end < text.length && offsets[end] < 0) end++;
  return text.slice(start, end);
}

/**
 * Emphasis, strikethrough and code markers, and link brackets, left unmatched in a prefix render (their
 * other half is after the cut): an opener at a word's start with no closer after it, a closer at a word's
 * end with no opener before it. "2 * 3" and snake_case stay as they are.
 */
function stripStrayMarkers(
  text: string,
  offsets: readonly number[],
  from: number,
): { text: string; offsets: number[] } {
  let body = { text: text.slice(from), offsets: offsets.slice(from) };
  body = dropMatches(
    body,
    /!?\[(?![^\]]*\])/gu,
    (m, s) => m.index === 0 || /[\s("'“‘]/u.test(s[m.index - 1]),
  );
  body = dropMatches(
    body,
    /(?<=^|[\s("'“‘])([*_~`]+)(?=\S)/gu,
    (m, s) => s.indexOf(m[1], m.index + m[1].length) < 0,
  );
  body = dropMatches(
    body,
    /(?<=\S)([*~`]+)(?=$|[\s.,;:!?)\]"'”’])/gu,
    (m, s) => s.lastIndexOf(m[1], m.index - 1) < 0,
  );
  return { text: text.slice(0, from) + body.text, offsets: offsets.slice(0, from).concat(body.offsets) };
}

/** `text` without the matches of `pattern` that `drop` picks (judged on `text` as given), offsets alike. */
function dropMatches(
  { text, offsets }: { text: string; offsets: readonly number[] },
  pattern: RegExp,
  drop: (match: RegExpExecArray, text: string) => boolean,
): { text: string; offsets: number[] } {
  let out = '';
  const kept: number[] = [];
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    if (!drop(match, text)) continue;
    out += text.slice(at, match.index);
    for (let i = at; i < match.index; i++) kept.push(offsets[i]);
    at = match.index + match[0].length;
  }
  out += text.slice(at);
  for (let i = at; i < text.length; i++) kept.push(offsets[i]);
  return { text: out, offsets: kept };
}

// ---------------------------------------------------------------------------------------------------------
// SSML

/** One SSML fragment, ready for the synthesis. */
export interface SsmlUnit {
  /**
   * `parseSsml`'s segments for the fragment (rate, volume, pitch, voice, breaks after, marks), their
   * `sourceStart`, `sourceEnd` and `sourceMap` offsets into the context's text.
   */
  readonly segments: readonly SsmlSegment[];
  /** Ignored elements and values, as `parseSsml` reports them. */
  readonly warnings: readonly string[];
  /**
   * Silence before the fragment: the boundary it was cut at (a sentence end's pause, a closed `s` or `p`),
   * which `parseSsml` drops at the end of a document. 0 for the first fragment and after an explicit break.
   */
  readonly pauseBeforeMs: number;
  /** Where the fragment starts in the context's text (UTF-16). */
  readonly offset: number;
}

export interface SsmlLiveFilterOptions {
  /** Language for `say-as`, read when a fragment is parsed (the context's, once known). */
  language?: () => string | undefined;
  /** Most UTF-8 bytes held while waiting for a place to cut; past it, `LiveTextError` `too_large`. */
  maxHeldBytes?: number;
}

/** Elements a fragment may be cut inside of: closed at the cut and opened again, their meaning unchanged. */
const SPLITTABLE = new Set(['speak', 'prosody', 'voice', 'lang', 'emphasis', 'p', 's']);

interface OpenElement {
  readonly name: string;
  /** Its start tag as sent, to open it again at the start of the next fragment. */
  readonly tag: string;
  /** Where it was opened in the context's text. */
  readonly at: number;
  readonly splittable: boolean;
}

type Markup =
  | { kind: 'comment' | 'pi'; end: number }
  | { kind: 'cdata'; end: number; text: string }
  | { kind: 'start'; end: number; name: string; selfClosing: boolean }
  | { kind: 'close'; end: number; name: string };

/**
 * SSML, cut into fragments as it arrives. The context is the `<speak>` element: a leading `<?xml?>` and
 * `<speak …>` are taken as its start (their attributes apply to every fragment), a trailing `</speak>` as its
 * end, and text without them is the content of an implicit `<speak>`, as `parseSsml` accepts it.
 *
 * A small incremental scanner follows the markup (tags with quoted attributes, comments, CDATA, processing
 * instructions) and the stack of open elements, refusing at once what can never become valid XML (a `<`
 * that starts no tag, a mismatched end tag, DOCTYPE, content after `</speak>`, nesting past 64). The stream
 * is cut only where every open element is one that can be closed and opened again unchanged (`speak`,
 * `prosody`, `voice`, `lang`, `emphasis`, `p`, `s`; never inside `say-as`, `sub`, unknown elements or a tag):
 * - at a settled sentence end in text (`splitSettledSpans`, the plain text's rule), or at a space once a run
 *   passes 250 characters;
 * - after `</s>` or `</p>`, after an element whose text ends with terminal punctuation, after `<break>`;
 * - on `flush` (and the idle gap) wherever the scanner stands, the end of an unterminated entity excepted.
 * The fragment is the elements open at its start (their start tags as sent), the text, and end tags for the
 * elements still open at the cut: valid XML, parsed by `parseSsml` with its hardening (wrapped in `<speak>`
 * when it does not start with one) into the same segments the session path makes, so prosody, voices,
 * breaks and marks behave alike. Pauses `parseSsml` would put at a boundary it no longer sees (the end of
 * a fragment is the end of its document) come back as `pauseBeforeMs` of the next fragment.
 *
 * Cutting inside `prosody`/`voice`/`p` instead of only at the top level matters: LLMs often wrap the whole
 * reply in one of them, which would otherwise hold every word until the reply is complete. When the scanner
 * cannot cut (inside `say-as`, a tag, a comment), `flush` keeps waiting: a fragment is only ever released
 * when it is well-formed. What it holds meanwhile is bounded by `maxHeldBytes`.
 */
export class SsmlLiveFilter {
  /** The client's text not yet released; `buf[0]` is at `base` in the context's text. */
  private buf = '';
  private base = 0;
  /** Scanned up to here (a token boundary); a token not yet complete starts here. */
  private pos = 0;
  /** Where the text run being scanned started (after the last markup or cut). */
  private runStart = 0;
  private stack: OpenElement[] = [];
  /** Elements open at `buf[0]`: opened again at the start of the next fragment. */
  private reopen: OpenElement[] = [];
  private phase: 'prolog' | 'body' | 'closed' = 'prolog';
  private root: OpenElement | undefined;
  /** The last few characters of text seen, white space trimmed (decides a cut after an element). */
  private lastText = '';
  /** Start-tag scan state, so a long tag arriving in pieces is not rescanned from its start. */
  private tagScan: { start: number; at: number; quote: string } | undefined;
  private pendingPauseMs = 0;
  private spoken = false;
  private bytes = 0;
  private out: SsmlUnit[] = [];
  private readonly maxHeldBytes: number;

  constructor(private readonly options: SsmlLiveFilterOptions = {}) {
    this.maxHeldBytes = options.maxHeldBytes ?? 64 * 1024;
  }

  /** UTF-8 bytes of the client's text held and not yet released. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** What a held fragment waits for, for error messages; undefined when it could be cut now. */
  get waitingFor(): string | undefined {
    if (this.pos < this.buf.length)
      return `the end of the markup at character ${this.base + this.pos} (${JSON.stringify(this.buf.slice(this.pos, this.pos + 24))}…)`;
    const blocking = this.stack.find((e) => !e.splittable);
    return blocking ? `</${blocking.name}> (opened at character ${blocking.at})` : undefined;
  }

  /** Appends a piece of the client's text; returns the fragments it completed (often none). */
  push(text: string): SsmlUnit[] {
    this.out = [];
    if (!text) return [];
    this.buf += text;
    this.bytes += utf8Bytes(text);
    this.scan();
    if (this.bytes > this.maxHeldBytes) {
      throw new LiveTextError(
        'too_large',
        this.base,
        `${this.bytes} bytes held (more than ${this.maxHeldBytes}) while waiting for ${this.waitingFor ?? 'a place to cut'}; SSML is spoken a sentence or a closed element at a time`,
      );
    }
    return this.take();
  }

  /**
   * Releases what is held up to where the scanner stands (before an incomplete tag or entity), or up to the
   * start of an element that cannot be cut (say-as, sub, unknown); what follows keeps waiting.
   */
  flush(): SsmlUnit[] {
    this.out = [];
    if (this.phase !== 'body') return this.take();
    const blocked = this.stack.findIndex((e) => !e.splittable);
    if (blocked >= 0) {
      // Never opened again by a cut, so its start tag is in `buf`.
      const at = this.stack[blocked].at - this.base;
      if (at > 0) this.cut(at, this.textPause(), this.stack.slice(0, blocked));
      return this.take();
    }
    let cut = this.pos;
    const amp = this.buf.lastIndexOf('&', cut - 1);
    if (amp >= this.runStart && !this.buf.slice(amp, cut).includes(';')) cut = amp;
    if (cut > 0) this.cut(cut, this.textPause());
    return this.take();
  }

  /** No more text: the rest as a last fragment; an element or a tag left open is an error. */
  end(): SsmlUnit[] {
    this.out = [];
    if (this.pos < this.buf.length)
      this.fail(
        this.pos,
        `unfinished markup at the end: ${JSON.stringify(this.buf.slice(this.pos, this.pos + 40))}`,
      );
    const open = this.stack.filter((e) => e !== this.root);
    if (open.length > 0) {
      const element = open[open.length - 1];
      throw new LiveTextError(
        'invalid',
        element.at,
        `<${element.name}> is not closed at the end of the text`,
      );
    }
    if (this.buf.length > 0 && this.phase !== 'prolog') this.cut(this.buf.length, 0);
    this.phase = 'closed';
    return this.take();
  }

  private take(): SsmlUnit[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private fail(at: number, reason: string): never {
    throw new LiveTextError('invalid', this.base + at, reason);
  }

  private splittable(): boolean {
    return this.stack.every((e) => e.splittable);
  }

  private scan(): void {
    const buf = () => this.buf;
    while (this.pos < buf().length) {
      const at = this.pos;
      if (this.phase === 'closed') {
        const rest = buf().slice(at);
        const content = rest.search(/\S/u);
        const tail = rest.slice(content);
        // Comments may follow, in pieces like everything else.
        if (content >= 0 && !tail.startsWith('<!--') && !'<!--'.startsWith(tail))
          this.fail(at + content, 'content after </speak>: the context is one <speak> element');
        if (content >= 0) {
          const markup = this.markup(at + content);
          if (!markup) return;
          this.discard(markup.end);
          continue;
        }
        this.discard(buf().length);
        return;
      }
      if (buf()[at] !== '<') {
        if (this.phase === 'prolog') {
          const content = buf()
            .slice(at)
            .search(/[^\s\uFEFF]/u);
          if (content < 0) {
            this.discard(buf().length);
            return;
          }
          if (buf()[at + content] === '<') {
            this.discard(at + content);
            continue;
          }
          this.phase = 'body';
        }
        const lt = buf().indexOf('<', this.pos);
        const end = lt < 0 ? buf().length : lt;
        this.noteText(buf().slice(this.pos, end));
        this.pos = end;
        // Markup after a sentence end and a space most likely starts the next sentence: judged as if a word
        // followed ("Mr. <emphasis>" still waits, as "Mr. Smith" would).
        if (this.splittable()) this.sentenceCut(lt >= 0 ? 'A' : '');
        continue;
      }
      const markup = this.markup(at);
      if (!markup) return;
      this.pos = markup.end;
      this.runStart = markup.end;
      this.onMarkup(markup, at);
    }
  }

  private onMarkup(markup: Markup, at: number): void {
    switch (markup.kind) {
      case 'comment':
      case 'pi':
        if (this.phase === 'prolog') this.discard(markup.end);
        return;
      case 'cdata': {
        this.phase = 'body';
        this.noteText(markup.text);
        return;
      }
      case 'start': {
        const element: OpenElement = {
          name: markup.name,
          tag: this.buf.slice(at, markup.end),
          at: this.base + at,
          splittable: SPLITTABLE.has(markup.name),
        };
        if (this.phase === 'prolog' && markup.name === 'speak') {
          // The context's own <speak>: opened again in every fragment, its end tag ends the context.
          this.phase = markup.selfClosing ? 'closed' : 'body';
          this.discard(markup.end);
          if (!markup.selfClosing) {
            this.root = element;
            this.stack.push(element);
            this.reopen = [element];
          }
          return;
        }
        this.phase = 'body';
        if (markup.selfClosing) {
          if (markup.name === 'break' && this.splittable()) this.cut(markup.end, 0);
          return;
        }
        if (this.stack.length >= DEFAULT_SSML_MAX_DEPTH)
          this.fail(at, `elements nested deeper than ${DEFAULT_SSML_MAX_DEPTH}`);
        this.stack.push(element);
        return;
      }
      case 'close': {
        const top = this.stack[this.stack.length - 1];
        if (!top) this.fail(at, `</${markup.name}> closes no open element`);
        if (top.name !== markup.name)
          this.fail(
            at,
            `</${markup.name}> where </${top.name}> (opened at character ${top.at}) was expected`,
          );
        if (top === this.root) {
          // `</speak>`: the context's end. What is held before it is complete.
          if (at > 0) this.cut(at, 0);
          this.stack.pop();
          this.root = undefined;
          this.reopen = [];
          this.discard(this.pos);
          this.phase = 'closed';
          return;
        }
        this.stack.pop();
        if (!this.splittable()) return;
        if (markup.name === 's' || markup.name === 'p') {
          this.cut(markup.end, markup.name === 's' ? SENTENCE_PAUSE_MS : PARAGRAPH_PAUSE_MS);
        } else if (/[.!?…。！？]["'”’»)\]]*$/u.test(this.lastText)) {
          this.cut(markup.end, this.textPause());
        }
        return;
      }
    }
  }

  /** The markup starting at `at` (a '<'), or undefined while it is incomplete. Throws what cannot be XML. */
  private markup(at: number): Markup | undefined {
    const buf = this.buf;
    const rest = buf.length - at;
    const starts = (prefix: string) =>
      rest >= prefix.length ? buf.startsWith(prefix, at) : prefix.startsWith(buf.slice(at));
    if (rest < 2) return undefined;
    if (buf[at + 1] === '!') {
      if (starts('<!--')) {
        if (rest < 4) return undefined;
        const end = buf.indexOf('-->', at + 4);
        return end < 0 ? undefined : { kind: 'comment', end: end + 3 };
      }
      if (starts('<![CDATA[')) {
        if (rest < 9) return undefined;
        const end = buf.indexOf(']]>', at + 9);
        return end < 0 ? undefined : { kind: 'cdata', end: end + 3, text: buf.slice(at + 9, end) };
      }
      if (
        /^<!doctype/iu.test(buf.slice(at, at + 9)) ||
        (rest < 9 && '<!doctype'.startsWith(buf.slice(at).toLowerCase()))
      )
        return rest < 9 ? undefined : this.fail(at, 'DOCTYPE is not allowed in SSML');
      return this.fail(at, "'<!' must start a comment or CDATA");
    }
    if (buf[at + 1] === '?') {
      const end = buf.indexOf('?>', at + 2);
      return end < 0 ? undefined : { kind: 'pi', end: end + 2 };
    }
    if (buf[at + 1] === '/') {
      const end = buf.indexOf('>', at + 2);
      const name = buf.slice(at + 2, end < 0 ? buf.length : end).trim();
      if (name && !/^[\p{L}_:][\p{L}\p{N}_:.-]*$/u.test(name))
        this.fail(at, `invalid end tag </${name.slice(0, 40)}`);
      if (end < 0) return undefined;
      if (!name) this.fail(at, 'an end tag needs a name');
      return { kind: 'close', end: end + 1, name };
    }
    if (!/[\p{L}_:]/u.test(buf[at + 1])) this.fail(at, "'<' must start a tag; write &lt; for a literal '<'");
    let scan = this.tagScan?.start === at ? this.tagScan : { start: at, at: at + 1, quote: '' };
    for (let i = scan.at; i < buf.length; i++) {
      const ch = buf[i];
      if (scan.quote) {
        if (ch === scan.quote) scan = { ...scan, quote: '' };
      } else if (ch === '"' || ch === "'") {
        scan = { ...scan, quote: ch };
      } else if (ch === '<') {
        this.fail(i, "'<' inside a tag");
      } else if (ch === '>') {
        this.tagScan = undefined;
        const tag = buf.slice(at, i + 1);
        return {
          kind: 'start',
          end: i + 1,
          name: /^<([^\s/>]+)/u.exec(tag)?.[1] ?? '',
          selfClosing: tag.endsWith('/>'),
        };
      }
    }
    this.tagScan = { ...scan, at: buf.length };
    return undefined;
  }

  /**
   * A cut at a settled sentence end of the current run, or at a space once the run is long. `lookAhead`:
   * what is taken to follow the run when markup ends it.
   */
  private sentenceCut(lookAhead: string): void {
    const run = this.buf.slice(this.runStart, this.pos);
    if (run.length <= MAX_RUN && !SENTENCE_END_HINT.test(run)) return;
    const { spans } = splitSettledSpans(/[.!?…]["'”’)\]]*\s+$/u.test(run) ? run + lookAhead : run, {
      locale: this.options.language?.(),
    });
    const last = spans.filter((span) => span.endOffset <= run.length).pop();
    if (last) {
      this.cut(this.runStart + last.endOffset, PAUSE_MS[last.end]);
      return;
    }
    if (run.length <= MAX_RUN) return;
    const space = run.search(/\s\S*$/u);
    let cut = space > 0 ? space : run.length;
    const amp = run.lastIndexOf('&', cut - 1);
    if (amp >= 0 && !run.slice(amp, cut).includes(';')) cut = amp;
    if (cut > 0) this.cut(this.runStart + cut, PAUSE_MS[segmentEnd(run.slice(0, cut).trim())]);
  }

  /** Keeps the end of the last text seen (a few characters: a terminator and its closing quotes). */
  private noteText(text: string): void {
    const trimmed = text.trimEnd();
    if (trimmed) this.lastText = (this.lastText + trimmed).slice(-8);
  }

  /** The pause after text cut where it stands: by how its last sentence ends. */
  private textPause(): number {
    return PAUSE_MS[segmentEnd(this.lastText)];
  }

  /** Releases `buf[0, at)` as a fragment; `open` (the elements open at `at`) stay open for the next one. */
  private cut(at: number, pauseAfterMs: number, open: readonly OpenElement[] = this.stack): void {
    const head = this.buf.slice(0, at);
    const prefix = this.reopen.map((e) => e.tag).join('');
    const suffix = open
      .slice()
      .reverse()
      .map((e) => `</${e.name}>`)
      .join('');
    const xml = prefix + head + suffix;
    const offset = this.base;
    this.discard(at);
    this.reopen = [...open];
    let doc;
    try {
      doc = parseSsml(xml, { language: this.options.language?.(), sourceMap: true });
    } catch (error) {
      if (!(error instanceof SsmlSyntaxError)) throw error;
      const index = indexOf(xml, error.line, error.column);
      const local = Math.min(Math.max(0, index - prefix.length), head.length);
      throw new LiveTextError('invalid', offset + local, error.reason);
    }
    if (doc.segments.length === 0) return;
    // Offsets into the fragment's XML → into the context's text (the reopened start tags hold no text).
    const local = (at: number) => offset + Math.min(Math.max(0, at - prefix.length), head.length);
    const segments = doc.segments.map((s): SsmlSegment => ({
      ...s,
      sourceStart: local(s.sourceStart),
      sourceEnd: local(s.sourceEnd),
      ...(s.sourceMap && {
        sourceMap: { starts: s.sourceMap.starts.map(local), ends: s.sourceMap.ends.map(local) },
      }),
    }));
    const hasText = segments.some((s) => s.text !== '');
    const leading = /^\s*(?:<!--[^]*?-->\s*)*<(p|s)[\s>]/u.exec(head)?.[1];
    const leadingMs = leading === 'p' ? PARAGRAPH_PAUSE_MS : leading === 's' ? SENTENCE_PAUSE_MS : 0;
    this.out.push({
      segments,
      warnings: doc.warnings,
      pauseBeforeMs: this.spoken && hasText ? Math.max(this.pendingPauseMs, leadingMs) : 0,
      offset,
    });
    if (hasText) {
      this.spoken = true;
      // An explicit break at the end replaces the boundary's own pause.
      this.pendingPauseMs = segments[segments.length - 1].breakAfterMs > 0 ? 0 : pauseAfterMs;
    }
  }

  /** Drops `buf[0, at)` (released or ignorable). */
  private discard(at: number): void {
    if (at <= 0) return;
    this.bytes -= utf8Bytes(this.buf.slice(0, at));
    this.buf = this.buf.slice(at);
    this.base += at;
    this.pos = Math.max(0, this.pos - at);
    this.runStart = Math.max(0, this.runStart - at);
    if (this.tagScan) {
      this.tagScan = {
        start: this.tagScan.start - at,
        at: this.tagScan.at - at,
        quote: this.tagScan.quote,
      };
    }
  }
}

/** The UTF-16 index of a 1-based line and column in `text`. */
function indexOf(text: string, line: number, column: number): number {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const next = text.indexOf('\n', start);
    if (next < 0) break;
    start = next + 1;
  }
  return start + column - 1;
}
