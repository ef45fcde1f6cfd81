import {
  BREAK_STRENGTH_MS,
  escapeXml,
  parseSsml,
  type SsmlSegment,
  SsmlSyntaxError,
  spokenDate,
  toEspeakSsml,
} from './ssml';

const texts = (segments: readonly SsmlSegment[]) => segments.map((s) => s.text);

/** The error `fn` throws, to assert on its fields. */
function thrown(fn: () => unknown): SsmlSyntaxError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SsmlSyntaxError) return error;
    throw error;
  }
  throw new Error('expected an SsmlSyntaxError');
}

describe(parseSsml.name, () => {
  it('should read plain text in <speak> as one default segment', () => {
    expect(parseSsml('<speak>Hello   world,\n  how are you?</speak>')).toEqual({
      segments: [
        {
          text: 'Hello world, how are you?',
          rate: 1,
          volumeDb: 0,
          breakAfterMs: 0,
          marks: [],
          sourceStart: 7,
          sourceEnd: 36,
        },
      ],
      warnings: [],
      plainText: 'Hello world, how are you?',
    });
  });

  it('should accept a fragment without <speak> and keep offsets in the caller text', () => {
    const xml = 'Hello <break time="1s"/> world';
    const doc = parseSsml(xml);
    expect(texts(doc.segments)).toEqual(['Hello', 'world']);
    expect(doc.segments[0].breakAfterMs).toBe(1000);
    const world = doc.segments[1];
    expect(xml.slice(world.sourceStart, world.sourceEnd).trim()).toBe('world');
    expect(parseSsml('<?xml version="1.0"?>\nJust text').plainText).toBe('Just text');
  });

  describe('break', () => {
    it('should read times in ms and s and add them to the segment before', () => {
      const doc = parseSsml(
        '<speak>A<break time="500ms"/>B<break time="1.5s"/><break time=" 250 ms "/>C</speak>',
      );
      expect(doc.segments.map((s) => [s.text, s.breakAfterMs])).toEqual([
        ['A', 500],
        ['B', 1750],
        ['C', 0],
      ]);
    });

    it('should map strengths by the documented table, a bare break to medium and none to nothing', () => {
      for (const [strength, ms] of Object.entries(BREAK_STRENGTH_MS)) {
        const doc = parseSsml(`<speak>A<break strength="${strength}"/>B</speak>`);
        expect(doc.segments[0].breakAfterMs).toBe(ms);
      }
      expect(BREAK_STRENGTH_MS).toEqual({
        none: 0,
        'x-weak': 100,
        weak: 200,
        medium: 400,
        strong: 700,
        'x-strong': 1000,
      });
      expect(parseSsml('<speak>A<break/>B</speak>').segments[0].breakAfterMs).toBe(400);
      expect(texts(parseSsml('<speak>A <break strength="none"/> B</speak>').segments)).toEqual(['A B']);
    });

    it('should put a leading break in an empty first segment', () => {
      const doc = parseSsml('<speak><break time="300ms"/>Hello</speak>');
      expect(doc.segments.map((s) => [s.text, s.breakAfterMs])).toEqual([
        ['', 300],
        ['Hello', 0],
      ]);
      expect(doc.plainText).toBe('Hello');
    });

    it('should cap one break at 10 s and a document at maxTotalBreakMs, with a warning', () => {
      expect(parseSsml('<speak>A<break time="99999s"/>B</speak>').segments[0].breakAfterMs).toBe(10_000);
      const doc = parseSsml(`<speak>${'x<break time="10s"/>'.repeat(10)}y</speak>`, {
        maxTotalBreakMs: 25_000,
      });
      expect(doc.segments.reduce((sum, s) => sum + s.breakAfterMs, 0)).toBe(25_000);
      expect(doc.warnings).toEqual(['break time beyond maxTotalBreakMs']);
    });

    it('should ignore an unreadable time with a warning and fall back to the strength', () => {
      const doc = parseSsml('<speak>A<break time="soon" strength="weak"/>B</speak>');
      expect(doc.segments[0].breakAfterMs).toBe(200);
      expect(doc.warnings).toEqual(['break time="soon"']);
    });
  });

  describe('prosody', () => {
    it('should read rate labels, percentages, relative changes and numbers as multipliers', () => {
      const rate = (value: string, outer = '') =>
        parseSsml(
          `<speak>${outer ? `<prosody rate="${outer}">` : ''}<prosody rate="${value}">x</prosody>${outer ? '</prosody>' : ''}</speak>`,
        ).segments[0].rate;
      expect(rate('x-slow')).toBe(0.5);
      expect(rate('slow')).toBe(0.75);
      expect(rate('medium')).toBe(1);
      expect(rate('fast')).toBe(1.25);
      expect(rate('x-fast')).toBe(1.75);
      expect(rate('80%')).toBe(0.8);
      expect(rate('1.5')).toBe(1.5);
      expect(rate('+10%')).toBe(1.1);
      expect(rate('+10%', 'slow')).toBe(0.825);
      expect(rate('-50%', '2')).toBe(1);
      expect(rate('1000%')).toBe(4);
    });

    it('should read volume labels, dB changes and SSML 1.0 numbers', () => {
      const volume = (value: string, outer = '') =>
        parseSsml(
          `<speak>${outer ? `<prosody volume="${outer}">` : ''}<prosody volume="${value}">x</prosody>${outer ? '</prosody>' : ''}</speak>`,
        ).segments[0].volumeDb;
      expect(volume('silent')).toBe(-96);
      expect(volume('x-soft')).toBe(-12);
      expect(volume('soft')).toBe(-6);
      expect(volume('loud')).toBe(6);
      expect(volume('x-loud')).toBe(12);
      expect(volume('+6dB')).toBe(6);
      expect(volume('-3dB', 'loud')).toBe(3);
      expect(volume('50')).toBe(-6);
      expect(volume('+40dB')).toBe(18);
    });

    it('should keep the innermost pitch verbatim and warn about values it cannot read', () => {
      const doc = parseSsml(
        '<speak><prosody pitch="high">a <prosody pitch="+10%" rate="zippy" volume="lots">b</prosody></prosody></speak>',
      );
      expect(doc.segments.map((s) => [s.text, s.pitch, s.rate, s.volumeDb])).toEqual([
        ['a', 'high', 1, 0],
        ['b', '+10%', 1, 0],
      ]);
      expect(doc.warnings).toEqual(['prosody rate="zippy"', 'prosody volume="lots"']);
    });
  });

  describe('say-as', () => {
    const sayAs = (interpret: string, text: string, extra = '') =>
      parseSsml(`<speak><say-as interpret-as="${interpret}"${extra}>${text}</say-as></speak>`).plainText;

    it('should spell characters and digits', () => {
      expect(sayAs('characters', 'ABC')).toBe('A B C');
      expect(sayAs('spell-out', 'USA 2')).toBe('U S A 2');
      expect(sayAs('characters', 'ÅÉ👍🏽')).toBe('Å É 👍🏽');
      expect(sayAs('digits', '2024')).toBe('2 0 2 4');
    });

    it('should read telephone numbers in digit groups', () => {
      expect(sayAs('telephone', '+1 (555) 123-4567')).toBe('+1, 5 5 5, 1 2 3, 4 5 6 7');
      expect(sayAs('telephone', '030 1234')).toBe('0 3 0, 1 2 3 4');
    });

    it('should keep cardinals and write ordinals for the language', () => {
      expect(sayAs('cardinal', '1234')).toBe('1234');
      expect(sayAs('number', '12')).toBe('12');
      expect(sayAs('ordinal', '1')).toBe('1st');
      expect(sayAs('ordinal', '22')).toBe('22nd');
      expect(sayAs('ordinal', '13')).toBe('13th');
      expect(
        parseSsml('<speak xml:lang="de-DE"><say-as interpret-as="ordinal">3</say-as></speak>').plainText,
      ).toBe('3.');
    });

    it('should expand dates in the given format, in the language of the text', () => {
      expect(sayAs('date', '1/5/2024', ' format="mdy"')).toBe('January 5, 2024');
      expect(sayAs('date', '5/1/2024', ' format="dmy"')).toBe('January 5, 2024');
      expect(sayAs('date', '2024-01-05')).toBe('January 5, 2024');
      expect(sayAs('date', '12/25', ' format="md"')).toBe('December 25');
      expect(sayAs('date', '3/99', ' format="my"')).toBe('March 1999');
      expect(
        parseSsml(
          '<speak xml:lang="de-DE"><say-as interpret-as="date" format="dmy">05.01.2024</say-as></speak>',
        ).plainText,
      ).toBe('5. Januar 2024');
      expect(
        parseSsml('<speak><say-as interpret-as="date">05/01/2024</say-as></speak>', { language: 'fr' })
          .plainText,
      ).toBe('5 janvier 2024');
    });

    it('should keep a date it cannot read, with a warning, and warn about unknown interpretations', () => {
      const doc = parseSsml(
        '<speak><say-as interpret-as="date" format="mdy">2/30/2024</say-as> <say-as interpret-as="unit">5kg</say-as></speak>',
      );
      expect(doc.plainText).toBe('2/30/2024 5kg');
      expect(doc.warnings).toEqual(['say-as date "2/30/2024"', 'say-as interpret-as="unit"']);
    });
  });

  it('should replace sub by its alias and keep emphasised text with its level', () => {
    const doc = parseSsml(
      '<speak>The <sub alias="World Wide Web Consortium">W3C</sub> says <emphasis level="strong">no</emphasis>.</speak>',
    );
    expect(doc.segments.map((s) => [s.text, s.emphasis])).toEqual([
      ['The World Wide Web Consortium says', undefined],
      ['no.', 'strong'],
    ]);
    expect(parseSsml('<speak><emphasis>yes</emphasis></speak>').segments[0].emphasis).toBe('moderate');
  });

  it('should turn s and p boundaries into pauses, without a trailing one', () => {
    const doc = parseSsml('<speak><p><s>One.</s><s>Two.</s></p><p>Three.</p></speak>');
    expect(doc.segments.map((s) => [s.text, s.breakAfterMs])).toEqual([
      ['One.', 400],
      ['Two.', 700],
      ['Three.', 0],
    ]);
    const explicit = parseSsml('<speak><s>One.</s><break time="1s"/><s>Two.</s></speak>');
    expect(explicit.segments[0].breakAfterMs).toBe(1000);
  });

  it('should place marks at their offset, before any text at 0 of the next segment, at the end in an empty one', () => {
    const doc = parseSsml(
      '<speak><mark name="start"/>Hello <mark name="mid"/>world<break time="200ms"/><mark name="after"/>again<mark name="end"/></speak>',
    );
    expect(doc.segments.map((s) => [s.text, s.marks])).toEqual([
      [
        'Hello world',
        [
          { name: 'start', offset: 0 },
          { name: 'mid', offset: 6 },
        ],
      ],
      [
        'again',
        [
          { name: 'after', offset: 0 },
          { name: 'end', offset: 5 },
        ],
      ],
    ]);
    const trailing = parseSsml('<speak>Hi<break time="1s"/><mark name="done"/></speak>');
    expect(trailing.segments.map((s) => [s.text, s.breakAfterMs, s.marks])).toEqual([
      ['Hi', 1000, []],
      ['', 0, [{ name: 'done', offset: 0 }]],
    ]);
  });

  it('should take voice and language from voice, lang and xml:lang', () => {
    const doc = parseSsml(
      '<speak xml:lang="en-US">Hi <voice name="en-GB-ryan">cheerio</voice> <lang xml:lang="fr-FR">bonjour</lang> <s xml:lang="de">hallo</s></speak>',
    );
    expect(doc.segments.map((s) => [s.text, s.voice, s.language])).toEqual([
      ['Hi', undefined, 'en-US'],
      ['cheerio', 'en-GB-ryan', 'en-US'],
      ['bonjour', undefined, 'fr-FR'],
      ['hallo', undefined, 'de'],
    ]);
  });

  it('should merge consecutive text of one style into one segment across elements', () => {
    const doc = parseSsml(
      '<speak><p>A <emphasis level="none">b</emphasis></p> <prosody rate="1">c</prosody></speak>',
    );
    expect(texts(doc.segments)).toEqual(['A', 'b', 'c']);
    const same = parseSsml('<speak><prosody rate="slow">a </prosody><prosody rate="75%">b</prosody></speak>');
    expect(same.segments.map((s) => [s.text, s.rate])).toEqual([['a b', 0.75]]);
  });

  it('should nest prosody inside voice inside p and combine them', () => {
    const doc = parseSsml(
      '<speak><p><voice name="v1">Start <prosody rate="fast"><prosody volume="loud">both</prosody> rate</prosody> end</voice></p></speak>',
    );
    expect(doc.segments.map((s) => [s.text, s.voice, s.rate, s.volumeDb])).toEqual([
      ['Start', 'v1', 1, 0],
      ['both', 'v1', 1.25, 6],
      ['rate', 'v1', 1.25, 0],
      ['end', 'v1', 1, 0],
    ]);
  });

  it('should keep the content of unknown elements and list each name once', () => {
    const doc = parseSsml(
      '<speak><audio src="a.wav">the bell</audio> rings <phoneme ph="x">tomato</phoneme> <audio src="b.wav">twice</audio> <mstts:express-as style="cheerful">yay</mstts:express-as><metadata>not spoken</metadata></speak>',
    );
    expect(doc.plainText).toBe('the bell rings tomato twice yay');
    expect(doc.warnings).toEqual(['audio', 'phoneme', 'mstts:express-as']);
  });

  it('should decode entities, ignore comments and processing instructions and keep CDATA as text', () => {
    const doc = parseSsml(
      '<speak>Tom &amp; Jerry &lt;3 &#x263A; &#65;<!-- not read --> <?pi ignored?>&quot;x&apos; <![CDATA[a < b & c]]></speak>',
    );
    expect(doc.plainText).toBe('Tom & Jerry <3 ☺ A "x\' a < b & c');
    expect(parseSsml('<speak><sub alias="R&amp;D">RD</sub></speak>').plainText).toBe('R&D');
  });

  it('should give source offsets that point at the text a segment came from', () => {
    const xml =
      '<speak>\n  <p>First part.</p>\n  <prosody rate="slow">Second &amp; slow.</prosody>\n</speak>';
    const [first, second] = parseSsml(xml).segments;
    expect(xml.slice(first.sourceStart, first.sourceEnd)).toBe('First part.');
    expect(xml.slice(second.sourceStart, second.sourceEnd)).toBe('Second &amp; slow.');
    const sayAs = '<speak>Call <say-as interpret-as="digits">42</say-as></speak>';
    const [call] = parseSsml(sayAs).segments;
    expect(call.text).toBe('Call 4 2');
    expect(sayAs.slice(call.sourceStart, call.sourceEnd)).toBe(
      'Call <say-as interpret-as="digits">42</say-as>',
    );
  });

  describe('errors', () => {
    it('should report invalid XML with line and column', () => {
      const error = thrown(() => parseSsml('<speak>\n  <p>hi</x>\n</speak>'));
      expect(error).toBeInstanceOf(SsmlSyntaxError);
      expect([error.line, error.column]).toEqual([2, 8]);
      expect(error.message).toBe(
        "Invalid SSML at line 2, column 8: Expected closing tag 'p' instead of closing tag 'x'.",
      );
    });

    it('should report positions in the caller text for a fragment', () => {
      const error = thrown(() => parseSsml('Hello <break time=500ms/> world'));
      // Column 14: the attribute without quotes, counted in the caller's text, not in a wrapper.
      expect([error.line, error.column]).toEqual([1, 14]);
      expect(error.message).toMatch(/line 1, column 14: .*time/u);
      expect([thrown(() => parseSsml('Hello <p>unclosed')).column]).toEqual([18]);
    });

    it('should refuse unknown and malformed entities', () => {
      expect(thrown(() => parseSsml('<speak>a &nbsp; b</speak>')).message).toBe(
        'Invalid SSML at line 1, column 10: unknown entity &nbsp; (SSML has no DTD)',
      );
      expect(thrown(() => parseSsml('<speak>&#0;</speak>')).reason).toMatch(/character reference/u);
      expect(thrown(() => parseSsml('<speak>a & b</speak>')).column).toBe(10);
    });

    it('should refuse a DOCTYPE, so entity bombs cannot expand', () => {
      const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<speak>&lol3;</speak>`;
      const error = thrown(() => parseSsml(bomb));
      expect([error.line, error.column, error.reason]).toEqual([2, 1, 'DOCTYPE is not allowed in SSML']);
    });

    it('should refuse nesting deeper than maxDepth and input longer than maxLength', () => {
      const deep = (n: number) => `<speak>${'<p>'.repeat(n)}x${'</p>'.repeat(n)}</speak>`;
      expect(parseSsml(deep(63)).plainText).toBe('x');
      const error = thrown(() => parseSsml(deep(64)));
      expect(error.reason).toBe('elements nested deeper than 64');
      expect(error.column).toBe(8 + 63 * 3);
      const started = performance.now();
      expect(thrown(() => parseSsml(deep(20_000), { maxLength: 1_000_000 })).reason).toMatch(/nested/u);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(thrown(() => parseSsml(`<speak>${'a'.repeat(200)}</speak>`, { maxLength: 100 })).reason).toBe(
        'longer than 100 characters',
      );
    });

    it('should refuse a document with another root or two roots', () => {
      expect(thrown(() => parseSsml('<speak>x</speak><speak>y</speak>'))).toBeInstanceOf(SsmlSyntaxError);
      expect(thrown(() => parseSsml('<speak>x</speak> trailing'))).toBeInstanceOf(SsmlSyntaxError);
    });
  });

  it('should read a realistic voice-assistant reply for an engine without SSML', () => {
    const xml = `<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">
  <p>
    <s>Your order <say-as interpret-as="characters">AB12</say-as> ships on
       <say-as interpret-as="date" format="mdy">3/14/2025</say-as>.</s>
    <s>Questions? Call <say-as interpret-as="telephone">800-555-0199</say-as>.</s>
  </p>
  <break strength="strong"/>
  <prosody rate="slow" volume="soft">Thanks for shopping with us.</prosody><mark name="bye"/>
</speak>`;
    const doc = parseSsml(xml);
    expect(doc.warnings).toEqual([]);
    expect(doc.segments.map((s) => [s.text, s.breakAfterMs, s.rate, s.volumeDb])).toEqual([
      ['Your order A B 1 2 ships on March 14, 2025.', 400, 1, 0],
      ['Questions? Call 8 0 0, 5 5 5, 0 1 9 9.', 700, 1, 0],
      ['Thanks for shopping with us.', 0, 0.75, -6],
    ]);
    expect(doc.segments[2].marks).toEqual([{ name: 'bye', offset: 28 }]);
    expect(doc.plainText).toBe(
      'Your order A B 1 2 ships on March 14, 2025. Questions? Call 8 0 0, 5 5 5, 0 1 9 9. Thanks for shopping with us.',
    );
  });
});

describe(toEspeakSsml.name, () => {
  it('should write what espeak-ng reads, with text escaped', () => {
    const doc = parseSsml(
      `<speak>Tom &amp; Jerry <break time="500ms"/><prosody rate="x-fast" volume="-6dB" pitch="200Hz">fast &lt;3</prosody> <voice name="en-gb" xml:lang="en-GB"><emphasis>mark <mark name="m&quot;1"/>here</emphasis></voice> <prosody volume="silent" pitch="+20%">shh</prosody></speak>`,
    );
    expect(toEspeakSsml(doc)).toBe(
      '<speak>Tom &amp; Jerry<break time="500ms"/> <prosody rate="175%" volume="-6dB">fast &lt;3</prosody> ' +
        '<voice name="en-gb" xml:lang="en-GB"><emphasis level="moderate">mark <mark name="m&quot;1"/>here</emphasis></voice> ' +
        '<prosody volume="silent" pitch="+20%">shh</prosody></speak>',
    );
  });

  it('should render a realistic espeak document with leading pause, structure and say-as already expanded', () => {
    const doc = parseSsml(
      '<speak><break time="250ms"/><p>Code <say-as interpret-as="characters">XJ9</say-as>.</p><p><prosody rate="slow">Goodbye.</prosody></p></speak>',
    );
    expect(toEspeakSsml(doc)).toBe(
      '<speak><break time="250ms"/> Code X J 9.<break time="700ms"/> <prosody rate="75%">Goodbye.</prosody></speak>',
    );
  });
});

describe(spokenDate.name, () => {
  it('should validate days against the month and expand two-digit years', () => {
    expect(spokenDate('2/29/2024', 'mdy', 'en')).toBe('February 29, 2024');
    expect(spokenDate('2/29/2023', 'mdy', 'en')).toBeUndefined();
    expect(spokenDate('13/1/2024', 'mdy', 'en')).toBeUndefined();
    expect(spokenDate('1/5/24', 'mdy', 'en-US')).toBe('January 5, 2024');
    expect(spokenDate('2024', 'y', 'en')).toBe('2024');
    expect(spokenDate('05/01/2024', undefined, 'en-GB')).toBe('5 January 2024');
    expect(spokenDate('1/5/2024', 'mdy', 'not a language!')).toBe('January 5, 2024');
  });
});

describe(escapeXml.name, () => {
  it('should escape the five XML specials', () => {
    expect(escapeXml(`<a href="x">&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  });
});
