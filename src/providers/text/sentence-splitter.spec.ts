import {
  groupSegments,
  SENTENCE_WINDOW,
  sentenceRanges,
  splitSentences,
  splitSentenceSpans,
  type TextSegment,
} from './sentence-splitter';

const texts = (segments: TextSegment[]) => segments.map((s) => s.text);
const length = (s: string) => [...s].length;

describe('splitSentences', () => {
  it('should split plain sentences and classify how each ends', () => {
    expect(splitSentences('This is the first one. Is this the second? Yes, it is the third!')).toEqual([
      { text: 'This is the first one.', end: 'period' },
      { text: 'Is this the second?', end: 'question' },
      { text: 'Yes, it is the third!', end: 'exclamation' },
    ]);
  });

  it('should keep titles and Latin abbreviations inside their sentence', () => {
    expect(
      texts(
        splitSentences(
          'Mr. Smith met Dr. Jones and Prof. Brown today. They talked, e.g. about cats, i.e. pets.',
        ),
      ),
    ).toEqual(['Mr. Smith met Dr. Jones and Prof. Brown today.', 'They talked, e.g. about cats, i.e. pets.']);
    expect(texts(splitSentences('Hallo z.B. Herr Müller aus Berlin. Das ist gut so, danke.'))).toEqual([
      'Hallo z.B. Herr Müller aus Berlin.',
      'Das ist gut so, danke.',
    ]);
  });

  it('should keep "U.S." mid-sentence but end a sentence after it when a capital follows', () => {
    expect(
      texts(splitSentences('The U.S. economy grew last year. He moved to the U.S. He is happy there now.')),
    ).toEqual(['The U.S. economy grew last year.', 'He moved to the U.S.', 'He is happy there now.']);
  });

  it('should keep decimals, versions, numbered references and initials intact', () => {
    expect(
      texts(
        splitSentences(
          'Pi is about 3.14 and the price is $3.50 today. See fig. 3 in vol. 2 of the book. J. K. Rowling wrote it.',
        ),
      ),
    ).toEqual([
      'Pi is about 3.14 and the price is $3.50 today.',
      'See fig. 3 in vol. 2 of the book.',
      'J. K. Rowling wrote it.',
    ]);
  });

  it('should keep quotes, closing brackets and ellipses with their sentence', () => {
    expect(
      texts(
        splitSentences(
          'He said "Stop!" and walked away. (See the full report.) Well... that was odd. "Really?" she asked.',
        ),
      ),
    ).toEqual([
      'He said "Stop!" and walked away.',
      '(See the full report.)',
      'Well... that was odd.',
      '"Really?" she asked.',
    ]);
    expect(splitSentences('I wonder what happens next…')[0].end).toBe('ellipsis');
    expect(splitSentences('“Is it over?” Nobody answered at all.')[0]).toEqual({
      text: '“Is it over?”',
      end: 'question',
    });
  });

  it('should split CJK, Devanagari and Arabic text at their own terminators', () => {
    expect(
      texts(
        splitSentences('今天天气很好，我们去公园散步吧。你觉得怎么样呢？我觉得非常好！', { minChars: 5 }),
      ),
    ).toEqual(['今天天气很好，我们去公园散步吧。', '你觉得怎么样呢？', '我觉得非常好！']);
    expect(texts(splitSentences('यह पहला वाक्य है। यह दूसरा वाक्य है।'))).toEqual([
      'यह पहला वाक्य है।',
      'यह दूसरा वाक्य है।',
    ]);
    expect(splitSentences('هل أنت بخير اليوم؟ نعم أنا بخير.')[0]).toEqual({
      text: 'هل أنت بخير اليوم؟',
      end: 'question',
    });
  });

  it('should merge very short sentences into their neighbours', () => {
    expect(texts(splitSentences('Hi. Yes. This is a longer sentence that follows. Ok.'))).toEqual([
      'Hi. Yes. This is a longer sentence that follows. Ok.',
    ]);
  });

  it('should cut a very long sentence at clause punctuation into near-equal pieces of at most maxChars', () => {
    const clause = 'the committee discussed the proposal at great length';
    const sentence = `${Array.from({ length: 12 }, (_, i) => `${clause} ${i}`).join(', ')}.`;
    const pieces = splitSentences(sentence);
    expect(pieces.length).toBeGreaterThan(2);
    for (const piece of pieces) expect(length(piece.text)).toBeLessThanOrEqual(250);
    for (const piece of pieces.slice(0, -1))
      expect(piece).toMatchObject({ end: 'clause', text: expect.stringMatching(/,$/) });
    expect(pieces.map((p) => p.text).join(' ')).toBe(sentence);
    const lengths = pieces.map((p) => length(p.text));
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeLessThan(120);
  });

  it('should cut at spaces when there is no clause punctuation, and at word boundaries in Thai', () => {
    const words = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
    const pieces = splitSentences(words, { maxChars: 100 });
    for (const piece of pieces) {
      expect(length(piece.text)).toBeLessThanOrEqual(100);
      expect(piece.text).toMatch(/^word\d+( word\d+)*$/);
    }
    expect(pieces.map((p) => p.text).join(' ')).toBe(words);

    const thai = 'สวัสดีครับวันนี้อากาศดีมากเราจะไปเที่ยวทะเลกันไหมครับ'.repeat(4);
    const thaiPieces = splitSentences(thai, { maxChars: 60, locale: 'th' });
    expect(thaiPieces.map((p) => p.text).join('')).toBe(thai);
    for (const piece of thaiPieces) {
      expect(length(piece.text)).toBeLessThanOrEqual(60);
      expect(piece.text).not.toMatch(/^\p{M}/u); // never starts with a combining vowel
    }
  });

  it('should end a sentence at a line break after terminal punctuation even before lower case', () => {
    expect(
      texts(
        splitSentences('Then choose Privacy.\nturn off tracking now.\nkeep all the cookies.', {
          minChars: 1,
        }),
      ),
    ).toEqual(['Then choose Privacy.', 'turn off tracking now.', 'keep all the cookies.']);
    // A wrapped line and an abbreviation at the end of a line still continue the sentence.
    expect(
      texts(splitSentences('This sentence was wrapped\nby the mail client. We met Mr.\nsmith there.')),
    ).toEqual(['This sentence was wrapped\nby the mail client.', 'We met Mr.\nsmith there.']);
  });

  it('should return nothing for empty text', () => {
    expect(splitSentences('')).toEqual([]);
  });
});

