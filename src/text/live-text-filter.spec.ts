import { normalizeText } from '../common/text/normalize-text';
import {
  LiveTextError,
  MarkdownLiveFilter,
  SpokenSource,
  SsmlLiveFilter,
  sourceSpanOf,
  type SourceSpans,
  type SsmlUnit,
} from './live-text-filter';
import { prepareText } from './prepare';
import { parseSsml } from './ssml';

/** `text` in pieces of 1 to 3 UTF-16 units, deterministically from `seed` (an LLM's tokens, roughly). */
function pieces(text: string, seed: number): string[] {
  const out: string[] = [];
  let state = seed;
  for (let i = 0; i < text.length;) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (state % 3);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

function streamMarkdown(parts: readonly string[]): { text: string; releases: string[] } {
  const filter = new MarkdownLiveFilter();
  const releases = [...parts.map((p) => filter.push(p)), filter.end()];
  return { text: releases.join(''), releases: releases.filter(Boolean) };
}

/** The markdown's spoken text fed in `parts`, with the source span of every character (`releasedSource`). */
function streamMarkdownSpans(parts: readonly string[], flush = false): { text: string; spans: SourceSpans } {
  const filter = new MarkdownLiveFilter();
  let text = '';
  const starts: number[] = [];
  const ends: number[] = [];
  const take = (out: string) => {
    text += out;
    starts.push(...filter.releasedSource.starts);
    ends.push(...filter.releasedSource.ends);
  };
  for (const part of parts) take(filter.push(part));
  if (flush) take(filter.flush());
  take(filter.end());
  return { text, spans: { starts, ends } };
}

/** Every way to cut `text` in two, and in 1-character pieces. */
function everyCut(text: string): string[][] {
  const cuts = [[...text]];
  for (let i = 1; i < text.length; i++) cuts.push([text.slice(0, i), text.slice(i)]);
  return cuts;
}

/**
 * The spans of `text` against the `sent` text: each character taken from the sent text is that character
 * there (`md[start] === text[i]`, one unit wide), in order; each inserted one is empty, between its
 * neighbours.
 */
function expectSpansOf(sent: string, text: string, spans: SourceSpans): void {
  expect(spans.starts).toHaveLength(text.length);
  expect(spans.ends).toHaveLength(text.length);
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const [start, end] = [spans.starts[i], spans.ends[i]];
    if (end > start) {
      expect({ i, char: sent.slice(start, end) }).toEqual({ i, char: text[i] });
      expect(start).toBeGreaterThanOrEqual(last);
      last = end;
    } else {
      expect({ i, start, end }).toEqual({ i, start: last, end: last });
    }
  }
}

/** The words (letter/digit runs) of a spoken text with the span of the sent text `sourceSpanOf` gives them. */
function wordSpans(text: string, spans: SourceSpans): Array<{ word: string; start: number; end: number }> {
  return [...text.matchAll(/[\p{L}\p{N}]+/gu)].map((m) => ({
    word: m[0],
    ...sourceSpanOf(spans, m.index, m.index + m[0].length),
  }));
}

function streamSsml(parts: readonly string[], filter = new SsmlLiveFilter()): SsmlUnit[] {
  return [...parts.flatMap((p) => filter.push(p)), ...filter.end()];
}

const spokenOf = (units: readonly SsmlUnit[]) =>
  units
    .flatMap((u) => u.segments.map((s) => s.text))
    .filter(Boolean)
    .join(' ');

const REPLY = `# Getting started

Sure! Here is **how to install** the tool. It takes a minute, and you need _Node 20_ or later.

1. Install it with \`npm install -g tool\`.
2. Run \`tool init\` in your project.
   It creates a config file.
- See [the docs](https://example.com/docs) for more 🎉
- Or visit https://github.com/org/tool

\`\`\`bash
npm install -g tool
tool init
\`\`\`

| Option | Meaning |
|---|---|
| --fast | Skip checks |
| --dry | Print only |

> Note: this is a quote.

Heading two
---
That's all. ~~Old text~~ New text. Thanks!`;

