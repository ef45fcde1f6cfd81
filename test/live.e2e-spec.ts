import { decodeAudio, rms } from './support/audio-check';
import { startApp, type RunningApp } from './support/app';
import { FaultEngine } from './support/fault-engine';
import { LiveClient, tokens } from './support/live-client';

/** An LLM's pace: about 30 tokens per second. */
const TOKEN_MS = 33;
const REPLY =
  'Sure, I can help with that. The basic plan costs $29.99 per month, and it includes support. ' +
  'Would you like me to sign you up today?';

const EXPECTED_CODEC: Record<string, string> = {
  pcm16: 'pcm_s16le',
  wav: 'pcm_s16le',
  mulaw: 'pcm_mulaw',
  alaw: 'pcm_alaw',
  mp3: 'mp3',
  opus: 'opus',
};

function liveUrl(gw: RunningApp, query: Record<string, string> = {}): string {
  const params = new URLSearchParams(query).toString();
  return `${gw.baseUrl.replace(/^http/, 'ws')}/v1/tts/live${params ? `?${params}` : ''}`;
}

/** Milliseconds of pcm16 audio in `bytes` at `rate`. */
const pcmMs = (bytes: number, rate: number) => (bytes / 2 / rate) * 1000;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function metricText(gw: RunningApp): Promise<string> {
  return (await fetch(`${gw.baseUrl}/metrics`)).text();
}

/**
 * The timings of one context against its pcm16 audio: every word in order, inside the audio received, its
 * offsets pointing at the same word in the text the client sent, and each timings message ahead of the
 * audio it describes.
 */
function checkTimings(client: LiveClient, contextId: string, sent: string, rate: number) {
  const timings: any[] = [];
  let audioBytes = 0;
  for (const frame of client.frames) {
    const m = frame.message;
    if (m?.context_id !== contextId) continue;
    if (m.type === 'audio') audioBytes += Buffer.from(m.data, 'base64').length;
    if (m.type === 'timings') {
      // Sent before the audio it covers: nothing of its first word has been received yet.
      expect(pcmMs(audioBytes, rate)).toBeLessThanOrEqual(m.words[0].start_ms + 1);
      timings.push(m);
    }
  }
  const totalMs = pcmMs(audioBytes, rate);
  const words = timings.flatMap((t) => t.words);
  let last = 0;
  for (const word of words) {
    expect(word.start_ms).toBeGreaterThanOrEqual(last);
    expect(word.end_ms).toBeGreaterThanOrEqual(word.start_ms);
    expect(word.end_ms).toBeLessThanOrEqual(totalMs + 1);
    expect(sent.slice(word.text_start, word.text_end)).toBe(word.text);
    last = word.end_ms;
  }
  return { timings, words, totalMs };
}

