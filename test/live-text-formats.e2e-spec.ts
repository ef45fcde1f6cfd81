import { markdownToSpeech } from '../src/text/markdown';
import { decodeAudio } from './support/audio-check';
import { startApp, type RunningApp } from './support/app';
import { LiveClient, pieces, tokens, type LiveFrame } from './support/live-client';

/** The tone generator's own rate: pcm16 bytes map to milliseconds exactly. */
const RATE = 24000;
const pcmMs = (bytes: number) => (bytes / 2 / RATE) * 1000;

function liveUrl(gw: RunningApp, query: Record<string, string> = {}): string {
  const params = new URLSearchParams({ provider: 'mock_tone', target_format: 'pcm16', ...query }).toString();
  return `${gw.baseUrl.replace(/^http/, 'ws')}/v1/tts/live?${params}`;
}

/** Opens context `id` with `settings`, sends `text` in 1–3 character pieces `paceMs` apart, then `end`. */
async function stream(
  client: LiveClient,
  id: string,
  text: string,
  settings: Record<string, unknown>,
  paceMs = 2,
): Promise<void> {
  client.send({ type: 'start', context_id: id, ...settings });
  await client.feed(id, pieces(text), paceMs);
  client.send({ type: 'end', context_id: id });
}

/** The context's last frame: its eos, or the error that ended it. */
function ended(client: LiveClient, id: string, timeoutMs = 15000): Promise<LiveFrame> {
  return client.waitFor((m) => (m.type === 'eos' || m.type === 'error') && m.context_id === id, timeoutMs);
}

/** Longest run of samples at exactly zero (the tone generator's and the renderer's silence), in ms. */
function longestSilenceMs(samples: Int16Array): number {
  let best = 0;
  let run = 0;
  for (const s of samples) {
    run = s === 0 ? run + 1 : 0;
    if (run > best) best = run;
  }
  return (best * 1000) / RATE;
}

const MARKDOWN = `# Plan for today

Here is **the plan** for _today_, step by step. See [the docs](https://example.com/docs) 🎉

- First, \`install\` it.
- Then run it, and **check** the output.

\`\`\`js
const answer = 42;
console.log(answer);
\`\`\`

| Step | Time |
|---|---|
| Install | 1 min |

Done!`;

/** The timings' words of context `id`, in order, with their `source`. */
function timedWords(client: LiveClient, id: string): any[] {
  return client
    .messages((m) => m.type === 'timings' && m.context_id === id)
    .flatMap((m) => m.words.map((w: any) => ({ ...w, source: m.source })));
}

/**
 * Every word's span in `sent`, as the contract says: `sent.slice(text_start, text_end)` is the word as the
 * client wrote it (`writtenAs` for the words the client wrote otherwise, '' for words the gateway inserted),
 * in order; a word sharing its span with the word before (a `sub` alias) has the same span.
 */
function expectWordsInSent(
  sent: string,
  words: readonly any[],
  writtenAs: (word: string) => string = (word) => word,
): void {
  expect(words.length).toBeGreaterThan(0);
  let previous = { text_start: 0, text_end: 0 };
  for (const w of words) {
    expect({ word: w.text, sent: sent.slice(w.text_start, w.text_end) }).toEqual({
      word: w.text,
      sent: writtenAs(w.text),
    });
    const shared = w.text_start === previous.text_start && w.text_end === previous.text_end;
    if (!shared) expect(w.text_start).toBeGreaterThanOrEqual(previous.text_end);
    previous = w;
  }
}