describe('groupSegments', () => {
  it('should keep the first group small and let later groups grow up to their budgets', () => {
    const sentences = splitSentences(
      Array.from({ length: 40 }, (_, i) => `This is sentence number ${i}.`).join(' '),
    );
    const groups = groupSegments(sentences, [40, 200, 1000]);
    expect(groups[0].text).toBe('This is sentence number 0.');
    expect(length(groups[1].text)).toBeLessThanOrEqual(200);
    expect(length(groups[1].text)).toBeGreaterThan(150);
    expect(groups.slice(2).every((g) => length(g.text) <= 1000)).toBe(true);
    expect(groups.map((g) => g.text).join(' ')).toBe(sentences.map((s) => s.text).join(' '));
    expect(groups[groups.length - 1].end).toBe('period');
  });
});

describe('splitSentenceSpans', () => {
  it('should give offsets that slice each segment back out of the input', () => {
    const text = '  Mr. Smith arrived.  Did he?\n\n“Yes!” she said. 今天天气很好。 Ok.  ';
    const spans = splitSentenceSpans(text, { minChars: 1 });
    expect(spans.map((s) => s.text)).toEqual(texts(splitSentences(text, { minChars: 1 })));
    expect(spans.length).toBeGreaterThan(3);
    for (const span of spans) expect(text.slice(span.start, span.endOffset)).toBe(span.text);
    expect(spans[0].start).toBe(2);
  });

  it('should give offsets for pieces cut out of a long sentence', () => {
    const text = `Intro. ${Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ')}`;
    const spans = splitSentenceSpans(text, { maxChars: 60 });
    expect(spans.length).toBeGreaterThan(5);
    for (const span of spans) expect(text.slice(span.start, span.endOffset)).toBe(span.text);
  });
});

