import { markdownToSpeech } from '../src/text/markdown';
import { decodeAudio } from './support/audio-check';
import { createSession, getJson, postJson, startApp, type RunningApp } from './support/app';
import { FaultEngine } from './support/fault-engine';
import { collectStream } from './support/ws-stream';

/** Longest run of samples whose magnitude stays at or below `threshold`, in ms. */
function longestQuietMs(samples: Int16Array, rate: number, threshold = 0): number {
  let best = 0;
  let run = 0;
  for (const s of samples) {
    run = Math.abs(s) <= threshold ? run + 1 : 0;
    if (run > best) best = run;
  }
  return (best * 1000) / rate;
}

/** Zero crossings per second over the non-silent samples: a pitch proxy for the tone generator. */
function crossingsPerSecond(samples: Int16Array, rate: number): number {
  let crossings = 0;
  let voiced = 0;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i] === 0 && samples[i - 1] === 0) continue;
    voiced++;
    if (samples[i - 1] < 0 !== samples[i] < 0) crossings++;
  }
  return (crossings * rate) / Math.max(1, voiced);
}

async function audioOf(gw: RunningApp, body: Record<string, unknown>, rate = 16000) {
  const session = await createSession(gw.baseUrl, { target_format: 'pcm16', sample_rate_hz: rate, ...body });
  const stream = await collectStream(session.ws_url);
  expect(stream.closeCode).toBe(1000);
  return { session, stream, decoded: await decodeAudio(stream.bytes, 'pcm16', rate) };
}

