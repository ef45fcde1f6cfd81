/**
 * Markdown (an LLM's reply) to the text a voice should say, with a map from every output character back to
 * the markdown it came from (for word timings and captions on the client's original text).
 *
 * Works on markdown-it's token stream (CommonMark + tables + strikethrough, HTML and linkify on), never on
 * regexes over the markdown. What is read:
 * - paragraphs, headings, list items, blockquote content, table rows: each is a block of its own; a block
 *   that does not end in terminal punctuation gets a period ("。" after CJK), so the splitter ends a sentence
 *   there and the engine pauses; blocks are separated by "\n" (a hard sentence boundary for ICU);
 * - emphasis, strong and strikethrough markers, list markers, blockquote markers, horizontal rules, heading
 *   hashes: dropped, text kept;
 * - links: the link text; a bare or autolinked URL (or a link whose text is its URL) is read as its host
 *   name without "www." ("github.com"), an e-mail address as itself; images: their alt text, else nothing;
 * - inline code: its text; fenced and indented code blocks: not read, replaced by `codeNote`
 *   ("(code omitted)"; '' drops them);
 * - tables: each row (the header too) is a sentence, its non-empty cells separated by commas;
 * - HTML: inline tags dropped, HTML blocks reduced to their text (script/style content dropped);
 * - emoji removed: Extended_Pictographic code points (except ©, ®, ™, which engines read), emoji
 *   modifiers, variation selectors, zero-width joiners, regional indicators, keycap marks and tag characters;
 * - whitespace: runs collapse to one space inside a block.
 *
 * Offsets: markdown-it maps only block tokens to source lines, so each text run is searched forward in the
 * source from the end of the previous one, inside its block's lines; when the run is not there verbatim
 * (backslash escapes, entities) it is aligned character by character within a short window. `sourceOffsets[i]`
 * is the index in `md` of `text[i]`, with `md[sourceOffsets[i]] === text[i]` whenever it is not -1; -1 marks
 * characters that are not in the source (inserted periods and separators, the code note, spaces that replace
 * line breaks, decoded entities).
 */
import type MarkdownIt from 'markdown-it';

type Token = MarkdownIt.Token;

export interface SpeechText {
  readonly text: string;
  /** For each UTF-16 unit of `text`, its index in the markdown, or -1 for inserted characters. */
  readonly sourceOffsets: Int32Array;
}

export interface MarkdownSpeechOptions {
  /** Said instead of a code block; '' to drop code blocks silently. */
  codeNote?: string;
}

export const DEFAULT_CODE_NOTE = '(code omitted)';

/** Loaded on the first markdown text, so a gateway that never sees any does not hold the parser at rest. */
let markdown: MarkdownIt.MarkdownIt | undefined;
function parser(): MarkdownIt.MarkdownIt {
  if (!markdown) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Parser = require('markdown-it') as typeof import('markdown-it');
    markdown = new Parser({ html: true, linkify: true });
  }
  return markdown;
}

export function markdownToSpeech(md: string, options: MarkdownSpeechOptions = {}): SpeechText {
  const walker = new Walker(md, options.codeNote ?? DEFAULT_CODE_NOTE);
  walker.walk(parser().parse(md, {}));
  return walker.result();
}

/** Output characters (UTF-16 units) and where each came from. */
interface Run {
  chars: string[];
  offsets: number[];
}

/** How far ahead a character that is not found verbatim is looked for. */
const ALIGN_WINDOW = 64;

class Walker {
  private readonly lineStarts: number[] = [0];
  private cursor = 0;
  private blockEnd: number;
  private block: Run = { chars: [], offsets: [] };
  private readonly blocks: Run[] = [];
  /** Cells of the table row being read. */
  private cells: Run[] | undefined;
  /** Inside a link: its href, and whether its text is to be replaced by the host name. */
  private link: { href: string; bare: boolean; text: Run } | undefined;