describe(MarkdownLiveFilter.name, () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'should speak a reply fed 1–3 characters at a time as prepareText speaks it whole (seed %d)',
    (seed) => {
      const { text } = streamMarkdown(pieces(REPLY, seed));
      expect(normalizeText(text)).toBe(prepareText(REPLY, 'markdown').spokenText);
    },
  );

  it('should say nothing of a fence split across pieces, and not hold its code lines', () => {
    const filter = new MarkdownLiveFilter();
    let out = filter.push('Before the code.\n``');
    out += filter.push('`ts\nconst secret = 1;');
    out += filter.push(' '.repeat(500) + 'more();');
    // A code line is dropped as it comes: nothing of it is held.
    expect(filter.heldBytes).toBe(0);
    out += filter.push('\n~~~\nnot a close\n`');
    out += filter.push('``\nAfter it.');
    out += filter.end();
    expect(normalizeText(out)).toBe('Before the code. (code omitted). After it.');
    expect(out).not.toMatch(/secret|more|close|`/u);
  });

  it('should release a long one-line paragraph sentence by sentence, before its line ends', () => {
    const paragraph =
      'This is the **first sentence** of a long paragraph. The second one has a [link](https://x.org) in it. ' +
      'And the third one goes on for a while longer';
    const { releases } = streamMarkdown(pieces(paragraph, 3));
    expect(releases.slice(0, 2)).toEqual([
      'This is the first sentence of a long paragraph.',
      ' The second one has a link in it.',
    ]);
    expect(normalizeText(releases.join(''))).toBe(prepareText(paragraph, 'markdown').spokenText);
  });

  it('should strip markers left unmatched by a cut inside emphasis, code or a link', () => {
    const line =
      '**Important. Very** much. A `code span. still` code. [Link text. more](https://x.org) end.\n';
    const filter = new MarkdownLiveFilter();
    const releases = pieces(line, 1)
      .map((p) => filter.push(p))
      .filter(Boolean);
    releases.push(filter.end());
    expect(releases.join('')).not.toMatch(/[*`[\]]/u);
    expect(normalizeText(releases.join(''))).toBe(prepareText(line, 'markdown').spokenText);
    expect(releases.length).toBeGreaterThan(3);
  });

  it('should cut a run without a sentence end at a space past 250 characters', () => {
    const filter = new MarkdownLiveFilter();
    const words = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const out = pieces(words, 2).map((p) => filter.push(p));
    expect(out.join('').length).toBeGreaterThan(200);
    expect(filter.heldBytes).toBeLessThan(300);
    expect(normalizeText(out.join('') + filter.end())).toBe(`${words}.`);
  });

  it('should flush a partial line as it is, without the stray markers, and not repeat a period after it', () => {
    const filter = new MarkdownLiveFilter();
    expect(filter.push('Let me check **that')).toBe('');
    expect(filter.flush()).toBe('Let me check that');
    expect(filter.push(' for you**')).toBe('');
    expect(filter.flush()).toBe(' for you');
    // The period the paragraph gets after "for you" is not said on its own after the flush.
    expect(filter.push('\n\nNext')).toBe('');
    expect(filter.push(' line.\n')).toBe('\nNext line.');
    expect(filter.end()).toBe('');
  });

  it('should keep a line that may open a fence through a flush', () => {
    const filter = new MarkdownLiveFilter();
    expect(filter.push('Text.\n``')).toBe('Text.');
    expect(filter.flush()).toBe('');
    expect(filter.push('`\ncode\n```\n')).toBe('\n(code omitted).');
  });

  it('should read a table header once its delimiter row shows it is one', () => {
    const filter = new MarkdownLiveFilter();
    expect(filter.push('| A | B |\n')).toBe('');
    expect(filter.push('|---|---|\n')).toBe('A, B');
    expect(filter.push('| 1 | 2 |\n')).toBe('.\n1, 2');
    expect(filter.end()).toBe('.');
  });

  it('should read a setext heading and a soft-wrapped paragraph as one block each', () => {
    const md = 'Title\n=====\nOne line\nwraps here\n\nNew para';
    const { text } = streamMarkdown(pieces(md, 4));
    expect(normalizeText(text)).toBe('Title. One line wraps here. New para.');
  });
});