describe('text_format: ssml and markdown, rendered for every engine', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ PROVIDERS: 'mock_tone,espeak', DEFAULT_PROVIDER: 'mock_tone' });
  });

  afterAll(async () => {
    await gw.close();
  });

  it.each(['mock_tone', 'espeak'])(
    'should render an SSML break as that much silence (%s)',
    async (provider) => {
      const voice = provider === 'espeak' ? 'en-us' : 'en-US-mock-1';
      const plain = await audioOf(gw, { provider, voice, text: 'Hello there. Goodbye now.' });
      const ssml = await audioOf(gw, {
        provider,
        voice,
        text_format: 'ssml',
        text: '<speak>Hello there.<break time="700ms"/>Goodbye now.</speak>',
      });
      // Exact zeros for the tone generator; for speech, quiet below -40 dBFS.
      const threshold = provider === 'espeak' ? 328 : 0;
      const gap = longestQuietMs(ssml.decoded.samples, 16000, threshold);
      expect(gap).toBeGreaterThanOrEqual(700);
      expect(gap).toBeLessThan(700 + 120);
      expect(longestQuietMs(plain.decoded.samples, 16000, threshold)).toBeLessThan(gap - 300);
    },
  );

  it('should apply prosody rate through the engine speed (mock_tone: exactly twice as long at 50%)', async () => {
    const normal = await audioOf(gw, { text_format: 'ssml', text: '<speak>Slowly now</speak>' });
    const slow = await audioOf(gw, {
      text_format: 'ssml',
      text: '<speak><prosody rate="50%">Slowly now</prosody></speak>',
    });
    expect(slow.decoded.duration / normal.decoded.duration).toBeCloseTo(2, 1);
    const espeakNormal = await audioOf(gw, {
      provider: 'espeak',
      voice: 'en-us',
      text_format: 'ssml',
      text: '<speak>A sentence at the normal rate of speech.</speak>',
    });
    const espeakFast = await audioOf(gw, {
      provider: 'espeak',
      voice: 'en-us',
      text_format: 'ssml',
      text: '<speak><prosody rate="200%">A sentence at the normal rate of speech.</prosody></speak>',
    });
    expect(espeakFast.decoded.duration).toBeLessThan(espeakNormal.decoded.duration * 0.7);
  });

  it('should speak sub aliases and say-as expansions instead of the written form', async () => {
    const sub = await audioOf(gw, {
      text_format: 'ssml',
      text: '<speak><sub alias="World Wide Web">WWW</sub></speak>',
    });
    const spoken = await audioOf(gw, { text: 'World Wide Web' });
    expect(sub.decoded.duration).toBeCloseTo(spoken.decoded.duration, 2);
    const chars = await audioOf(gw, {
      text_format: 'ssml',
      text: '<speak><say-as interpret-as="characters">abc</say-as></speak>',
    });
    const word = await audioOf(gw, { text: 'abc' });
    expect(chars.decoded.duration).toBeGreaterThan(word.decoded.duration + 0.05);
  });

  it('should switch voices per <voice> segment', async () => {
    const { decoded } = await audioOf(gw, {
      text_format: 'ssml',
      text: '<speak>aaaa<break time="300ms"/><voice name="en-GB-mock-1">aaaa</voice></speak>',
    });
    const half = Math.floor(decoded.samples.length / 2);
    const first = crossingsPerSecond(decoded.samples.subarray(0, half), 16000);
    const second = crossingsPerSecond(decoded.samples.subarray(half), 16000);
    // en-GB-mock-1 sits an octave below en-US-mock-1.
    expect(second).toBeLessThan(first * 0.7);
  });

  it('should report marks on the stream, before the audio they precede, at their time', async () => {
    const session = await createSession(gw.baseUrl, {
      text_format: 'ssml',
      target_format: 'pcm16',
      sample_rate_hz: 24000,
      text: '<speak><mark name="start"/>Hello <mark name="middle"/>world<mark name="end"/></speak>',
    });
    const seen: Array<{ name: string; start_ms: number; bytesBefore: number }> = [];
    let bytes = 0;
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.type === 'audio') bytes += Buffer.from(message.data, 'base64').length;
        if (message.type === 'mark')
          seen.push({ name: message.name, start_ms: message.start_ms, bytesBefore: bytes });
      },
    });
    expect(seen.map((m) => m.name)).toEqual(['start', 'middle', 'end']);
    expect(seen[0].start_ms).toBe(0);
    expect(seen[1].start_ms).toBeGreaterThan(100);
    expect(seen[2].start_ms).toBeGreaterThan(seen[1].start_ms);
    const totalMs = (stream.bytes.length / 2 / 24000) * 1000;
    expect(seen[2].start_ms).toBeLessThanOrEqual(totalMs + 1);
    // Each mark arrived right where its time says: the audio before it is that long.
    for (const mark of seen)
      expect(Math.abs((mark.bytesBefore / 2 / 24000) * 1000 - mark.start_ms)).toBeLessThan(25);
  });

  it('should refuse invalid SSML with 400 naming line and column, and list unknown tags in warnings', async () => {
    const bad = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text_format: 'ssml',
      target_format: 'pcm16',
      text: '<speak>\n  <prosody rate="50%">never closed\n</speak>',
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 'validation_failed', field: 'text' });
    expect(bad.json.message).toMatch(/line \d+, column \d+/);
    const odd = await postJson(gw.baseUrl, '/v1/tts/sessions', {
      text_format: 'ssml',
      target_format: 'pcm16',
      text: '<speak><audio src="x.mp3">Beep</audio> and <foo>bar</foo></speak>',
    });
    expect(odd.status).toBe(201);
    expect(odd.json.warnings.join(' ')).toMatch(/audio/);
    expect(odd.json.warnings.join(' ')).toMatch(/foo/);
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${odd.json.session_id}`)).json.text_format).toBe(
      'ssml',
    );
  });

  it('should not read markdown formatting, links, code or emoji aloud', async () => {
    const reply = [
      '## Your options',
      '',
      'Here are **two** ways, see [the docs](https://example.com/very/long/path?x=1) 😀:',
      '',
      '1. Turn it *off* and on.',
      '2. Run `reset` from the shell:',
      '',
      '```bash',
      'sudo systemctl restart everything --now',
      '```',
      '',
      '| Plan | Price |',
      '|------|-------|',
      '| Pro  | $10   |',
    ].join('\n');
    const md = await audioOf(gw, { text_format: 'markdown', text: reply });
    const expected = await audioOf(gw, { text: markdownToSpeech(reply).text });
    expect(md.stream.bytes.equals(expected.stream.bytes)).toBe(true);
    const raw = await audioOf(gw, { text: reply });
    expect(md.decoded.duration).toBeLessThan(raw.decoded.duration * 0.75);
  });

  it('should take text_format on /v1/audio/speech too', async () => {
    const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'mock_tone',
        voice: 'alloy',
        response_format: 'pcm',
        text_format: 'ssml',
        input: '<speak>Hi<break time="1s"/>there</speak>',
      }),
    });
    expect(res.status).toBe(200);
    const decoded = await decodeAudio(Buffer.from(await res.arrayBuffer()), 'pcm16', 24000);
    expect(longestQuietMs(decoded.samples, 24000)).toBeGreaterThanOrEqual(1000);
  });
});

