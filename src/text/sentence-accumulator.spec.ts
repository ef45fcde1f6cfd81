import fc from 'fast-check';
import { splitSentenceSpans } from '../providers/text/sentence-splitter';
import { type CompletedSentence, SentenceAccumulator } from './sentence-accumulator';

const TEXTS = [
  'Hello there. How are you today? I am fine, thanks for asking!',
  'Mr. Smith paid $29.99 for the book, i.e. a bargain. Dr. Jones bought two copies at 3.50 each.',
  'He said "Stop!" and walked away. (See the full report.) Well... that was odd, wasn\'t it?',
  'The U.S. economy grew last year. He moved to the U.S. He is happy there now, very happy.',
  'Hi. Yes. This is a longer sentence that follows the short ones. And another full sentence here.',
  'First line of the reply\n\nSecond paragraph starts here. It has two sentences in it.',
  '今天天气很好，我们去公园散步吧。你觉得怎么样呢？我觉得非常好，我们走吧！',
  'See fig. 3 in vol. 2 of the book. J. K. Rowling wrote it in 1997, or so they say.',
  'Prices: 1. apples 2. pears. Emoji 😀 are fine too! The end is near, my friend.',
];

/** Feeds `pieces` one by one, then ends; returns every sentence in order. */
function feed(pieces: readonly string[], accumulator = new SentenceAccumulator()): CompletedSentence[] {
  const out: CompletedSentence[] = [];
  for (const piece of pieces) out.push(...accumulator.push(piece));
  out.push(...accumulator.end());
  return out;
}

