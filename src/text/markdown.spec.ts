import { splitSentences } from '../providers/text/sentence-splitter';
import { markdownToSpeech, spokenUrl } from './markdown';

/** Every mapped character must be the same character in the source; returns how many were mapped. */
function expectOffsetsPointAtSource(md: string, text: string, offsets: Int32Array): number {
  expect(offsets.length).toBe(text.length);
  let mapped = 0;
  let previous = -1;
  for (let i = 0; i < text.length; i++) {
    const at = offsets[i];
    if (at < 0) continue;
    expect(md[at]).toBe(text[i]);
    expect(at).toBeGreaterThan(previous); // forward only
    previous = at;
    mapped++;
  }
  return mapped;
}

/** The source slice behind an output substring (first and last mapped characters). */
function sourceOf(md: string, text: string, offsets: Int32Array, part: string): string {
  const start = text.indexOf(part);
  expect(start).toBeGreaterThanOrEqual(0);
  const mapped = Array.from(offsets.subarray(start, start + part.length)).filter((o) => o >= 0);
  return md.slice(mapped[0], mapped[mapped.length - 1] + 1);
}

describe(markdownToSpeech.name, () => {
  it('should read a reply with a heading, a bullet list, bold and a link', () => {
    const md = `## Getting started

To install the CLI, you have **two options**:

- Use *npm*: run \`npm install\`
- Download a [release build](https://example.com/releases/v2) 🎉
- Build from source

See the [docs](https://docs.example.com) for more!`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe(
      [
        'Getting started.',
        'To install the CLI, you have two options:',
        'Use npm: run npm install.',
        'Download a release build.',
        'Build from source.',
        'See the docs for more!',
      ].join('\n'),
    );
    const mapped = expectOffsetsPointAtSource(md, text, sourceOffsets);
    expect(mapped).toBeGreaterThan(text.length - 15);
    expect(sourceOf(md, text, sourceOffsets, 'two options')).toBe('two options');
    expect(sourceOf(md, text, sourceOffsets, 'release build')).toBe('release build');
    expect(text.split('\n').map((line) => splitSentences(line, { minChars: 1 }).length)).toEqual([
      1, 1, 1, 1, 1, 1,
    ]);
  });

  it('should replace a code fence by a note and keep the explanation around it', () => {
    const md = `Here is a function that adds two numbers:

\`\`\`python
def add(a, b):
    return a + b
\`\`\`

Call \`add(2, 3)\` and it returns 5.

    indented code is not read either

That's it.`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe(
      "Here is a function that adds two numbers:\n(code omitted).\nCall add(2, 3) and it returns 5.\n(code omitted).\nThat's it.",
    );
    expectOffsetsPointAtSource(md, text, sourceOffsets);
    const note = text.indexOf('(code omitted)');
    expect(Array.from(sourceOffsets.subarray(note, note + 15))).toEqual(new Array(15).fill(-1));
    expect(markdownToSpeech(md, { codeNote: '' }).text).toBe(
      "Here is a function that adds two numbers:\nCall add(2, 3) and it returns 5.\nThat's it.",
    );
  });

  it('should read a table row by row with cells separated by commas', () => {
    const md = `| Plan | Price | Storage |
|------|------:|---------|
| Free | $0 | 5 GB |
| **Pro** | $12 | 1 TB |

Prices are per month.`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe('Plan, Price, Storage.\nFree, $0, 5 GB.\nPro, $12, 1 TB.\nPrices are per month.');
    expectOffsetsPointAtSource(md, text, sourceOffsets);
    expect(sourceOf(md, text, sourceOffsets, '1 TB')).toBe('1 TB');
  });

  it('should drop emoji with their modifiers and joiners but keep ©, ® and ™', () => {
    const md = `# Great news! 🚀

Your build passed ✅ and the team 👨‍👩‍👧‍👦 says thanks 👍🏽 🇩🇪.
Acme™ and Widget® are © 2024 Acme ❤️`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe(
      'Great news!\nYour build passed and the team says thanks. Acme™ and Widget® are © 2024 Acme.',
    );
    expect(text).not.toMatch(/\p{Extended_Pictographic}(?<![©®™])|\uFE0F|\u200D/u);
    expectOffsetsPointAtSource(md, text, sourceOffsets);
  });

  it('should read links by their text, bare URLs by host, images by alt text, and drop HTML', () => {
    const md = `> **Note:** visit https://www.github.com/org/repo?tab=readme or <https://nodejs.org/en/docs>.
> Mail <help@example.com>.

![A diagram of the data path](diagram.png) ![](spacer.gif)

<div class="warning">
  Careful: <b>do not</b> delete this.
</div>

***

Line one<br>line two and H<sub>2</sub>O, a\\*b &amp; c.`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe(
      [
        'Note: visit github.com or nodejs.org. Mail help@example.com.',
        'A diagram of the data path.',
        'Careful: do not delete this.',
        'Line one line two and H2O, a*b & c.',
      ].join('\n'),
    );
    expectOffsetsPointAtSource(md, text, sourceOffsets);
    expect(sourceOf(md, text, sourceOffsets, 'github.com')).toBe('github.com');
    expect(sourceOf(md, text, sourceOffsets, 'a*b')).toBe('a\\*b');
  });

  it('should read nested and ordered lists with each item a sentence', () => {
    const md = `1. First, open the settings
2. Then choose **Privacy**
   - turn off tracking
   - keep cookies
3. Finally, restart the app.`;
    const { text, sourceOffsets } = markdownToSpeech(md);
    expect(text).toBe(
      'First, open the settings.\nThen choose Privacy.\nturn off tracking.\nkeep cookies.\nFinally, restart the app.',
    );
    expectOffsetsPointAtSource(md, text, sourceOffsets);
    expect(splitSentences(text, { minChars: 1 }).map((s) => s.text)).toEqual([
      'First, open the settings.',
      'Then choose Privacy.',
      'turn off tracking.',
      'keep cookies.',
      'Finally, restart the app.',
    ]);
  });

  it('should end CJK blocks with an ideographic full stop and handle empty input', () => {
    expect(markdownToSpeech('## 安装步骤\n\n- 下载软件\n- 运行安装程序').text).toBe(
      '安装步骤。\n下载软件。\n运行安装程序。',
    );
    expect(markdownToSpeech('')).toEqual({ text: '', sourceOffsets: new Int32Array(0) });
    expect(markdownToSpeech('```\nonly code\n```\n\n🎉').text).toBe('(code omitted).');
  });

  it('should take linear time on a long reply', () => {
    const reply =
      '## Section\n\nSome **bold** text with a [link](https://example.com) and `code`.\n\n- item 🎉\n\n';
    const run = (n: number) => {
      const md = reply.repeat(n);
      const started = performance.now();
      markdownToSpeech(md);
      return performance.now() - started;
    };
    run(20);
    const small = Math.min(run(200), run(200));
    const large = Math.min(run(800), run(800));
    expect(large).toBeLessThan(2000);
    expect(large).toBeLessThan(10 * Math.max(small, 10));
  });
});

describe(spokenUrl.name, () => {
  it('should read a URL as its host and an e-mail address as itself', () => {
    expect(spokenUrl('https://www.example.com/a/b?c=d')).toBe('example.com');
    expect(spokenUrl('http://user:pw@api.example.org:8080/x')).toBe('api.example.org');
    expect(spokenUrl('www.nodejs.org')).toBe('nodejs.org');
    expect(spokenUrl('mailto:help@example.com')).toBe('help@example.com');
  });
});