describe('text_format ssml over an OpenAI-compatible engine (in-test fake server)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;
  const RATE = 24000;
  const SSML =
    '<speak>Hello there.<break time="700ms"/><prosody rate="50%">Slowly now.</prosody> ' +
    'Visit <sub alias="World Wide Web">WWW</sub> and spell <say-as interpret-as="characters">abc</say-as>.' +
    '<mark name="tail"/> Goodbye.</speak>';

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    gw = await startApp({
      PROVIDERS: 'mock_tone,openai',
      DEFAULT_PROVIDER: 'openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  /** What the fake was asked to say since `from`, with the speed it was asked for. */
  const asked = (from: number) =>
    engine.requests.slice(from).map((r) => ({ input: r.input.trim(), speed: r.speed }));

  const expectedRequests = [
    { input: 'Hello there.', speed: 1 },
    { input: 'Slowly now.', speed: 0.5 },
    { input: 'Visit World Wide Web and spell a b c.', speed: 1 },
    { input: 'Goodbye.', speed: 1 },
  ];

  it('should send the engine the spoken text (sub and say-as expanded, no tags) at the prosody rate, breaks as silence, marks on the stream', async () => {
    const from = engine.requests.length;
    const session = await createSession(gw.baseUrl, {
      text_format: 'ssml',
      text: SSML,
      target_format: 'pcm16',
      sample_rate_hz: RATE,
    });
    let bytes = 0;
    const marks: Array<{ name: string; start_ms: number; bytesBefore: number }> = [];
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.type === 'audio') bytes += Buffer.from(message.data, 'base64').length;
        if (message.type === 'mark')
          marks.push({ name: message.name, start_ms: message.start_ms, bytesBefore: bytes });
      },
    });
    expect(stream.closeCode).toBe(1000);
    expect(stream.eos).toBeDefined();
    expect(asked(from)).toEqual(expectedRequests);
    for (const r of engine.requests.slice(from)) expect(r.input).not.toMatch(/[<>]|WWW|abc/);

    const decoded = await decodeAudio(stream.bytes, 'pcm16', RATE);
    expect(decoded.errors).toBe('');
    // The fake's sweep has no run of zeros: the only long silence is the break, rendered exactly.
    const gap = longestQuietMs(decoded.samples, RATE);
    expect(gap).toBeGreaterThanOrEqual(700);
    expect(gap).toBeLessThan(720);

    expect(marks.map((m) => m.name)).toEqual(['tail']);
    // The mark sits after the audio of "… a b c." and before "Goodbye."'s: at the bytes sent before it.
    expect(Math.abs((marks[0].bytesBefore / 2 / RATE) * 1000 - marks[0].start_ms)).toBeLessThan(25);
    // The fake makes 40 ms per character (at least 200 ms): "Goodbye." is the 320 ms after the mark.
    expect(decoded.duration * 1000 - marks[0].start_ms).toBeGreaterThan(250);
    expect(decoded.duration * 1000 - marks[0].start_ms).toBeLessThan(400);
  });

  it('should do the same through /v1/audio/speech with text_format', async () => {
    const from = engine.requests.length;
    const res = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai',
        voice: 'af_bella',
        response_format: 'pcm',
        text_format: 'ssml',
        input: SSML,
      }),
    });
    expect(res.status).toBe(200);
    const decoded = await decodeAudio(Buffer.from(await res.arrayBuffer()), 'pcm16', RATE);
    expect(decoded.errors).toBe('');
    expect(asked(from)).toEqual(expectedRequests);
    const gap = longestQuietMs(decoded.samples, RATE);
    expect(gap).toBeGreaterThanOrEqual(700);
    expect(gap).toBeLessThan(720);
  });

  /**
   * Word timings of an SSML session, straight from the synthesis (TtsService) with the plan the session
   * stream runs under `?timings=words`.
   */
  async function timedSsml(provider: string, text: string) {
    const session = await createSession(gw.baseUrl, {
      provider,
      ...(provider === 'openai' ? { voice: 'af_bella' } : {}),
      text_format: 'ssml',
      text,
      target_format: 'pcm16',
      sample_rate_hz: RATE,
    });
    const words: Array<{
      text: string;
      start_ms: number;
      end_ms: number;
      text_start: number;
      text_end: number;
      announcedAtMs: number;
    }> = [];
    const sources = new Set<string>();
    const marks: Array<{ name: string; startMs: number }> = [];
    let bytes = 0;
    // Through the session's own socket, as a client asks for them; each message placed on the audio timeline.
    const stream = await collectStream(`${session.ws_url}?timings=words`, {
      onMessage: (_ws, message) => {
        const at = (bytes / 2 / RATE) * 1000;
        if (message.type === 'audio') bytes += Buffer.from(message.data, 'base64').length;
        if (message.type === 'timings') {
          sources.add(message.source);
          for (const w of message.words) words.push({ ...w, announcedAtMs: at });
        }
        if (message.type === 'mark') marks.push({ name: message.name, startMs: message.start_ms });
      },
    });
    expect(stream.closeCode).toBe(1000);
    const totalMs = (bytes / 2 / RATE) * 1000;
    return { words, sources: [...sources], marks, totalMs };
  }

  const TIMED =
    '<speak>Hello there, <sub alias="World Wide Web">WWW</sub>.<break time="500ms"/>' +
    '<mark name="spell"/>Spell <say-as interpret-as="characters">ab</say-as> &amp; go.</speak>';

  it.each(['mock_tone', 'openai'])(
    'should give SSML word timings (%s): spoken words, offsets into the SSML as sent, on the timeline of marks and breaks',
    async (provider) => {
      const { words, sources, marks, totalMs } = await timedSsml(provider, TIMED);
      expect(sources).toEqual([provider === 'mock_tone' ? 'native' : 'estimated']);
      expect(words.map((w) => w.text)).toEqual([
        'Hello',
        'there',
        'World',
        'Wide',
        'Web',
        'Spell',
        'a',
        'b',
        'go',
      ]);
      // Offsets into what the client sent: a substituted word spans what it stands for.
      expect(words.map((w) => TIMED.slice(w.text_start, w.text_end))).toEqual([
        ...['Hello', 'there', 'WWW', 'WWW', 'WWW', 'Spell', 'ab', 'ab', 'go'],
      ]);
      for (let i = 0; i < words.length; i++) {
        expect(words[i].end_ms).toBeGreaterThanOrEqual(words[i].start_ms);
        if (i > 0) expect(words[i].start_ms).toBeGreaterThanOrEqual(words[i - 1].end_ms);
        // Announced before the audio it covers.
        expect(words[i].announcedAtMs).toBeLessThanOrEqual(words[i].start_ms + 1);
        expect(words[i].end_ms).toBeLessThanOrEqual(totalMs + 1);
      }
      const spell = marks.find((m) => m.name === 'spell')!;
      const web = words.find((w) => w.text === 'Web')!;
      // The break lies between "Web" and the mark; the words after the mark start at or after it.
      expect(spell.startMs - web.end_ms).toBeGreaterThanOrEqual(500);
      expect(words.find((w) => w.text === 'Spell')!.start_ms).toBeGreaterThanOrEqual(
        Math.round(spell.startMs),
      );
      if (provider === 'mock_tone') {
        // The tone generator's plan: 70 ms a letter, 50 ms a space, 150 ms a punctuation mark.
        expect(words.slice(0, 2).map((w) => [w.start_ms, w.end_ms])).toEqual([
          [0, 350],
          [400, 750],
        ]);
        expect(words[5].start_ms).toBe(Math.round(spell.startMs));
      }
    },
  );
});