describe(`${MarkdownLiveFilter.name} source offsets`, () => {
  const SHORT = 'Hi **all**, see [the docs](https://x.org/a) now.\nA `tool` _here_! 🎉\n\n- Item.';

  it('should map every spoken character to the character of the client’s text it came from, wherever the pieces are cut', () => {
    // Each word where it is in the markdown: markup, the URL and the emoji are never a word's.
    const expected = ['Hi', 'all', 'see', 'the', 'docs', 'now', 'A', 'tool', 'here', 'Item'].reduce<
      Array<{ word: string; start: number; end: number }>
    >((out, word) => {
      const start = SHORT.indexOf(word, out.at(-1)?.end ?? 0);
      return [...out, { word, start, end: start + word.length }];
    }, []);
    for (const parts of everyCut(SHORT)) {
      for (const flush of [false, true]) {
        const { text, spans } = streamMarkdownSpans(parts, flush);
        expectSpansOf(SHORT, text, spans);
        expect({ parts, words: wordSpans(text, spans) }).toEqual({ parts, words: expected });
      }
    }
  });

  it.each([1, 2, 3, 4])(
    'should give each word of a streamed reply its span in the markdown as sent (seed %d)',
    (seed) => {
      const { text, spans } = streamMarkdownSpans(pieces(REPLY, seed));
      expectSpansOf(REPLY, text, spans);
      const words = wordSpans(text, spans);
      let last = 0;
      for (const { word, start, end } of words) {
        expect(start).toBeGreaterThanOrEqual(last);
        last = end;
        const sent = REPLY.slice(start, end);
        // The code note is the gateway's: an empty span where the fence was; anything else as written.
        if (start === end) expect(['code', 'omitted']).toContain(word);
        else expect({ word, sent }).toEqual({ word, sent: word });
      }
      expect(words.map((w) => w.word)).toEqual(expect.arrayContaining(['how', 'install', 'docs', 'Skip']));
    },
  );

  it('should map what a cut inside emphasis and a link releases, and a flushed partial line', () => {
    const md = 'Say **bold. And more** then [a link. here](https://x.org) end. Then **open';
    const { text, spans } = streamMarkdownSpans(pieces(md, 1), true);
    expectSpansOf(md, text, spans);
    expect(normalizeText(text)).toBe('Say bold. And more then a link. here end. Then open');
  });

  it('should place a table header’s words and a soft-wrapped line’s in the lines they were on', () => {
    const md = '| Name | Size |\n|---|---|\n| big | 10 |\n\nOne line\nwraps here';
    const { text, spans } = streamMarkdownSpans(pieces(md, 2));
    expectSpansOf(md, text, spans);
    expect(wordSpans(text, spans).map((w) => md.slice(w.start, w.end))).toEqual([
      'Name',
      'Size',
      'big',
      '10',
      'One',
      'line',
      'wraps',
      'here',
    ]);
  });
});

describe(SpokenSource.name, () => {
  it('should give the spans of a range taken and drop what is before it', () => {
    const source = new SpokenSource();
    source.append({ starts: [0, 1, 2, 5, 5], ends: [1, 2, 3, 5, 5] });
    expect(source.take(0, 2)).toEqual({ starts: [0, 1], ends: [1, 2] });
    source.append({ starts: [7, 8], ends: [8, 9] });
    expect(source.take(3, 7)).toEqual({ starts: [5, 5, 7, 8], ends: [5, 5, 8, 9] });
    expect(source.take(7, 7)).toEqual({ starts: [], ends: [] });
  });

  it('should span a word from its first to its last source character, and place an inserted one', () => {
    const spans = { starts: [3, 4, 6, 6, 9], ends: [4, 5, 6, 6, 10] };
    expect(sourceSpanOf(spans, 0, 2)).toEqual({ start: 3, end: 5 });
    expect(sourceSpanOf(spans, 2, 4)).toEqual({ start: 6, end: 6 });
    expect(sourceSpanOf(spans, 1, 5)).toEqual({ start: 4, end: 10 });
  });
});

const DOC = `<?xml version="1.0"?>
<speak version="1.1" xml:lang="en-US">
  <p>Welcome back. <emphasis level="strong">This</emphasis> is important.</p>
  <p><s>First sentence here.</s><s>Second one, <mark name="m1"/>with a mark.</s></p>
  <prosody rate="slow" volume="loud">Slowly now. And this continues for a while. Then it ends.</prosody>
  Call <say-as interpret-as="telephone">555 1234</say-as> today.<break time="500ms"/>
  <voice name="en-GB-mock-1">Hello from another voice.</voice> <sub alias="World Wide Web">WWW</sub> &amp; more.
  <!-- a comment --> <unknown>kept text</unknown> <prosody rate="zippy">odd</prosody> done.
</speak>`;

