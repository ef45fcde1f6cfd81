import { engineSsmlWarnings, markdownTimingsToSource, prepareText } from './prepare';

describe('engineSsmlWarnings', () => {
  const slow = prepareText('<speak>Normal. <prosody rate="50%">Slow words.</prosody></speak>', 'ssml');

  it('should warn that coqui does not apply prosody rate, naming the tag and the provider', () => {
    expect(engineSsmlWarnings(slow, 'coqui')).toEqual([
      expect.stringMatching(/^prosody rate is not applied by provider "coqui".*normal rate$/),
    ]);
  });

  it('should not warn for engines that take a rate, for SSML without a rate, or for plain text', () => {
    for (const provider of ['mock_tone', 'espeak', 'openai'])
      expect(engineSsmlWarnings(slow, provider)).toEqual([]);
    expect(
      engineSsmlWarnings(prepareText('<speak>Just <break time="1s"/> words.</speak>', 'ssml'), 'coqui'),
    ).toEqual([]);
    expect(
      engineSsmlWarnings(
        prepareText('<speak><prosody rate="medium">At the default.</prosody></speak>', 'ssml'),
        'coqui',
      ),
    ).toEqual([]);
    expect(engineSsmlWarnings(prepareText('Plain text.', 'text'), 'coqui')).toEqual([]);
  });
});

describe('prepareText', () => {
  it('should map every unit of the SSML segments back to the text as sent (entities, sub and say-as)', () => {
    const xml =
      '<speak>Fish   &amp; chips, <sub alias="World Wide Web">WWW</sub>.<mark name="m"/> ' +
      '<say-as interpret-as="characters">ab</say-as> <![CDATA[x<y]]></speak>';
    const { segments } = prepareText(xml, 'ssml');
    const [segment] = segments!;
    expect(segment.text).toBe('Fish & chips, World Wide Web. a b x<y');
    const map = segment.sourceMap!;
    expect(map.starts).toHaveLength(segment.text.length);
    const of = (from: number, to: number) => xml.slice(map.starts[from], map.ends[to - 1]);
    const at = (word: string) => segment.text.indexOf(word);
    expect(of(at('Fish'), at('Fish') + 4)).toBe('Fish');
    expect(of(at('&'), at('&') + 1)).toBe('&amp;');
    expect(of(at('World'), at('Web') + 3)).toBe('WWW');
    expect(of(at('a b'), at('a b') + 3)).toBe('ab');
    expect(of(at('x<y'), at('x<y') + 3)).toBe('x<y');
  });
});

describe('markdownTimingsToSource', () => {
  /** Spoken-text words as the timing estimators give them: offsets into `spokenText`. */
  function spokenWords(spokenText: string) {
    return [...spokenText.matchAll(/[\p{L}\p{N}]+/gu)].map((m) => ({
      text: m[0],
      start_ms: 0,
      end_ms: 0,
      text_start: m.index,
      text_end: m.index + m[0].length,
    }));
  }

  it('should map the words of a markdown reply into the markdown as sent, markup and URLs skipped', () => {
    const md =
      '## Your   options\n\nHere are **two** ways, see [the docs](https://example.com/x) 😀:\n\n' +
      '1. Turn it *off*.\n2. Run `reset`.\n\n```sh\nrm -rf /\n```\n\nDone.';
    const { spokenText } = prepareText(md, 'markdown');
    const words = markdownTimingsToSource(md)(spokenWords(spokenText));
    const seen = words.map((w) => [w.text, md.slice(w.text_start, w.text_end)]);
    expect(seen).toEqual([
      ...[
        ['Your', 'Your'],
        ['options', 'options'],
        ['Here', 'Here'],
        ['are', 'are'],
        ['two', 'two'],
      ],
      ...[
        ['ways', 'ways'],
        ['see', 'see'],
        ['the', 'the'],
        ['docs', 'docs'],
        ['Turn', 'Turn'],
      ],
      ...[
        ['it', 'it'],
        ['off', 'off'],
        ['Run', 'Run'],
        ['reset', 'reset'],
      ],
      // The note said instead of the code block is not in the markdown: empty, after what came before.
      ...[
        ['code', ''],
        ['omitted', ''],
        ['Done', 'Done'],
      ],
    ]);
    const note = words.find((w) => w.text === 'code')!;
    expect(note.text_start).toBeGreaterThan(md.indexOf('`reset`'));
    expect(note.text_start).toBeLessThan(md.indexOf('Done'));
    for (let i = 1; i < words.length; i++)
      expect(words[i].text_start).toBeGreaterThanOrEqual(words[i - 1].text_end);
  });
});