describe('The audio cache (counted at an in-test OpenAI-compatible fake)', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    engine.fallback = { kind: 'ok', paceMs: 30 };
    gw = await startApp({
      PROVIDERS: 'mock_tone,openai',
      DEFAULT_PROVIDER: 'openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      CACHE_MAX_BYTES: String(4 * 1024 * 1024),
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  const calls = (text: string) => engine.requests.filter((r) => r.input === text).length;
  const metric = async (event: string) => {
    const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    return Number(
      new RegExp(`^tts_cache_events_total\\{event="${event}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
    );
  };

  it('should synthesize a repeated prompt once and serve any format from it, indistinguishable from a fresh one', async () => {
    const text = 'Please hold, your call is important to us.';
    const first = await createSession(gw.baseUrl, { text, target_format: 'mp3' });
    const fresh = await collectStream(first.ws_url);
    const again = await createSession(gw.baseUrl, { text, target_format: 'mp3' });
    const cached = await collectStream(again.ws_url);
    expect(calls(text)).toBe(1);
    expect(cached.bytes.equals(fresh.bytes)).toBe(true);
    // Stored audio replays in pieces of up to 200 ms: fewer, larger messages, numbered 1..n as always.
    expect(cached.audio.map((a) => a.seq)).toEqual(cached.audio.map((_, i) => i + 1));
    expect(cached.audio.length).toBeLessThan(fresh.audio.length);
    expect(cached.eos).toMatchObject({ chunks: cached.audio.length, bytes: fresh.eos.bytes });
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${first.session_id}`)).json.served_from).toBe(
      'engine',
    );
    expect((await getJson(gw.baseUrl, `/v1/tts/sessions/${again.session_id}`)).json.served_from).toBe(
      'cache',
    );
    // Another format and rate, /file and /v1/audio/speech: still no engine call.
    const wav = await createSession(gw.baseUrl, { text, target_format: 'wav', sample_rate_hz: 8000 });
    expect((await decodeAudio((await collectStream(wav.ws_url)).bytes, 'wav', 8000)).errors).toBe('');
    expect((await fetch(`${gw.baseUrl}/v1/tts/sessions/${wav.session_id}/file?format=flac`)).status).toBe(
      200,
    );
    const speech = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai', voice: 'af_bella', input: text }),
    });
    await speech.arrayBuffer();
    expect(calls(text)).toBe(1);
    expect(await metric('hit')).toBeGreaterThanOrEqual(3);
  });

  it('should give a hit the very messages of a miss when the client asks for fixed framing (frame_ms)', async () => {
    const text = 'Your balance is forty two dollars and ten cents.';
    const spec = { text, target_format: 'pcm16', frame_ms: 20 };
    const fresh = await collectStream((await createSession(gw.baseUrl, spec)).ws_url);
    const cached = await collectStream((await createSession(gw.baseUrl, spec)).ws_url);
    expect(calls(text)).toBe(1);
    expect(cached.bytes.equals(fresh.bytes)).toBe(true);
    expect(cached.audio.map((a) => a.data.length)).toEqual(fresh.audio.map((a) => a.data.length));
    expect(cached.audio.map((a) => a.seq)).toEqual(fresh.audio.map((a) => a.seq));
  });

  it('should join simultaneous identical requests to one engine call (single-flight), each getting the whole audio', async () => {
    const text = 'Thank you for waiting, an agent will be with you shortly.';
    const sessions = await Promise.all(
      [1, 2, 3, 4, 5].map(() => createSession(gw.baseUrl, { text, target_format: 'pcm16' })),
    );
    const streams = await Promise.all(sessions.map((s) => collectStream(s.ws_url)));
    expect(calls(text)).toBe(1);
    for (const s of streams) expect(s.bytes.equals(streams[0].bytes)).toBe(true);
    expect(await metric('join')).toBeGreaterThanOrEqual(4);
  });

  it('should give a request that joins mid-synthesis the whole audio from the beginning', async () => {
    const text = 'A longer announcement that takes a while for the engine to render completely.';
    const first = await createSession(gw.baseUrl, { text, target_format: 'pcm16' });
    const early = collectStream(first.ws_url);
    await new Promise((r) => setTimeout(r, 250));
    const late = await collectStream(
      (await createSession(gw.baseUrl, { text, target_format: 'pcm16' })).ws_url,
    );
    const whole = await early;
    expect(calls(text)).toBe(1);
    expect(late.bytes.equals(whole.bytes)).toBe(true);
  });

  it('should call the engine again with cache: false', async () => {
    const text = 'Do not cache me.';
    await collectStream((await createSession(gw.baseUrl, { text, target_format: 'pcm16' })).ws_url);
    await collectStream(
      (await createSession(gw.baseUrl, { text, target_format: 'pcm16', cache: false })).ws_url,
    );
    expect(calls(text)).toBe(2);
  });

  it('should evict least recently used entries to stay within CACHE_MAX_BYTES', async () => {
    const before = await metric('eviction');
    engine.fallback = { kind: 'ok' }; // unpaced: only the sizes matter here
    // ~1.9 MB of PCM each at 40 ms per character: three of them do not fit in 4 MiB.
    for (const n of [1, 2, 3]) {
      const text = `${'Filler words to make a long entry. '.repeat(35)}${n}`;
      await collectStream((await createSession(gw.baseUrl, { text, target_format: 'pcm16' })).ws_url, {
        timeoutMs: 30000,
      });
    }
    engine.fallback = { kind: 'ok', paceMs: 30 };
    expect(await metric('eviction')).toBeGreaterThan(before);
    const bytes = Number(
      /^tts_cache_bytes (\d+)/m.exec(await (await fetch(`${gw.baseUrl}/metrics`)).text())?.[1],
    );
    expect(bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
  }, 40000);
});