describe('WS /v1/tts/live: text_format markdown and ssml', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    // A long idle gap: what is spoken when is decided by the text, not by a slow test machine.
    gw = await startApp({ PROVIDERS: 'mock_tone,espeak', LIVE_IDLE_GAP_MS: '1500' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should speak markdown streamed in small pieces without its markup: words and audio as the plain text’s, code not read', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { timings: 'words' }));
    const longerCode = MARKDOWN.replace(
      'console.log(answer);',
      Array.from({ length: 40 }, (_, i) => `console.log(answer + ${i}); // a long line of code`).join('\n'),
    );
    await Promise.all([
      stream(client, 'md', MARKDOWN, { text_format: 'markdown' }),
      stream(client, 'long-code', longerCode, { text_format: 'markdown' }),
      stream(client, 'plain', markdownToSpeech(MARKDOWN).text, {}),
    ]);
    const eos: Record<string, any> = {};
    for (const id of ['md', 'long-code', 'plain']) {
      const frame = await ended(client, id);
      expect(frame.message.type).toBe('eos');
      eos[id] = frame.message;
    }
    const words = (id: string) =>
      client
        .messages((m) => m.type === 'timings' && m.context_id === id)
        .flatMap((m) => m.words)
        .map((w: any) => ({ text: w.text, start_ms: w.start_ms, end_ms: w.end_ms }));
    const spoken = words('md');
    expect(spoken.map((w) => w.text)).toEqual([
      ...['Plan', 'for', 'today', 'Here', 'is', 'the', 'plan', 'for', 'today', 'step', 'by', 'step'],
      ...['See', 'the', 'docs', 'First', 'install', 'it', 'Then', 'run', 'it', 'and', 'check', 'the'],
      ...['output', 'code', 'omitted', 'Step', 'Time', 'Install', '1', 'min', 'Done'],
    ]);
    // Word for word and millisecond for millisecond what the same text sent plain gives.
    expect(spoken).toEqual(words('plain'));
    expect(eos.md.audio_duration_ms).toBe(eos.plain.audio_duration_ms);
    // The tone generator's audio grows with every character spoken: forty more lines of code, not a sample more.
    expect(eos['long-code'].bytes).toBe(eos.md.bytes);
    const decoded = await decodeAudio(client.audio('md').bytes, 'pcm16', RATE);
    expect(decoded.errors).toBe('');
    expect(Math.abs(decoded.duration * 1000 - eos.md.audio_duration_ms)).toBeLessThan(2);
    client.close();
  });

  it('should give markdown words offsets into the markdown as sent, pieces cut inside links and emphasis (mock_tone native, espeak estimated)', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { timings: 'words' }));
    const link = MARKDOWN.indexOf('[the docs]');
    const linkEnd = MARKDOWN.indexOf(')', link) + 1;
    const bold = MARKDOWN.indexOf('**the plan**');
    // Model-like tokens, and 1–3 character pieces: both cut inside the link, its URL and the emphasis.
    const cuts = { tokens: tokens(MARKDOWN), pieces: pieces(MARKDOWN) };
    for (const parts of Object.values(cuts)) {
      expect(parts.join('')).toBe(MARKDOWN);
      const ends = parts.map((_, i) => parts.slice(0, i + 1).join('').length);
      expect(ends.some((end) => end > link && end < linkEnd - 1)).toBe(true);
      expect(ends.some((end) => end > bold && end < bold + 12)).toBe(true);
    }
    const contexts = [
      { id: 'tone-tokens', parts: cuts.tokens, provider: 'mock_tone', source: 'native' },
      { id: 'tone-pieces', parts: cuts.pieces, provider: 'mock_tone', source: 'native' },
      { id: 'espeak-tokens', parts: cuts.tokens, provider: 'espeak', source: 'estimated' },
    ];
    await Promise.all(
      contexts.map(async ({ id, parts, provider }) => {
        client.send({ type: 'start', context_id: id, text_format: 'markdown', provider });
        await client.feed(id, parts, 3);
        client.send({ type: 'end', context_id: id });
      }),
    );
    const url = { start: MARKDOWN.indexOf('https://'), end: linkEnd };
    for (const { id, source } of contexts) {
      expect((await ended(client, id, 30000)).message.type).toBe('eos');
      const words = timedWords(client, id);
      expect(words.map((w) => w.text)).toEqual([
        ...['Plan', 'for', 'today', 'Here', 'is', 'the', 'plan', 'for', 'today', 'step', 'by', 'step'],
        ...['See', 'the', 'docs', 'First', 'install', 'it', 'Then', 'run', 'it', 'and', 'check', 'the'],
        ...['output', 'code', 'omitted', 'Step', 'Time', 'Install', '1', 'min', 'Done'],
      ]);
      expect(new Set(words.map((w) => w.source))).toEqual(new Set([source]));
      // The code note is the gateway's: an empty span, between the list before the fence and the table.
      expectWordsInSent(MARKDOWN, words, (word) => (word === 'code' || word === 'omitted' ? '' : word));
      const note = words.find((w) => w.text === 'code');
      expect(note.text_start).toBeGreaterThan(MARKDOWN.indexOf('output'));
      expect(note.text_start).toBeLessThan(MARKDOWN.indexOf('| Step'));
      for (const w of words) {
        const span = MARKDOWN.slice(w.text_start, w.text_end);
        expect(span).not.toMatch(/[*_`[\]()#|]/u);
        expect(w.text_end <= url.start || w.text_start >= url.end).toBe(true);
      }
    }
    client.close();
  });

  it('should send the first audio of a long markdown paragraph before the paragraph is complete', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    const paragraph =
      'Thanks for waiting, I have **good news** about your order today. ' +
      'It shipped this morning from [our warehouse](https://shop.example.com/warehouse) and is on its way. ' +
      'The courier expects to deliver it on _Thursday_ before noon. ' +
      'You will get a text message with a tracking link once it is out for delivery. ' +
      'If nobody is home, the parcel goes to the pickup point around the corner.';
    client.send({ type: 'start', context_id: 'p', text_format: 'markdown' });
    const parts = tokens(paragraph);
    const feeding = client.feed('p', parts, 20);
    const first = await client.waitFor((m) => m.type === 'audio' && m.context_id === 'p');
    const sent = await feeding;
    expect(first.at).toBeLessThan(sent.at(-1)!);
    // The first sentence is out once the word after it has come (its period ends a sentence mid-line).
    const firstSentenceDone = sent[parts.findIndex((t) => t.includes('.')) + 1];
    expect(first.at - firstSentenceDone).toBeLessThan(1000);
    client.send({ type: 'end', context_id: 'p' });
    expect((await ended(client, 'p')).message.type).toBe('eos');
    client.close();
  });

  it('should render an SSML break as about that much more audio, and prosody rate as slower speech', async () => {
    const client = await LiveClient.connect(
      liveUrl(gw, { target_format: 'wav', sample_rate_hz: String(RATE) }),
    );
    await Promise.all([
      stream(client, 'break', '<speak>One two three<break time="500ms"/> four five six.</speak>', {
        text_format: 'ssml',
      }),
      stream(client, 'none', '<speak>One two three four five six.</speak>', { text_format: 'ssml' }),
      stream(client, 'slow', '<speak><prosody rate="50%">One two three four five six.</prosody></speak>', {
        text_format: 'ssml',
      }),
    ]);
    const audio: Record<string, Awaited<ReturnType<typeof decodeAudio>>> = {};
    for (const id of ['break', 'none', 'slow']) {
      expect((await ended(client, id)).message.type).toBe('eos');
      audio[id] = await decodeAudio(client.audio(id).bytes, 'wav', RATE);
      expect(audio[id]).toMatchObject({ errors: '', codec: 'pcm_s16le', sampleRate: RATE });
    }
    const longer = (audio.break.duration - audio.none.duration) * 1000;
    // 500 ms of silence, less the 50 ms space it replaces.
    expect(longer).toBeGreaterThan(400);
    expect(longer).toBeLessThan(600);
    expect(longestSilenceMs(audio.break.samples)).toBeGreaterThanOrEqual(500);
    expect(longestSilenceMs(audio.break.samples)).toBeLessThan(560);
    expect(longestSilenceMs(audio.none.samples)).toBeLessThan(200);
    expect(audio.slow.duration / audio.none.duration).toBeCloseTo(2, 1);
    client.close();
  });

  it('should send a mark frame at its time, after the audio before it and before the audio after it', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { timings: 'words' }));
    const ssml =
      '<speak><p>Hello there, my friend.</p><p><mark name="question"/>How are you today?</p>' +
      '<mark name="end"/></speak>';
    await stream(client, 'm', ssml, { text_format: 'ssml' });
    const eos = await ended(client, 'm');
    expect(eos.message.type).toBe('eos');
    const frames = client.frames.filter((f) => f.message?.context_id === 'm');
    const marks = frames.filter((f) => f.message.type === 'mark').map((f) => f.message);
    expect(marks.map((m) => m.name)).toEqual(['question', 'end']);
    for (const mark of marks) {
      const index = frames.findIndex((f) => f.message === mark);
      const before = frames
        .slice(0, index)
        .filter((f) => f.message.type === 'audio')
        .reduce((n, f) => n + Buffer.from(f.message.data, 'base64').length, 0);
      // start_ms is the audio sent before the mark, on the context's timeline.
      expect(Math.abs(pcmMs(before) - mark.start_ms)).toBeLessThanOrEqual(1);
    }
    const [question, end] = marks;
    expect(question.start_ms).toBeGreaterThan(1000);
    expect(end.start_ms).toBeCloseTo(eos.message.audio_duration_ms, -1);
    // The words: plain, in order, the second paragraph's after its mark.
    const words = client
      .messages((m) => m.type === 'timings' && m.context_id === 'm')
      .flatMap((m) => m.words);
    expect(words.map((w: any) => w.text)).toEqual([
      'Hello',
      'there',
      'my',
      'friend',
      'How',
      'are',
      'you',
      'today',
    ]);
    expect(words.find((w: any) => w.text === 'How').start_ms).toBeGreaterThanOrEqual(question.start_ms);
    expect(words.find((w: any) => w.text === 'friend').end_ms).toBeLessThanOrEqual(question.start_ms);
    for (const w of words) expect(w.text_end - w.text_start).toBe(w.text.length);
    client.close();
  });

  it('should give SSML words offsets into the SSML as sent, a sub alias spanning its content, pieces cut inside tags', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { timings: 'words' }));
    const ssml =
      '<speak><p>Hello <emphasis level="strong">world</emphasis>, visit the <sub alias="World Wide Web">WWW</sub> ' +
      'today.</p><p><prosody rate="slow">Call <say-as interpret-as="characters">AB</say-as> &amp; ' +
      'then <mark name="m"/>rest.</prosody></p></speak>';
    // Cut inside a start tag, an attribute, the sub and the say-as.
    const explicit = [
      '<speak><p>Hello <emph',
      'asis level="str',
      'ong">wor',
      'ld</emphasis>, visit the <sub al',
      'ias="World Wide Web">WW',
      'W</sub> today.</p><p><prosody rate="slow">Call <say-as interpret-as="characters">A',
      'B</say-as> &am',
      'p; then <mark name="m"/>rest.</prosody></p></speak>',
    ];
    expect(explicit.join('')).toBe(ssml);
    const contexts = [
      { id: 'tone-explicit', parts: explicit, provider: 'mock_tone' },
      { id: 'tone-pieces', parts: pieces(ssml), provider: 'mock_tone' },
      { id: 'espeak-pieces', parts: pieces(ssml, 3, 2), provider: 'espeak' },
    ];
    await Promise.all(
      contexts.map(async ({ id, parts, provider }) => {
        client.send({ type: 'start', context_id: id, text_format: 'ssml', provider });
        await client.feed(id, parts, 3);
        client.send({ type: 'end', context_id: id });
      }),
    );
    const writtenAs = (word: string) =>
      ['World', 'Wide', 'Web'].includes(word) ? 'WWW' : ['A', 'B'].includes(word) ? 'AB' : word;
    for (const { id } of contexts) {
      expect((await ended(client, id, 30000)).message.type).toBe('eos');
      const words = timedWords(client, id);
      expect(words.map((w) => w.text)).toEqual(
        expect.arrayContaining(['Hello', 'world', 'visit', 'World', 'Wide', 'Web', 'today', 'Call', 'rest']),
      );
      expectWordsInSent(ssml, words, writtenAs);
      for (const w of words) expect(ssml.slice(w.text_start, w.text_end)).not.toMatch(/[<>"=]/u);
      expect(client.messages((m) => m.type === 'mark' && m.context_id === id)).toHaveLength(1);
    }
    client.close();
  });

  it('should end a context on invalid SSML with validation_failed naming it, and keep the socket for others', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    await stream(client, 'bad', '<speak>Hello <emphasis>world</prosody> again.</speak>', {
      text_format: 'ssml',
    });
    const bad = await ended(client, 'bad');
    expect(bad.message).toMatchObject({ type: 'error', context_id: 'bad', code: 'validation_failed' });
    expect(bad.message.message).toMatch(/invalid SSML .* at character 28 .*<\/prosody> where <\/emphasis>/);

    await stream(client, 'open', '<prosody rate="slow">Never closed.', { text_format: 'ssml' });
    const open = await ended(client, 'open');
    expect(open.message).toMatchObject({ type: 'error', code: 'validation_failed' });
    expect(open.message.message).toMatch(/<prosody> is not closed/);

    await stream(
      client,
      'warned',
      'Fine. <unknown>Kept text</unknown> <voice name="nobody">and a voice nobody has.</voice>',
      { text_format: 'ssml' },
    );
    expect((await ended(client, 'warned')).message.type).toBe('eos');
    const warnings = client.messages((m) => m.type === 'warning' && m.context_id === 'warned');
    expect(warnings).toEqual([
      expect.objectContaining({ code: 'validation_failed', message: 'SSML ignored: unknown' }),
      expect.objectContaining({
        message: expect.stringMatching(/voice "nobody" is not a voice of provider "mock_tone"/),
      }),
    ]);
    expect(client.audio('warned').bytes.length).toBeGreaterThan(0);
    expect(client.closeCode).toBeUndefined();
    client.close();
  });

  it('should refuse an SSML element that never closes, saying what the held text waits for', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    client.send({ type: 'start', context_id: 'h', text_format: 'ssml' });
    client.send({
      type: 'text',
      context_id: 'h',
      text: 'This is spoken first. <say-as interpret-as="characters">',
    });
    // Past LIVE_MAX_CONTEXT_TEXT_BYTES (20000 by default) inside the say-as, which cannot be cut.
    for (let i = 0; i < 50; i++)
      client.send({ type: 'text', context_id: 'h', text: 'abcdefghij'.repeat(50) });
    const error = await ended(client, 'h');
    expect(error.message).toMatchObject({ type: 'error', code: 'payload_too_large' });
    expect(error.message.message).toMatch(
      /LIVE_MAX_CONTEXT_TEXT_BYTES.*held until <\/say-as> \(opened at character 22\)/,
    );
    // What came before the say-as was spoken.
    expect(client.audio('h').bytes.length).toBeGreaterThan(0);
    client.close();
  });

  it('should end an SSML element left open at close with that context’s error, then close 1000', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    client.send({ type: 'start', context_id: 'left', text_format: 'ssml' });
    await client.feed('left', pieces('<speak>Spoken. <emphasis>Still open'), 2);
    client.send({ type: 'close' });
    expect(await client.closed).toBe(1000);
    expect(client.messages((m) => m.type === 'error')).toEqual([
      expect.objectContaining({
        context_id: 'left',
        code: 'validation_failed',
        message: expect.stringMatching(/<emphasis> is not closed/),
      }),
    ]);
  });

  it('should speak SSML and markdown over espeak into one valid MP3 stream per context', async () => {
    const client = await LiveClient.connect(
      liveUrl(gw, { provider: 'espeak', target_format: 'mp3', sample_rate_hz: '24000' }),
    );
    const ssml =
      '<speak><prosody rate="fast">This part is quick.</prosody><break time="400ms"/>' +
      '<mark name="here"/><prosody volume="soft" pitch="+10%">And this part is soft.</prosody></speak>';
    await Promise.all([
      stream(client, 'ssml', ssml, { text_format: 'ssml' }),
      stream(client, 'md', '## Status\n\n**All good** — see [the log](https://x.org/log). Done.', {
        text_format: 'markdown',
      }),
    ]);
    for (const id of ['ssml', 'md']) {
      const eos = await ended(client, id);
      expect(eos.message.type).toBe('eos');
      const decoded = await decodeAudio(client.audio(id).bytes, 'mp3', 24000);
      expect(decoded).toMatchObject({ errors: '', codec: 'mp3', sampleRate: 24000 });
      expect(decoded.duration).toBeGreaterThan(1);
    }
    expect(client.messages((m) => m.type === 'mark' && m.context_id === 'ssml')).toEqual([
      expect.objectContaining({ name: 'here', start_ms: expect.any(Number) }),
    ]);
    client.close();
  });

  it('should speak held SSML on flush when it can be cut, and answer flushed after its audio', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    client.send({ type: 'start', context_id: 'f', text_format: 'ssml' });
    await client.feed('f', pieces('<speak><prosody rate="fast">Let me look that up for'), 2);
    client.send({ type: 'flush', context_id: 'f' });
    const flushed = await client.waitFor((m) => m.type === 'flushed' && m.context_id === 'f');
    const before = client.audio('f');
    expect(before.bytes.length).toBeGreaterThan(0);
    expect(before.lastAt!).toBeLessThanOrEqual(flushed.at);
    await client.feed('f', pieces(' you.</prosody></speak>'), 2);
    client.send({ type: 'end', context_id: 'f' });
    expect((await ended(client, 'f')).message.type).toBe('eos');
    expect(client.audio('f').bytes.length).toBeGreaterThan(before.bytes.length);
    client.close();
  });
});

describe('WS /v1/tts/live: text formats and limits', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({
      PROVIDERS: 'mock_tone',
      LIVE_CHARS_PER_MINUTE: '120',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should count the characters the client sent, markup included, against LIVE_CHARS_PER_MINUTE', async () => {
    const client = await LiveClient.connect(liveUrl(gw));
    // 43 characters are spoken, 127 sent.
    const ssml =
      '<speak><prosody rate="medium" volume="medium"><emphasis>Hello there.</emphasis> How are you today, my friend?</prosody></speak>';
    await stream(client, 's', ssml, { text_format: 'ssml' }, 0);
    const error = await ended(client, 's');
    expect(error.message).toMatchObject({ type: 'error', code: 'rate_limited' });
    client.close();
  });
});