/** Cuts `text` at the given positions (UTF-16; may split surrogate pairs, as a tokenizer may). */
function cut(text: string, positions: readonly number[]): string[] {
  const sorted = [...new Set(positions.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let at = 0;
  for (const p of sorted) {
    if (p > at) pieces.push(text.slice(at, p));
    at = Math.max(at, p);
  }
  pieces.push(text.slice(at));
  return pieces;
}

const plain = (sentences: readonly CompletedSentence[]) =>
  sentences.map(({ text, end, start, endOffset }) => ({ text, end, start, endOffset }));

describe(SentenceAccumulator.name, () => {
  it.each(TEXTS)(
    'should give the same sentences fed char by char as splitting the whole text: %s',
    (text) => {
      const expected = splitSentenceSpans(text);
      expect(plain(feed([...text]))).toEqual(expected);
      expect(plain(feed(text.split(/(?<= )/u)))).toEqual(expected);
    },
  );

  it('should give the same sentences for any cut of the input into pieces', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TEXTS), fc.array(fc.nat(), { maxLength: 40 }), (text, positions) => {
        expect(plain(feed(cut(text, positions)))).toEqual(splitSentenceSpans(text));
      }),
      { numRuns: 300 },
    );
  });

  it('should emit a sentence only once the text after it shows that it ended', () => {
    const accumulator = new SentenceAccumulator();
    expect(accumulator.push('Hel')).toEqual([]);
    expect(accumulator.push('lo the')).toEqual([]);
    expect(accumulator.push('re. How')).toEqual([
      { text: 'Hello there.', end: 'period', start: 0, endOffset: 12 },
    ]);
    expect(accumulator.pending).toBe('How');
    expect(accumulator.push(' are you?')).toEqual([]);
    expect(accumulator.end()).toEqual([{ text: 'How are you?', end: 'question', start: 13, endOffset: 25 }]);
  });

  it('should keep "$29." open until the next piece shows it was not "$29.99"', () => {
    const accumulator = new SentenceAccumulator();
    expect(accumulator.push('The ticket costs $29.')).toEqual([]);
    expect(accumulator.push('99')).toEqual([]);
    expect(accumulator.push(' per person. Next')).toEqual([
      { text: 'The ticket costs $29.99 per person.', end: 'period', start: 0, endOffset: 35 },
    ]);

    const ended = new SentenceAccumulator();
    expect(ended.push('The ticket costs $29.')).toEqual([]);
    expect(ended.push(' ')).toEqual([]);
    expect(ended.end().map((s) => s.text)).toEqual(['The ticket costs $29.']);
  });

  it('should wait after an abbreviation, a number after a period and a short sentence', () => {
    const accumulator = new SentenceAccumulator();
    expect(accumulator.push('We met Mr.')).toEqual([]);
    expect(accumulator.push(' Smith yesterday. It costs $29. 9')).toEqual([
      { text: 'We met Mr. Smith yesterday.', end: 'period', start: 0, endOffset: 27 },
    ]);
    // "$29. 9" may still become "$29. 9 dollars" (no break): a letter decides.
    expect(accumulator.push(' apples')).toEqual([]);
    expect(accumulator.push(' in total. Ok.')).toEqual([
      { text: 'It costs $29. 9 apples in total.', end: 'period', start: 28, endOffset: 60 },
    ]);
    // "Ok." is short: it waits for the sentence it will be joined to, and that one for what follows it.
    expect(accumulator.push(' Then we left the shop. ')).toEqual([]);
    expect(accumulator.push('Bye')).toEqual([
      { text: 'Ok. Then we left the shop.', end: 'period', start: 61, endOffset: 87 },
    ]);
  });

  it('should return everything buffered on flush, even mid-sentence', () => {
    const accumulator = new SentenceAccumulator();
    accumulator.push('  Well, I was thinking');
    expect(accumulator.flush()).toEqual({
      text: 'Well, I was thinking',
      end: 'none',
      start: 2,
      endOffset: 22,
    });
    expect(accumulator.pending).toBe('');
    expect(accumulator.flush()).toBeUndefined();
    accumulator.push(' that we could go.');
    expect(accumulator.end()).toEqual([
      { text: 'that we could go.', end: 'period', start: 23, endOffset: 40 },
    ]);
  });

  it('should keep a split surrogate pair together across a flush', () => {
    const accumulator = new SentenceAccumulator();
    accumulator.push('Nice \ud83d');
    expect(accumulator.flush()?.text).toBe('Nice');
    expect(accumulator.pending).toBe('\ud83d');
    accumulator.push('\ude00 indeed');
    expect(accumulator.flush()).toEqual({ text: '😀 indeed', end: 'none', start: 5, endOffset: 14 });
  });

  it('should drop the buffer on clear and keep counting offsets across it', () => {
    const accumulator = new SentenceAccumulator();
    const sent = ['This part is dropped', ' before it ends.', 'A new sentence starts here. ', 'And'];
    expect(accumulator.push(sent[0])).toEqual([]);
    accumulator.clear();
    expect(accumulator.pending).toBe('');
    expect(accumulator.push(sent[1])).toEqual([]);
    accumulator.clear();
    const out = [...accumulator.push(sent[2]), ...accumulator.push(sent[3]), ...accumulator.end()];
    const all = sent.join('');
    expect(out.map((s) => s.text)).toEqual(['A new sentence starts here.', 'And']);
    for (const s of out) expect(all.slice(s.start, s.endOffset)).toBe(s.text);
    expect(out[0].start).toBe(sent[0].length + sent[1].length);
  });

  it('should cut a sentence without punctuation so the buffer stays bounded', () => {
    const text = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const accumulator = new SentenceAccumulator({ maxChars: 100 });
    const out: CompletedSentence[] = [];
    for (const token of text.split(/(?= )/u)) {
      out.push(...accumulator.push(token));
      expect(accumulator.pending.length).toBeLessThanOrEqual(100 + token.length);
    }
    out.push(...accumulator.end());
    expect(out.length).toBeGreaterThan(text.length / 100);
    for (const s of out) {
      expect(s.text.length).toBeLessThanOrEqual(100);
      expect(text.slice(s.start, s.endOffset)).toBe(s.text);
    }
    expect(out.map((s) => s.text).join(' ')).toBe(text);
  });

  it('should slice every sentence back out of the pushed text by its offsets', () => {
    const text = TEXTS.join(' ');
    const out = feed(text.match(/.{1,3}/gsu) ?? []);
    expect(out.map((s) => s.text).join(' ')).toBe(
      splitSentenceSpans(text)
        .map((s) => s.text)
        .join(' '),
    );
    for (const s of out) expect(text.slice(s.start, s.endOffset)).toBe(s.text);
  });

  it('should take time linear in the input when fed token by token', () => {
    const run = (repeats: number) => {
      const text = TEXTS.join(' ').repeat(repeats);
      const started = performance.now();
      const count = feed(text.match(/.{1,4}/gsu) ?? []).length;
      return { ms: performance.now() - started, count };
    };
    run(2); // warm up
    // Best of three: load on a shared machine only ever adds time.
    const small = Math.min(run(10).ms, run(10).ms, run(10).ms);
    const large = [run(40), run(40), run(40)].reduce((a, b) => (a.ms <= b.ms ? a : b));
    expect(large.count).toBeGreaterThan(40 * TEXTS.length);
    expect(large.ms).toBeLessThan(3000);
    // 4× the input: linear ≈ 4×, quadratic 16×; the 10 ms floor absorbs timer noise.
    expect(large.ms).toBeLessThan(10 * Math.max(small, 10));
  });
});