describe('The audio cache bounds (counted at an in-test OpenAI-compatible fake)', () => {
  let engine: FaultEngine;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    engine = await new FaultEngine().start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await engine.close();
  });

  async function gateway(env: Record<string, string>): Promise<RunningApp> {
    const app = await startApp({
      PROVIDERS: 'mock_tone,openai',
      DEFAULT_PROVIDER: 'openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      ...env,
    });
    apps.push(app);
    return app;
  }

  const calls = (text: string) => engine.requests.filter((r) => r.input === text).length;
  const counts = async (gw: RunningApp) => {
    const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    const count = (event: string) =>
      Number(new RegExp(`^tts_cache_events_total\\{event="${event}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { hit: count('hit'), miss: count('miss'), join: count('join'), eviction: count('eviction') };
  };
  // The metrics registry is the process's: every app of this file counts into it, so tests read changes.
  let baseline: Awaited<ReturnType<typeof counts>>;
  const events = async (gw: RunningApp) => {
    const now = await counts(gw);
    return {
      hit: now.hit - baseline.hit,
      miss: now.miss - baseline.miss,
      join: now.join - baseline.join,
      eviction: now.eviction - baseline.eviction,
    };
  };
  const started = async (env: Record<string, string>) => {
    const gw = await gateway(env);
    baseline = await counts(gw);
    return gw;
  };
  const speak = async (gw: RunningApp, text: string, extra: Record<string, unknown> = {}) => {
    const session = await createSession(gw.baseUrl, { text, target_format: 'pcm16', ...extra });
    const stream = await collectStream(session.ws_url);
    expect(stream.eos).toBeDefined();
    const servedFrom = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json
      .served_from as string;
    return { stream, servedFrom };
  };

  it('should count a miss, serve the entry until CACHE_TTL_SECONDS, then expire it and call the engine again', async () => {
    const gw = await started({ CACHE_MAX_BYTES: String(4 * 1024 * 1024), CACHE_TTL_SECONDS: '1' });
    const text = 'Welcome back, this prompt lives one second.';
    const first = await speak(gw, text);
    expect(await events(gw)).toMatchObject({ miss: 1, hit: 0 });
    const again = await speak(gw, text);
    expect(calls(text)).toBe(1);
    expect([first.servedFrom, again.servedFrom]).toEqual(['engine', 'cache']);
    expect(await events(gw)).toMatchObject({ miss: 1, hit: 1, eviction: 0 });
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const expired = await speak(gw, text);
    expect(calls(text)).toBe(2);
    expect(expired.servedFrom).toBe('engine');
    expect(expired.stream.bytes.equals(first.stream.bytes)).toBe(true);
    expect(await events(gw)).toMatchObject({ miss: 2, hit: 1, eviction: 1 });
  });

  it('should not store an entry larger than CACHE_MAX_ENTRY_BYTES, predicted or actual', async () => {
    // The fake answers at least 200 ms (9600 bytes at 24 kHz) for any text.
    const gw = await started({ CACHE_MAX_BYTES: String(4 * 1024 * 1024), CACHE_MAX_ENTRY_BYTES: '8000' });
    // Predicted small (one character: ~4800 bytes), but 9600 bytes come: synthesized, counted, not kept.
    for (let i = 0; i < 2; i++) expect((await speak(gw, 'A')).servedFrom).toBe('engine');
    expect(calls('A')).toBe(2);
    expect(await events(gw)).toMatchObject({ miss: 2, hit: 0 });
    // Predicted too large: the cache is not consulted at all (no miss, no join).
    const long = 'Too long for an entry of eight kilobytes.';
    for (let i = 0; i < 2; i++) await speak(gw, long);
    expect(calls(long)).toBe(2);
    expect(await events(gw)).toMatchObject({ miss: 2, hit: 0, join: 0 });
    // The tone generator's "I" is 70 ms (3360 bytes): it fits, and is served from the cache.
    const cachedBytes = async () =>
      Number(/^tts_cache_bytes (\d+)/m.exec(await (await fetch(`${gw.baseUrl}/metrics`)).text())?.[1]);
    const before = await cachedBytes();
    await speak(gw, 'I', { provider: 'mock_tone' });
    expect((await speak(gw, 'I', { provider: 'mock_tone' })).servedFrom).toBe('cache');
    expect(await events(gw)).toMatchObject({ miss: 3, hit: 1 });
    expect((await cachedBytes()) - before).toBe(3360);
  });

  it('should turn the cache off with CACHE_MAX_BYTES=0: every request calls the engine, none joins another', async () => {
    const gw = await started({ CACHE_MAX_BYTES: '0' });
    const text = 'No cache here, every caller is new.';
    for (let i = 0; i < 2; i++) expect((await speak(gw, text)).servedFrom).toBe('engine');
    expect(calls(text)).toBe(2);
    engine.fallback = { kind: 'ok', paceMs: 30 };
    try {
      const sessions = await Promise.all(
        [1, 2, 3].map(() => createSession(gw.baseUrl, { text, target_format: 'pcm16' })),
      );
      const streams = await Promise.all(sessions.map((s) => collectStream(s.ws_url)));
      for (const s of streams) expect(s.bytes.equals(streams[0].bytes)).toBe(true);
    } finally {
      engine.fallback = { kind: 'ok' };
    }
    expect(calls(text)).toBe(5);
    expect(await events(gw)).toEqual({ hit: 0, miss: 0, join: 0, eviction: 0 });
    const speech = await fetch(`${gw.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai', voice: 'af_bella', input: text, response_format: 'pcm' }),
    });
    expect(speech.status).toBe(200);
    await speech.arrayBuffer();
    expect(calls(text)).toBe(6);
  });
});