  constructor(
    private readonly md: string,
    private readonly codeNote: string,
  ) {
    for (let i = md.indexOf('\n'); i >= 0; i = md.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
    this.blockEnd = md.length;
  }

  walk(tokens: readonly Token[]): void {
    for (const token of tokens) {
      if (token.map) this.enter(token.map);
      switch (token.type) {
        case 'inline':
          this.inline(token.children ?? []);
          break;
        case 'paragraph_close':
        case 'heading_close':
          this.endBlock();
          break;
        case 'tr_open':
          this.cells = [];
          break;
        case 'th_close':
        case 'td_close':
          this.cells?.push(this.takeBlock());
          break;
        case 'tr_close':
          this.endRow();
          break;
        case 'fence':
        case 'code_block':
          this.endBlock();
          if (this.codeNote) {
            this.insert(this.codeNote);
            this.endBlock();
          }
          break;
        case 'html_block':
          this.html(token.content);
          this.endBlock();
          break;
        default:
          // Lists, quotes, rules, table sections: structure only; their content comes as inline tokens.
          break;
      }
    }
    this.endBlock();
  }

  result(): SpeechText {
    const chars: string[] = [];
    const offsets: number[] = [];
    for (const block of this.blocks) {
      if (chars.length > 0) {
        chars.push('\n');
        offsets.push(-1);
      }
      chars.push(...block.chars);
      offsets.push(...block.offsets);
    }
    return { text: chars.join(''), sourceOffsets: Int32Array.from(offsets) };
  }

  /** A block token with a line map: text searches stay inside its lines. */
  private enter([startLine, endLine]: [number, number]): void {
    const start = this.lineStarts[startLine] ?? this.md.length;
    this.blockEnd = this.lineStarts[endLine] ?? this.md.length;
    this.cursor = Math.max(this.cursor, start);
  }

  private inline(children: readonly Token[]): void {
    for (const token of children) {
      switch (token.type) {
        case 'text':
        case 'code_inline':
          this.emit(token.content);
          break;
        case 'softbreak':
        case 'hardbreak':
          this.insert(' ');
          break;
        case 'image':
          if (token.content) this.emit(token.content);
          break;
        case 'link_open': {
          const href = String(token.attrGet('href') ?? '');
          this.link = {
            href,
            bare: token.markup === 'autolink' || token.markup === 'linkify',
            text: this.block,
          };
          this.block = { chars: [], offsets: [] };
          break;
        }
        case 'link_close':
          this.endLink();
          break;
        case 'html_inline':
          // A <br> or a tag: never read; a space keeps the words on either side apart.
          if (/^<br\b/iu.test(token.content)) this.insert(' ');
          break;
        default:
          // em/strong/s open and close: markers are not read.
          break;
      }
    }
  }

  private endLink(): void {
    const link = this.link;
    if (!link) return;
    this.link = undefined;
    const inner = this.block;
    this.block = link.text;
    const text = inner.chars.join('').trim();
    const bare = link.bare || text === link.href || /^(https?:\/\/|www\.)\S+$/iu.test(text);
    if (!bare) {
      this.append(inner);
      return;
    }
    const spoken = spokenUrl(text || link.href);
    // The host is part of the URL text already aligned: find it there for its offsets.
    const at = text.indexOf(spoken);
    const lead = inner.chars.length - inner.chars.join('').trimStart().length;
    if (at >= 0) {
      this.append({
        chars: inner.chars.slice(lead + at, lead + at + spoken.length),
        offsets: inner.offsets.slice(lead + at, lead + at + spoken.length),
      });
    } else {
      this.insert(spoken);
    }
  }

  private html(content: string): void {
    const text = content
      .replace(/<(script|style)\b[^]*?<\/\1\s*>/giu, ' ')
      .replace(/<!--[^]*?-->/gu, ' ')
      .replace(/<[^>]*>/gu, ' ');
    for (const piece of text.split(/\s+/u)) {
      if (!piece) continue;
      this.emit(piece);
      this.insert(' ');
    }
  }

  private endRow(): void {
    const cells = (this.cells ?? []).map(clean).filter((cell) => cell.chars.length > 0);
    this.cells = undefined;
    this.endBlock();
    cells.forEach((cell, i) => {
      if (i > 0) this.insert(', ');
      this.append(cell);
    });
    this.endBlock();
  }

  /** Text from the source: aligned to where it sits in `md`. */
  private emit(text: string): void {
    if (!text) return;
    const at = this.md.indexOf(text, this.cursor);
    if (at >= 0 && at + text.length <= this.blockEnd) {
      for (let i = 0; i < text.length; i++) {
        this.block.chars.push(text[i]);
        this.block.offsets.push(at + i);
      }
      this.cursor = at + text.length;
      return;
    }
    for (const ch of text) {
      const limit = Math.min(this.blockEnd, this.cursor + ALIGN_WINDOW);
      const found = this.md.indexOf(ch, this.cursor);
      const ok = found >= 0 && found + ch.length <= limit;
      for (let i = 0; i < ch.length; i++) {
        this.block.chars.push(ch[i]);
        this.block.offsets.push(ok ? found + i : -1);
      }
      if (ok) this.cursor = found + ch.length;
    }
  }

  /** Text that is not in the source. */
  private insert(text: string): void {
    for (const unit of text) {
      for (let i = 0; i < unit.length; i++) {
        this.block.chars.push(unit[i]);
        this.block.offsets.push(-1);
      }
    }
  }

  private append(run: Run): void {
    this.block.chars.push(...run.chars);
    this.block.offsets.push(...run.offsets);
  }

  private takeBlock(): Run {
    const block = this.block;
    this.block = { chars: [], offsets: [] };
    return block;
  }

  /** Closes the current block: emoji out, whitespace collapsed, terminal punctuation ensured. */
  private endBlock(): void {
    if (this.link) this.endLink();
    const block = clean(this.takeBlock());
    if (block.chars.length === 0) return;
    const last = block.chars.join('').replace(/["'”’»)\]}」』）】]+$/u, '');
    if (!/[.!?…。！？;:；：]$/u.test(last)) {
      block.chars.push(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u.test(last) ? '。' : '.');
      block.offsets.push(-1);
    }
    this.blocks.push(block);
  }
}

/** Emoji and their joiners, modifiers and selectors; ©, ® and ™ are kept (engines read them). */
const EMOJI =
  /^(?:(?![©®™])\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\uFE0E|\uFE0F|\u200D|\u20E3|[\u{E0020}-\u{E007F}])$/u;

/** Drops emoji, collapses white space to single spaces (a mapped space keeps its offset) and trims. */
function clean(run: Run): Run {
  const chars: string[] = [];
  const offsets: number[] = [];
  let space: number | undefined;
  let dropped = false;
  for (let i = 0; i < run.chars.length; i++) {
    let ch = run.chars[i];
    const units = isHighSurrogate(ch.charCodeAt(0)) && i + 1 < run.chars.length ? 2 : 1;
    if (units === 2) ch += run.chars[i + 1];
    const offset = run.offsets[i];
    const paired = units === 2 && run.offsets[i + 1] === (offset >= 0 ? offset + 1 : -1);
    i += units - 1;
    if (EMOJI.test(ch)) {
      dropped = true;
      continue;
    }
    if (/^\s$/u.test(ch)) {
      if (space === undefined) space = ch === ' ' ? offset : -1;
      continue;
    }
    // "thanks 👍 ." → "thanks.": a space left by a removed emoji does not go before punctuation.
    if (space !== undefined && chars.length > 0 && !(dropped && /^[.,!?;:…)\]}。，！？、]/u.test(ch))) {
      chars.push(' ');
      offsets.push(space);
    }
    space = undefined;
    dropped = false;
    for (let k = 0; k < ch.length; k++) {
      chars.push(ch[k]);
      offsets.push(offset >= 0 && (k === 0 || paired) ? offset + k : -1);
    }
  }
  return { chars, offsets };
}

/** How a URL is read: its host without "www.", or an e-mail address as itself. */
export function spokenUrl(url: string): string {
  const trimmed = url.trim().replace(/^mailto:/iu, '');
  if (/^[^\s@/]+@[^\s@/]+$/u.test(trimmed)) return trimmed;
  const match = /^(?:[a-z][a-z0-9+.-]*:\/\/)?(?:[^@/\s]*@)?([^/:?#\s]+)/iu.exec(trimmed);
  const host = match?.[1] ?? trimmed;
  return host.replace(/^www\./iu, '');
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}