describe('WS /v1/tts/live', () => {
  let engine: FaultEngine;
  let gw: RunningApp;

  beforeAll(async () => {
    engine = await new FaultEngine().start();
    gw = await startApp({
      PROVIDERS: 'mock_tone,espeak,openai',
      OPENAI_TTS_BASE_URL: engine.baseUrl,
      DEFAULT_PROVIDER: 'espeak',
      PROVIDER_OPENAI_RETRIES: '0',
      PROVIDER_OPENAI_BREAKER_THRESHOLD: '50',
    });
  });

  afterAll(async () => {
    await gw.close();
    await engine.close();
  });

  beforeEach(() => {
    engine.fallback = { kind: 'ok' };
    engine.rule = undefined;
  });

  describe.each(['espeak', 'openai', 'mock_tone'])('over %s, with tokens at an LLM pace', (provider) => {
    it('should send the first audio before the text is complete, then every sentence, eos, and one valid stream', async () => {
      const client = await LiveClient.connect(
        liveUrl(gw, { provider, target_format: 'wav', sample_rate_hz: '16000' }),
      );
      const parts = tokens(REPLY);
      const feeding = client.feed(undefined, parts, TOKEN_MS);
      const first = await client.waitFor((m) => m.type === 'audio');
      const sendTimes = await feeding;
      // Audio began while the model was still "typing".
      expect(first.at).toBeLessThan(sendTimes.at(-1)!);
      // The first sentence is complete once the token after its period arrives.
      const completedAt = sendTimes[parts.findIndex((t) => t.includes('.')) + 1];
      expect(first.at - completedAt).toBeLessThan(3000);

      client.send({ type: 'end' });
      const eos = await client.waitFor((m) => m.type === 'eos');
      const audio = client.audio('default');
      expect(audio.seqs).toEqual(audio.seqs.map((_, i) => i + 1));
      expect(eos.message).toMatchObject({
        context_id: 'default',
        chunks: audio.seqs.length,
        bytes: audio.bytes.length,
      });
      expect(audio.lastAt!).toBeLessThanOrEqual(eos.at);
      expect(audio.bytes.indexOf('RIFF', 4)).toBe(-1);
      const decoded = await decodeAudio(audio.bytes, 'wav', 16000);
      expect(decoded.errors).toBe('');
      expect(decoded.sampleRate).toBe(16000);
      expect(Math.abs(decoded.duration * 1000 - eos.message.audio_duration_ms)).toBeLessThan(30);
      expect(decoded.duration).toBeGreaterThan(2);
      expect(rms(decoded.samples)).toBeGreaterThan(100);
      client.close();
    });
  });

  it('should synthesize a flushed partial sentence at once and answer flushed after its audio', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { provider: 'espeak', target_format: 'pcm16' }));
    await client.feed('a', tokens('Let me check that for'), 10);
    const flushAt = client.send({ type: 'flush', context_id: 'a' });
    const flushed = await client.waitFor((m) => m.type === 'flushed' && m.context_id === 'a');
    const before = client.audio('a');
    expect(before.bytes.length).toBeGreaterThan(0);
    expect(before.lastAt!).toBeLessThanOrEqual(flushed.at);
    expect(flushed.at - flushAt).toBeLessThan(3000);
    // Nothing new after the ack until more text comes.
    await new Promise((r) => setTimeout(r, 200));
    expect(client.audio('a').seqs.length).toBe(before.seqs.length);

    await client.feed('a', tokens(' you. Done.'), 10);
    client.send({ type: 'end', context_id: 'a' });
    await client.waitFor((m) => m.type === 'eos' && m.context_id === 'a');
    expect(client.audio('a').seqs.length).toBeGreaterThan(before.seqs.length);
    client.close();
  });

  it('should speak a partial sentence left idle past the gap without any flush', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { provider: 'mock_tone', target_format: 'pcm16' }));
    const sent = await client.feed(undefined, tokens('Hmm, let me think'), 10);
    const first = await client.waitFor((m) => m.type === 'audio', 3000);
    // LIVE_IDLE_GAP_MS (300 ms by default) after the last token, not before.
    expect(first.at - sent.at(-1)!).toBeGreaterThanOrEqual(250);
    client.close();
  });

  it('should stop a context on clear: cleared after its last audio frame, no audio after, engine aborted', async () => {
    // A slow engine (real time), so the utterance is still being synthesized when the client barges in.
    engine.fallback = { kind: 'ok', paceMs: 100 };
    const client = await LiveClient.connect(liveUrl(gw, { provider: 'openai', target_format: 'mp3' }));
    client.send({ type: 'text', context_id: 'reply', text: `${REPLY} ${REPLY} ` });
    await client.waitFor((m) => m.type === 'audio' && m.context_id === 'reply');
    const requests = engine.requests.slice(-2);
    const clearAt = client.send({ type: 'clear', context_id: 'reply' });
    const cleared = await client.waitFor((m) => m.type === 'cleared' && m.context_id === 'reply');
    const index = client.frames.indexOf(cleared);
    expect(cleared.at - clearAt).toBeLessThan(1000);
    // The engine's requests end within a second of the clear.
    for (const request of requests) expect((await request.closed) - clearAt).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 300));
    const after = client.frames.slice(index + 1).filter((f) => f.message?.context_id === 'reply');
    expect(after).toEqual([]);
    expect(client.messages((m) => m.type === 'eos' || m.type === 'error')).toEqual([]);

    // The id can be used again: a new context, a new stream from seq 1.
    client.send({ type: 'text', context_id: 'reply', text: 'Okay.' });
    client.send({ type: 'end', context_id: 'reply' });
    engine.fallback = { kind: 'ok' };
    const eos = await client.waitFor((m) => m.type === 'eos' && m.context_id === 'reply', 10000, index);
    const again = client.frames
      .slice(index, client.frames.indexOf(eos))
      .filter((f) => f.message?.type === 'audio');
    expect(again[0].message.seq).toBe(1);
    client.close();
  });

  it('should answer clear within milliseconds while espeak streams (clear → cleared latency)', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { provider: 'espeak', target_format: 'pcm16' }));
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `turn-${i}`;
      const from = client.frames.length;
      client.send({ type: 'text', context_id: id, text: `${REPLY} ${REPLY} ` });
      await client.waitFor((m) => m.type === 'audio' && m.context_id === id, 5000, from);
      const clearAt = client.send({ type: 'clear', context_id: id });
      const cleared = await client.waitFor((m) => m.type === 'cleared' && m.context_id === id, 5000, from);
      latencies.push(cleared.at - clearAt);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.info(`live clear → cleared over espeak: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
    expect(p99).toBeLessThan(1000); // sanity only: docs/BENCHMARKS.md has the measured figures
    // No audio of any cleared context after its ack.
    for (let i = 0; i < 20; i++) {
      const ack = client.frames.findIndex(
        (f) => f.message?.type === 'cleared' && f.message.context_id === `turn-${i}`,
      );
      expect(client.frames.slice(ack + 1).some((f) => f.message?.context_id === `turn-${i}`)).toBe(false);
    }
    client.close();
  });

  it('should run two contexts with different formats at once, interleaved, each one valid stream', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { provider: 'espeak' }));
    client.send({ type: 'start', context_id: 'en', target_format: 'mp3', sample_rate_hz: 24000 });
    client.send({ type: 'start', context_id: 'tel', target_format: 'mulaw', provider: 'mock_tone' });
    await Promise.all([
      client.feed('en', tokens(REPLY), TOKEN_MS),
      client.feed('tel', tokens('Your call is important to us. Please stay on the line.'), TOKEN_MS),
    ]);
    client.send({ type: 'end', context_id: 'en' });
    client.send({ type: 'end', context_id: 'tel' });
    await client.waitFor((m) => m.type === 'eos' && m.context_id === 'en');
    await client.waitFor((m) => m.type === 'eos' && m.context_id === 'tel');

    const en = client.audio('en');
    const tel = client.audio('tel');
    expect(en.seqs).toEqual(en.seqs.map((_, i) => i + 1));
    expect(tel.seqs).toEqual(tel.seqs.map((_, i) => i + 1));
    // Interleaved on the socket, not one after the other.
    expect(en.firstAt!).toBeLessThan(tel.lastAt!);
    expect(tel.firstAt!).toBeLessThan(en.lastAt!);
    const mp3 = await decodeAudio(en.bytes, 'mp3', 24000);
    expect(mp3).toMatchObject({ errors: '', codec: 'mp3', sampleRate: 24000 });
    expect(mp3.duration).toBeGreaterThan(3);
    const mulaw = await decodeAudio(tel.bytes, 'mulaw', 8000);
    expect(mulaw.errors).toBe('');
    expect(mulaw.duration).toBeGreaterThan(2);
    client.close();
  });

  it('should decode every format per context', async () => {
    const formats: [string, number][] = [
      ['pcm16', 22050],
      ['wav', 8000],
      ['mulaw', 8000],
      ['alaw', 16000],
      ['mp3', 16000],
      ['opus', 48000],
    ];
    const sockets = [formats.slice(0, 3), formats.slice(3)].map(async (group) => {
      const client = await LiveClient.connect(liveUrl(gw, { provider: 'espeak' }));
      for (const [format, rate] of group) {
        client.send({ type: 'start', context_id: format, target_format: format, sample_rate_hz: rate });
        client.send({ type: 'text', context_id: format, text: 'Every format decodes. ' });
        client.send({ type: 'text', context_id: format, text: 'Even this one' });
        client.send({ type: 'end', context_id: format });
      }
      for (const [format] of group) await client.waitFor((m) => m.type === 'eos' && m.context_id === format);
      client.close();
      return { client, group };
    });
    for (const { client, group } of await Promise.all(sockets)) {
      for (const [format, rate] of group) {
        const decoded = await decodeAudio(client.audio(format).bytes, format, rate);
        expect({ format, errors: decoded.errors, codec: decoded.codec }).toEqual({
          format,
          errors: '',
          codec: EXPECTED_CODEC[format],
        });
        expect(decoded.sampleRate).toBe(rate);
        expect(decoded.duration).toBeGreaterThan(1);
      }
    }
  });

  it('should send native timings for the tone generator: exact, monotonic, before their audio, in the client text', async () => {
    const client = await LiveClient.connect(
      liveUrl(gw, { provider: 'mock_tone', target_format: 'pcm16', timings: 'words' }),
    );
    // Raw text with a line break, a double space and a tab: offsets are into this, not the normalized text.
    const sent = 'Hello  world.\nIt costs $29.99 now.\tBye';
    await client.feed(undefined, tokens(sent), 15);
    client.send({ type: 'end' });
    await client.waitFor((m) => m.type === 'eos');
    const { timings, words, totalMs } = checkTimings(client, 'default', sent, 24000);
    expect(timings.every((t) => t.source === 'native')).toBe(true);
    expect(words.map((w) => w.text)).toEqual(['Hello', 'world', 'It', 'costs', '29.99', 'now', 'Bye']);
    // 70 ms per character, 50 ms per space, 150 ms per punctuation mark.
    expect(words[0]).toMatchObject({ start_ms: 0, end_ms: 350, text_start: 0, text_end: 5 });
    expect(words[1]).toMatchObject({ start_ms: 400, end_ms: 750, text_start: 7, text_end: 12 });
    expect(words.at(-1)!.end_ms).toBe(Math.round(totalMs));
    client.close();
  });

  it('should scale native timings with speed', async () => {
    const client = await LiveClient.connect(
      liveUrl(gw, { provider: 'mock_tone', target_format: 'pcm16', timings: 'words', speed: '2' }),
    );
    client.send({ type: 'text', text: 'Hello world.' });
    client.send({ type: 'end' });
    await client.waitFor((m) => m.type === 'eos');
    const [timings] = client.messages((m) => m.type === 'timings');
    expect(timings.words[1]).toMatchObject({ text: 'world', start_ms: 200, end_ms: 375 });
    client.close();
  });

  it.each(['espeak', 'openai'])(
    'should send estimated timings over %s that stay within each sentence’s audio and grow across pauses',
    async (provider) => {
      const client = await LiveClient.connect(
        liveUrl(gw, { provider, target_format: 'pcm16', sample_rate_hz: '16000', timings: 'words' }),
      );
      const sent = `${REPLY} Thanks!`;
      const parts = tokens(sent);
      await client.feed(undefined, parts.slice(0, 12), TOKEN_MS);
      await new Promise((r) => setTimeout(r, 500)); // the model pauses: the idle gap speaks the partial
      await client.feed(undefined, parts.slice(12), TOKEN_MS);
      client.send({ type: 'end' });
      await client.waitFor((m) => m.type === 'eos');
      const { timings, words } = checkTimings(client, 'default', sent, 16000);
      expect(timings.length).toBeGreaterThanOrEqual(4);
      expect(timings.every((t) => t.source === 'estimated')).toBe(true);
      const expected = [...new Intl.Segmenter('en', { granularity: 'word' }).segment(sent)]
        .filter((s) => s.isWordLike)
        .map((s) => s.segment);
      expect(words.map((w) => w.text)).toEqual(expected);
      // Each sentence's words lie before the next sentence's audio begins.
      for (let i = 1; i < timings.length; i++)
        expect(timings[i - 1].words.at(-1).end_ms).toBeLessThanOrEqual(timings[i].words[0].start_ms);
      // The words sit where the audio is voiced.
      const pcm = client.audio('default').bytes;
      const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
      for (const word of words.filter((w) => w.end_ms - w.start_ms >= 60)) {
        const span = samples.subarray(word.start_ms * 16, word.end_ms * 16);
        expect(rms(span)).toBeGreaterThan(50);
      }
      client.close();
    },
  );

  it('should fail over before the first audio of a sentence, and keep the socket when a context fails', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }));
    client.send({ type: 'start', context_id: 'safe', provider: 'openai', fallback_providers: ['mock_tone'] });
    client.send({ type: 'start', context_id: 'bare', provider: 'openai' });
    engine.rule = (input) => (input.includes('POISON') ? { kind: 'status', status: 500 } : undefined);
    for (const id of ['safe', 'bare']) {
      client.send({ type: 'text', context_id: id, text: 'This is fine. This is POISON. ' });
      client.send({ type: 'end', context_id: id });
    }
    const eos = await client.waitFor((m) => m.type === 'eos' && m.context_id === 'safe');
    const error = await client.waitFor((m) => m.type === 'error' && m.context_id === 'bare');
    expect(error.message.code).toBe('provider_error');
    expect(eos.message.chunks).toBeGreaterThan(0);
    // Still open: a new context works.
    client.send({ type: 'text', context_id: 'next', text: 'Still here.' });
    client.send({ type: 'end', context_id: 'next' });
    await client.waitFor((m) => m.type === 'eos' && m.context_id === 'next');
    expect(client.closeCode).toBeUndefined();
    client.close();
  });

  it('should answer bad messages with a warning or an error naming them, never by closing', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }));
    client.send('not json');
    await client.waitFor((m) => m.type === 'warning' && /JSON/.test(m.message));
    client.send({ type: 'speak', text: 'hi' });
    await client.waitFor((m) => m.type === 'warning' && m.message.includes('"speak"'));
    client.send({ type: 'flush', context_id: 'ghost' });
    await client.waitFor((m) => m.type === 'error' && m.context_id === 'ghost' && m.code === 'bad_message');
    client.send({ type: 'start', context_id: 'x', target_format: 'flac' });
    await client.waitFor((m) => m.type === 'error' && m.context_id === 'x' && m.code === 'validation_failed');
    client.send({ type: 'start', context_id: 'y', voice: 'no-such-voice' });
    await client.waitFor((m) => m.type === 'error' && m.context_id === 'y' && m.code === 'voice_not_found');
    client.send({ type: 'start', context_id: 'z', speed: 9 });
    await client.waitFor((m) => m.type === 'error' && m.context_id === 'z' && /speed/.test(m.message));
    client.send({ type: 'start', context_id: 'u', colour: 'blue' });
    await client.waitFor((m) => m.type === 'error' && m.context_id === 'u' && /colour/.test(m.message));
    client.send({ type: 'text', context_id: 'w', text: 42 });
    await client.waitFor((m) => m.type === 'warning' && m.context_id === 'w');
    client.send({ type: 'text', context_id: '', text: 'x' });
    await client.waitFor((m) => m.type === 'warning' && /context_id/.test(m.message));
    client.send({ type: 'text', context_id: 'done', text: 'One.' });
    client.send({ type: 'end', context_id: 'done' });
    client.send({ type: 'text', context_id: 'done', text: 'Two.' });
    await client.waitFor((m) => m.type === 'warning' && m.context_id === 'done');
    await client.waitFor((m) => m.type === 'eos' && m.context_id === 'done');
    expect(client.closeCode).toBeUndefined();
    client.close();
  });

  it('should refuse a second context with binary=1, and send raw audio frames for the first', async () => {
    const client = await LiveClient.connect(
      liveUrl(gw, { target_format: 'pcm16', binary: '1', provider: 'mock_tone' }),
    );
    client.send({ type: 'text', context_id: 'one', text: 'Binary frames.' });
    client.send({ type: 'text', context_id: 'two', text: 'Not allowed.' });
    const refused = await client.waitFor((m) => m.type === 'error' && m.context_id === 'two');
    expect(refused.message).toMatchObject({ code: 'validation_failed' });
    expect(refused.message.message).toMatch(/binary=1/);
    client.send({ type: 'end', context_id: 'one' });
    const eos = await client.waitFor((m) => m.type === 'eos' && m.context_id === 'one');
    const audio = client.audio();
    expect(audio.chunks.length).toBe(eos.message.chunks);
    expect(audio.bytes.length).toBe(eos.message.bytes);
    client.close();
  });

  it('should close with an error without context_id on a bad query', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'wav', sample_rate_hz: 'fast' }));
    expect(await client.closed).toBe(4400);
    expect(client.messages()).toEqual([
      expect.objectContaining({ type: 'error', code: 'validation_failed' }),
    ]);
    expect(client.messages()[0].context_id).toBeUndefined();
    const unknown = await LiveClient.connect(liveUrl(gw, { provider: 'nope' }));
    expect(await unknown.closed).toBe(4400);
  });

  it('should end every context on close, then close 1000', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16', provider: 'mock_tone' }));
    client.send({ type: 'text', context_id: 'a', text: 'First context' });
    client.send({ type: 'text', context_id: 'b', text: 'Second context.' });
    client.send({ type: 'close' });
    expect(await client.closed).toBe(1000);
    expect(
      client
        .messages((m) => m.type === 'eos')
        .map((m) => m.context_id)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('should count contexts, sentence first audio and clear latency in /metrics', async () => {
    const text = await metricText(gw);
    expect(text).toMatch(/^tts_live_active_contexts 0$/m);
    expect(text).toMatch(/^tts_live_clear_latency_seconds_count [1-9]/m);
    expect(text).toMatch(/^tts_live_sentence_time_to_first_audio_seconds_count\{provider="espeak"\} [1-9]/m);
    expect(text).toMatch(/^tts_streams_total\{.*route="live".*\} [1-9]/m);
    expect(text).toMatch(/^tts_live_sentences_total\{trigger="idle_gap"\} [1-9]/m);
  });
});

describe('WS /v1/tts/live limits', () => {
  const KEY_1 = 'sk-live-test-key-one-0001';
  const KEY_2 = 'sk-live-test-key-two-0002';
  const AS_KEY_2 = { authorization: `Bearer ${KEY_2}` };
  let gw: RunningApp;
  let closed = false;

  beforeAll(async () => {
    gw = await startApp({
      PROVIDERS: 'mock_tone',
      LIVE_MAX_CONTEXTS: '2',
      LIVE_MAX_CONTEXT_TEXT_BYTES: '200',
      LIVE_MAX_BUFFERED_TEXT_BYTES: '1000',
      LIVE_CONTEXT_IDLE_TIMEOUT_MS: '1000',
      LIVE_CHARS_PER_MINUTE: '500',
      API_KEYS: `${KEY_1},${KEY_2}`,
    });
  });

  afterAll(async () => {
    if (!closed) await gw.close();
  });

  it('should take the caller from its API key (no key: 401 before the upgrade)', async () => {
    await expect(LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }))).rejects.toThrow(/401/);
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }), AS_KEY_2);
    client.send({ type: 'text', text: 'Keyed.' });
    client.send({ type: 'end' });
    await client.waitFor((m) => m.type === 'eos');
    client.close();
  });

  it('should refuse contexts past LIVE_MAX_CONTEXTS, naming the context', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }), AS_KEY_2);
    for (const id of ['a', 'b', 'c']) client.send({ type: 'start', context_id: id });
    const refused = await client.waitFor((m) => m.type === 'error');
    expect(refused.message).toMatchObject({ context_id: 'c', code: 'too_many_streams' });
    expect(refused.message.message).toMatch(/LIVE_MAX_CONTEXTS/);
    client.close();
  });

  it('should end a context that receives more than LIVE_MAX_CONTEXT_TEXT_BYTES', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }), AS_KEY_2);
    client.send({ type: 'text', text: 'a'.repeat(150) });
    client.send({ type: 'text', text: 'b'.repeat(100) });
    const error = await client.waitFor((m) => m.type === 'error');
    expect(error.message).toMatchObject({ context_id: 'default', code: 'payload_too_large' });
    expect(error.message.message).toMatch(/LIVE_MAX_CONTEXT_TEXT_BYTES/);
    expect(client.closeCode).toBeUndefined();
    client.close();
  });

  it('should end an idle context with eos (reason idle_timeout)', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }), AS_KEY_2);
    client.send({ type: 'text', text: 'Then silence.' });
    const eos = await client.waitFor((m) => m.type === 'eos', 5000);
    expect(eos.message).toMatchObject({ context_id: 'default', reason: 'idle_timeout' });
    expect(eos.message.chunks).toBeGreaterThan(0);
    client.close();
  });

  it('should limit characters per client per minute over all its sockets (rate_limited)', async () => {
    const headers = { authorization: `Bearer ${KEY_1}` };
    const url = liveUrl(gw, { target_format: 'pcm16' });
    const first = new LiveClient(url, headers);
    const second = new LiveClient(url, headers);
    await Promise.all([first.opened, second.opened]);
    // 150 + 150 on one socket, 150 on the other: 450 of the 500 a minute; the next 100 are refused.
    first.send({ type: 'text', context_id: 'c0', text: 'x'.repeat(150) });
    first.send({ type: 'text', context_id: 'c1', text: 'x'.repeat(150) });
    await first.waitFor((m) => m.type === 'audio' && m.context_id === 'c1', 3000);
    second.send({ type: 'text', context_id: 'd0', text: 'y'.repeat(150) });
    second.send({ type: 'text', context_id: 'd1', text: 'z'.repeat(100) });
    const refused = await second.waitFor((m) => m.type === 'error' && m.code === 'rate_limited');
    expect(refused.message.message).toMatch(/LIVE_CHARS_PER_MINUTE/);
    // Another client is not affected.
    const other = new LiveClient(url, AS_KEY_2);
    await other.opened;
    other.send({ type: 'text', text: 'Fine.' });
    other.send({ type: 'end' });
    await other.waitFor((m) => m.type === 'eos');
    for (const c of [first, second, other]) c.close();
  });

  it('should end open contexts with shutting_down when the application closes', async () => {
    const client = await LiveClient.connect(liveUrl(gw, { target_format: 'pcm16' }), AS_KEY_2);
    client.send({ type: 'text', context_id: 'open', text: 'Still talking' });
    await client.waitFor((m) => m.type === 'audio', 3000); // the idle gap spoke the partial
    closed = true;
    await gw.close();
    expect(await client.closed).toBe(4503);
    expect(client.messages((m) => m.type === 'error')).toEqual([
      expect.objectContaining({ context_id: 'open', code: 'shutting_down' }),
      expect.objectContaining({ code: 'shutting_down' }),
    ]);
  });
});