describe('sentenceRanges', () => {
  const sentences = [
    'Mr. Smith met Dr. Jones at 3.30 p.m. today.',
    'Is this the U.S. office?',
    '"Stop!" he said, and left… ',
    'Prices rose 2.5% in Q3, etc. and more.',
    '今天天气很好。',
    'Well...\n\nNew paragraph here!',
    'See fig. 3 (vol. 2).',
    'यह पहला वाक्य है। ',
  ];
  const corpus = Array.from({ length: 1200 }, (_, i) => sentences[(i * 7) % sentences.length]).join(' ');

  it('should find the same boundaries in windows as ICU does in one pass', () => {
    const icu = new Intl.Segmenter(undefined, { granularity: 'sentence' });
    const reference = [...icu.segment(corpus)].map((s) => ({
      start: s.index,
      end: s.index + s.segment.length,
    }));
    expect(corpus.length).toBeGreaterThan(4 * SENTENCE_WINDOW);
    expect(sentenceRanges(corpus)).toEqual(reference);
    expect(sentenceRanges(corpus, undefined, 256)).toEqual(reference);
    expect(sentenceRanges(corpus, undefined, 64)).toEqual(reference);
  });

  it('should cover a window-sized sentence without losing text', () => {
    const text = `${'x'.repeat(300)}. Next one. ${'Y'.repeat(500)}`;
    const ranges = sentenceRanges(text, undefined, 64);
    expect(ranges.map((r) => text.slice(r.start, r.end)).join('')).toBe(text);
    expect(ranges.map((r) => r.end)).toEqual([302, 312, text.length]);
  });
});

describe('splitSentences on adversarial input', () => {
  // Each input ~100 KB; the old implementation took seconds on several of them.
  const inputs: Record<string, (chars: number) => string> = {
    'repeated titles': (n) => 'Mr. '.repeat(n / 4),
    'one letter repeated': (n) => 'a'.repeat(n),
    'one mixed word': (n) => 'abcdefghij'.repeat(n / 10),
    'dots and spaces': (n) => '. '.repeat(n / 2),
    'digits and dots': (n) => '1.'.repeat(n / 2),
    'CJK without punctuation': (n) => '我们今天去公园散步吧'.repeat(n / 10),
    'blank lines': (n) => '\n'.repeat(n),
    'tiny questions': (n) => 'x?'.repeat(n / 2),
    'short sentences': (n) => 'Hi. '.repeat(n / 4),
    'plain words': (n) => 'word '.repeat(n / 5),
    'emoji after questions': (n) => 'y? 😀 '.repeat(n / 6),
  };
  const words = (s: string) => s.replace(/\s+/gu, '');

  /**
   * The best of five runs of each size, interleaved so that a burst of load on a shared machine hits both
   * sizes alike: noise only ever adds time.
   */
  function times(small: string, large: string): [number, number] {
    let bestSmall = Infinity;
    let bestLarge = Infinity;
    for (let i = 0; i < 5; i++) {
      let started = performance.now();
      splitSentences(small);
      bestSmall = Math.min(bestSmall, performance.now() - started);
      started = performance.now();
      splitSentences(large);
      bestLarge = Math.min(bestLarge, performance.now() - started);
    }
    return [bestSmall, bestLarge];
  }

  it.each(Object.keys(inputs))('should split %s in linear time and keep every character', (name) => {
    const make = inputs[name];
    const text = make(100_000);
    const segments = splitSentences(text);
    expect(words(segments.map((s) => s.text).join(''))).toBe(words(text));
    for (const segment of segments) expect(length(segment.text)).toBeLessThanOrEqual(250);

    const [quarter, full] = times(make(25_000), text);
    expect(full).toBeLessThan(1500);
    // Four times the input: linear work takes ~4× as long, quadratic 16×. The slack and the 5 ms floor absorb
    // timer noise and garbage collection on a loaded machine.
    expect(full).toBeLessThan(10 * Math.max(quarter, 5));
  });
});
