import { normalizeText } from '../common/text/normalize-text';
import { LiveTextError, MarkdownLiveFilter, SsmlLiveFilter, type SsmlUnit } from './live-text-filter';
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

  it('should use the language it is given for say-as', () => {
    const filter = new SsmlLiveFilter({ language: () => 'de-DE' });
    const units = streamSsml(['<say-as interpret-as="date" format="dmy">05.01.2024</say-as>'], filter);
    expect(spokenOf(units)).toBe('5. Januar 2024');
  });
});