describe(SsmlLiveFilter.name, () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'should give the spoken text, marks, breaks and warnings of the whole document when fed 1–3 characters at a time (seed %d)',
    (seed) => {
      const units = streamSsml(pieces(DOC, seed));
      const whole = parseSsml(DOC);
      expect(spokenOf(units)).toBe(prepareText(DOC, 'ssml').spokenText);
      expect(units.flatMap((u) => u.segments.flatMap((s) => s.marks.map((m) => m.name)))).toEqual(['m1']);
      const explicit = (segments: readonly { breakAfterMs: number }[]) =>
        segments.reduce((n, s) => n + s.breakAfterMs, 0);
      // The document's pauses (paragraphs, sentences, the break) are all there, as segment breaks or as
      // the pause before the fragment that follows a boundary.
      const live = units.reduce((n, u) => n + u.pauseBeforeMs + explicit(u.segments), 0);
      expect(live).toBeGreaterThanOrEqual(explicit(whole.segments));
      expect(units.some((u) => u.segments.some((s) => s.breakAfterMs === 500))).toBe(true);
      expect(new Set(units.flatMap((u) => u.warnings))).toEqual(new Set(whole.warnings));
      // Styles survive the cuts: the slow loud sentences and the other voice.
      const styled = units.flatMap((u) => u.segments);
      expect(styled.find((s) => s.text.startsWith('Then it ends'))).toMatchObject({
        rate: 0.75,
        volumeDb: 6,
      });
      expect(styled.find((s) => s.text.startsWith('Hello from'))).toMatchObject({ voice: 'en-GB-mock-1' });
      expect(units.length).toBeGreaterThan(5);
    },
  );

  it('should speak inside an element before it closes, split inside a tag, an attribute and the text', () => {
    const filter = new SsmlLiveFilter();
    expect(filter.push('<speak><prosody ra')).toEqual([]);
    expect(filter.push('te="sl')).toEqual([]);
    expect(filter.push('ow">The first sentence is here.')).toEqual([]);
    const [first] = filter.push(' And the sec');
    expect(first.segments).toEqual([
      expect.objectContaining({ text: 'The first sentence is here.', rate: 0.75 }),
    ]);
    expect(first.pauseBeforeMs).toBe(0);
    const rest = [...filter.push('ond one.</prosody></speak>'), ...filter.end()];
    expect(rest).toEqual([
      expect.objectContaining({
        segments: [expect.objectContaining({ text: 'And the second one.', rate: 0.75 })],
        pauseBeforeMs: 220,
      }),
    ]);
  });

  it('should carry the pauses parseSsml drops at a fragment end over to the next fragment', () => {
    const units = streamSsml(
      pieces('<p>One paragraph.</p><p>Two.</p><s>Three.</s> Four<break time="1s"/>Five', 1),
    );
    expect(units.map((u) => [u.segments[0].text, u.pauseBeforeMs])).toEqual([
      ['One paragraph.', 0],
      ['Two.', 700],
      ['Three.', 700],
      ['Four', 400],
      ['Five', 0],
    ]);
    expect(units[3].segments[0].breakAfterMs).toBe(1000);
  });

  it('should place marks in their segment, also a mark alone at the end', () => {
    const units = streamSsml(
      pieces('Hello <mark name="a"/>there, my friend. How are you today?<mark name="end"/>', 2),
    );
    const marks = units.flatMap((u) =>
      u.segments.flatMap((s) => s.marks.map((m) => [s.text, m.name, m.offset])),
    );
    expect(marks).toEqual([
      ['Hello there, my friend.', 'a', 6],
      ['How are you today?', 'end', 18],
    ]);
  });

  it.each([
    ['Hello <b>world</i>.', /<\/i> where <\/b>/u, 14],
    ['Five < six.', /'<' must start a tag/u, 5],
    ['Fish &chips; tonight. And more', /unknown entity &chips;/u, 5],
    ['<speak>Hi.</speak> more', /content after <\/speak>/u, 19],
    ['<!DOCTYPE speak>', /DOCTYPE/u, 0],
    ['Hi </p>', /closes no open element/u, 3],
  ])('should refuse %j naming the problem and where it is', (ssml, reason, offset) => {
    let caught: unknown;
    try {
      streamSsml(pieces(ssml, 1));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LiveTextError);
    expect(caught).toMatchObject({ kind: 'invalid', offset });
    expect((caught as LiveTextError).reason).toMatch(reason);
  });

  it('should refuse an element or a tag left open at the end', () => {
    const open = new SsmlLiveFilter();
    open.push('<speak><prosody rate="slow">Hello there');
    expect(() => open.end()).toThrow(expect.objectContaining({ kind: 'invalid', offset: 7 }));
    expect(() => open.end()).toThrow(/<prosody> is not closed/u);
    const tag = new SsmlLiveFilter();
    tag.push('Hello <break time="5');
    expect(() => tag.end()).toThrow(/unfinished markup/u);
    // An open <speak> is the context itself: its end tag may be left out.
    const speak = new SsmlLiveFilter();
    speak.push('<speak>Fine');
    expect(spokenOf(speak.end())).toBe('Fine');
  });

  it('should flush where it can cut, and keep waiting inside say-as, a tag or an entity', () => {
    const filter = new SsmlLiveFilter();
    filter.push('Let me check <emphasis>that');
    expect(spokenOf(filter.flush())).toBe('Let me check that');
    filter.push('</emphasis> for <say-as interpret-as="characters">ab');
    expect(spokenOf(filter.flush())).toBe('for');
    expect(filter.waitingFor).toMatch(/<\/say-as> \(opened at character 43\)/u);
    filter.push('c</say-as> and <break time="1');
    expect(spokenOf(filter.flush())).toBe('a b c and');
    // The break completes a fragment of its own: silence to render.
    expect(filter.push('00ms"/> fish &am')).toEqual([
      expect.objectContaining({ segments: [expect.objectContaining({ text: '', breakAfterMs: 100 })] }),
    ]);
    expect(spokenOf(filter.flush())).toBe('fish');
    filter.push('p; chips');
    expect(spokenOf(filter.end())).toBe('& chips');
  });

  it('should bound what it holds while waiting for a place to cut', () => {
    const filter = new SsmlLiveFilter({ maxHeldBytes: 200 });
    expect(spokenOf(filter.push('This is spoken first. <say-as interpret-as="characters">'))).toBe(
      'This is spoken first.',
    );
    let caught: unknown;
    try {
      for (let i = 0; i < 100; i++) filter.push('abc');
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ kind: 'too_large', offset: 21 });
    expect((caught as Error).message).toMatch(/<\/say-as>/u);
  });

  it('should cut a long run without a sentence end at a space', () => {
    const words = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const filter = new SsmlLiveFilter();
    const early = pieces(words, 5).flatMap((p) => filter.push(p));
    expect(early.length).toBeGreaterThan(0);
    expect(filter.heldBytes).toBeLessThan(300);
    expect(spokenOf([...early, ...filter.end()])).toBe(words);
  });

  it('should give every segment character its span in the SSML as sent, wherever the pieces are cut', () => {
    const ssml =
      '<speak>Hi <emphasis>there</emphasis>, <sub alias="World Wide Web">WWW</sub> &amp; ' +
      '<prosody rate="slow">more. Done</prosody> <say-as interpret-as="characters">AB</say-as>.</speak>';
    const www = ssml.indexOf('WWW');
    const ab = ssml.indexOf('AB<');
    const expected = [
      { word: 'Hi', sent: 'Hi' },
      { word: 'there', sent: 'there' },
      // A substituted word spans the element's content.
      ...['World', 'Wide', 'Web'].map((word) => ({ word, sent: 'WWW' })),
      { word: 'more', sent: 'more' },
      { word: 'Done', sent: 'Done' },
      { word: 'A', sent: 'AB' },
      { word: 'B', sent: 'AB' },
    ];
    for (const parts of everyCut(ssml)) {
      const segments = streamSsml(parts).flatMap((u) => u.segments);
      const words: Array<{ word: string; sent: string }> = [];
      let last = 0;
      for (const segment of segments) {
        const map = segment.sourceMap!;
        expect(map.starts).toHaveLength(segment.text.length);
        for (let i = 0; i < segment.text.length; i++) {
          const [start, end] = [map.starts[i], map.ends[i]];
          expect(start).toBeGreaterThanOrEqual(last);
          last = start;
          const sent = ssml.slice(start, end);
          const substituted = start === www || start === ab;
          if (!substituted)
            expect({ i, sent }).toEqual({ i, sent: segment.text[i] === '&' ? '&amp;' : segment.text[i] });
        }
        expect(segment.sourceStart).toBeLessThanOrEqual(map.starts[0] ?? Infinity);
        for (const w of wordSpans(segment.text, map))
          words.push({ word: w.word, sent: ssml.slice(w.start, w.end) });
      }
      expect({ parts, words }).toEqual({ parts, words: expected });
    }
  });

  it('should use the language it is given for say-as', () => {
    const filter = new SsmlLiveFilter({ language: () => 'de-DE' });
    const units = streamSsml(['<say-as interpret-as="date" format="dmy">05.01.2024</say-as>'], filter);
    expect(spokenOf(units)).toBe('5. Januar 2024');
  });
});
