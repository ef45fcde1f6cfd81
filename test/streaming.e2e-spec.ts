import { segmentsOf } from '../src/providers/mock-tone/mock-tone.provider';
import { decodeAudio, rms } from './support/audio-check';
import { createSession, getJson, startApp, type RunningApp } from './support/app';
import { collectStream } from './support/ws-stream';

const TEXT = 'Streaming works, one chunk at a time.';
/** Length of the mock tone utterance at 24 kHz, from the generator's own segment plan. */
const expectedSeconds = (text: string) => segmentsOf(text, 330).reduce((n, s) => n + s.samples, 0) / 24000;

const EXPECTED_CODEC: Record<string, string> = {
  pcm16: 'pcm_s16le',
  wav: 'pcm_s16le',
  mulaw: 'pcm_mulaw',
  alaw: 'pcm_alaw',
};

describe('WS /v1/tts/stream/:session_id', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp();
  });

  afterAll(async () => {
    await gw.close();
  });

  describe.each([
    ['pcm16', 24000],
    ['pcm16', 16000],
    ['pcm16', 44100],
    ['wav', 24000],
    ['wav', 8000],
    ['wav', 48000],
    ['mulaw', 8000],
    ['mulaw', 16000],
    ['alaw', 8000],
    ['alaw', 22050],
  ])('target_format %s at %i Hz', (format, rate) => {
    it('should stream seq 1..n then eos and close 1000, and the bytes should decode to the full utterance', async () => {
      const session = await createSession(gw.baseUrl, {
        text: TEXT,
        target_format: format,
        sample_rate_hz: rate,
      });
      const stream = await collectStream(session.ws_url);

      expect(stream.closeCode).toBe(1000);
      expect(stream.error).toBeUndefined();
      expect(stream.audio.length).toBeGreaterThan(0);
      expect(stream.audio.map((a) => a.seq)).toEqual(stream.audio.map((_, i) => i + 1));
      expect(stream.control.at(-1)).toMatchObject({
        type: 'eos',
        chunks: stream.audio.length,
        bytes: stream.bytes.length,
      });

      const decoded = await decodeAudio(stream.bytes, format, rate);
      expect(decoded.errors).toBe('');
      expect(decoded.codec).toBe(EXPECTED_CODEC[format]);
      expect(decoded.sampleRate).toBe(rate);
      // The resampler emits exactly ceil(n * out / in) samples: duration is preserved to one sample.
      expect(decoded.duration).toBeCloseTo(expectedSeconds(TEXT), 3);
      expect(rms(decoded.samples)).toBeGreaterThan(1000);
      if (format === 'wav') {
        expect(stream.bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
        // Exactly one header, at the start, with streaming sizes.
        expect(stream.bytes.readUInt32LE(40)).toBe(0xffffffff);
        expect(stream.bytes.indexOf('RIFF', 4)).toBe(-1);
      }
    });
  });

  it('should send the same audio as raw binary frames with ?binary=1', async () => {
    const body = { text: TEXT, target_format: 'pcm16', sample_rate_hz: 16000 };
    const json = await collectStream((await createSession(gw.baseUrl, body)).ws_url);
    const binary = await collectStream(`${(await createSession(gw.baseUrl, body)).ws_url}?binary=1`);
    expect(binary.closeCode).toBe(1000);
    expect(binary.audio.every((a) => a.seq === undefined)).toBe(true);
    expect(binary.eos).toMatchObject({ type: 'eos', bytes: binary.bytes.length });
    expect(binary.bytes.equals(json.bytes)).toBe(true);
  });

  it('should give different audio for different texts and identical audio for the same text', async () => {
    const stream = async (text: string) =>
      (await collectStream((await createSession(gw.baseUrl, { text, target_format: 'pcm16' })).ws_url)).bytes;
    const a1 = await stream('alpha bravo');
    const a2 = await stream('alpha bravo');
    const b = await stream('charlie delta');
    expect(a1.equals(a2)).toBe(true);
    expect(a1.equals(b.subarray(0, a1.length))).toBe(false);
  });

  it('should answer an unknown session with session_not_found and close 4404', async () => {
    const stream = await collectStream(
      `${gw.baseUrl.replace('http', 'ws')}/v1/tts/stream/00000000-0000-4000-8000-000000000000`,
    );
    expect(stream.error).toMatchObject({ type: 'error', code: 'session_not_found' });
    expect(stream.closeCode).toBe(4404);
    expect(stream.audio).toHaveLength(0);
  });

  it('should refuse a second stream of the same session with session_already_streamed (4409)', async () => {
    const session = await createSession(gw.baseUrl, { text: 'once', target_format: 'pcm16' });
    await collectStream(session.ws_url);
    const again = await collectStream(session.ws_url);
    expect(again.error).toMatchObject({ code: 'session_already_streamed' });
    expect(again.closeCode).toBe(4409);
  });

  it('should reject upgrades on other paths with an HTTP 404 before the handshake', async () => {
    await expect(collectStream(`${gw.baseUrl.replace('http', 'ws')}/v1/not-a-stream`)).rejects.toThrow(/404/);
  });

  it('should reject a browser Origin from another site with 403', async () => {
    const session = await createSession(gw.baseUrl, { text: 'x', target_format: 'pcm16' });
    await expect(
      collectStream(session.ws_url, { headers: { Origin: 'https://evil.example' } }),
    ).rejects.toThrow(/403/);
  });
});

describe('WS stream control with a real-time paced provider', () => {
  let gw: RunningApp;
  // Five seconds of speech at real time: long enough to interrupt, short enough for CI.
  const LONG_TEXT = 'This sentence keeps the tone generator busy for a few seconds of audio';

  beforeAll(async () => {
    gw = await startApp({
      MOCK_TONE_REALTIME_FACTOR: '1',
      // A client that leaves may come back with ?from_seq within this window; then its synthesis stops.
      RESUME_WINDOW_SECONDS: '1',
      WS_SEND_HIGH_WATER_BYTES: '16384',
      WS_STALL_TIMEOUT_MS: '600',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should deliver the first audio long before the utterance ends (streaming, not buffering)', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url);
    expect(stream.closeCode).toBe(1000);
    expect(stream.firstAudioMs).toBeDefined();
    expect(stream.firstAudioMs!).toBeLessThan(stream.totalMs / 4);
  });

  it('should stream the tone with ?timings=words as it renders: timings first, audio not held to the sentence end', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    const stream = await collectStream(`${session.ws_url}?timings=words`);
    expect(stream.closeCode).toBe(1000);
    expect(stream.control[0]).toMatchObject({ type: 'timings', source: 'native' });
    expect(stream.firstAudioMs!).toBeLessThan(stream.totalMs / 4);
  });

  it('should answer an unknown client message with a warning and keep streaming', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url, { onOpen: (ws) => ws.send('{"type":"pause"}') });
    expect(stream.control[0]).toMatchObject({ type: 'warning', code: 'bad_message' });
    expect(stream.closeCode).toBe(1000);
    expect(stream.eos).toBeDefined();
  });

  it('should stop on {"type":"cancel"} with an error frame of code cancelled and close 4499', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 3) ws.send(JSON.stringify({ type: 'cancel' }));
      },
    });
    expect(stream.error).toMatchObject({ type: 'error', code: 'cancelled' });
    expect(stream.eos).toBeUndefined();
    expect(stream.closeCode).toBe(4499);
    expect(stream.totalMs).toBeLessThan(3000);
    const after = await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`);
    expect(after.json).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
  });

  it('should stop the stream when the session is deleted', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 2)
          void fetch(`${gw.baseUrl}/v1/tts/sessions/${session.session_id}`, { method: 'DELETE' });
      },
    });
    expect(stream.error).toMatchObject({ code: 'cancelled' });
    expect(stream.closeCode).toBe(4499);
  });

  it('should abort synthesis when the client disconnects and does not resume within the window', async () => {
    const session = await createSession(gw.baseUrl, { text: LONG_TEXT, target_format: 'pcm16' });
    await collectStream(session.ws_url, {
      onMessage: (ws, message) => {
        if (message.seq === 2) ws.terminate();
      },
    });
    // Synthesis goes on, detached, for RESUME_WINDOW_SECONDS (1 s here), then stops.
    let after: any = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
    expect(after.status).toBe('streaming');
    for (let i = 0; i < 60; i++) {
      after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
      if (after.status !== 'streaming') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after.status).toBe('cancelled');
    expect(after.error.message).toMatch(/did not resume within 1 s/);
    // Only what reached the client counts as sent.
    expect(after.chunks_sent).toBeLessThan(20);
    const metrics = await (await fetch(`${gw.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tts_active_streams\{route="stream"\} 0$/m);
  });
});

describe('WS stream to a client that stops reading', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    // Unpaced provider: it produces audio far faster than any socket drains.
    gw = await startApp({
      WS_SEND_HIGH_WATER_BYTES: '65536',
      WS_STALL_TIMEOUT_MS: '500',
      RESUME_WINDOW_SECONDS: '1',
      RESUME_BUFFER_BYTES: '1048576',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should stop pulling audio once the send buffer is full, then close the client with slow_consumer', async () => {
    // About 200 s of 48 kHz WAV (~19 MB): more than loopback TCP buffers can absorb.
    const text = 'slow reader '.repeat(250);
    const session = await createSession(gw.baseUrl, { text, target_format: 'wav', sample_rate_hz: 48000 });
    const stream = await collectStream(session.ws_url, {
      onOpen: (ws) => {
        // Stop reading from the TCP socket: kernel buffers fill, then the server's send buffer. Read again
        // once the server gave up on this socket (the session leaves `streaming` after the resume window),
        // not after a fixed time: a slow machine may take longer than that to fill the buffers at all.
        (ws as any)._socket.pause();
        void (async () => {
          for (let i = 0; i < 200; i++) {
            await new Promise((r) => setTimeout(r, 100));
            const now = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
            if (now.status !== 'streaming') break;
          }
          (ws as any)._socket.resume();
        })();
      },
      timeoutMs: 30000,
    });
    expect(stream.eos).toBeUndefined();
    // The socket is gone; the synthesis waits (paused on its full replay buffer) for a resume, then stops.
    let after: any;
    for (let i = 0; i < 60; i++) {
      after = (await getJson(gw.baseUrl, `/v1/tts/sessions/${session.session_id}`)).json;
      if (after.status !== 'streaming') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
    // Synthesis stopped far short of the whole utterance: what was sent is what the TCP buffers held.
    expect(after.bytes_sent).toBeLessThan(10_000_000);
    expect(after.bytes_sent).toBeGreaterThan(0);
    // The error frame and close may sit behind the unread data; the server then drops the connection.
    if (stream.error) expect(stream.error.code).toBe('slow_consumer');
    expect([4408, 1006]).toContain(stream.closeCode);
  }, 45000);
});

describe('WS streams when the gateway shuts down', () => {
  it('should end running streams with shutting_down and close 4503 instead of a reset', async () => {
    const gw = await startApp({ MOCK_TONE_REALTIME_FACTOR: '1' });
    const session = await createSession(gw.baseUrl, {
      text: 'a stream that is still running',
      target_format: 'pcm16',
    });
    let closing: Promise<void> | undefined;
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.seq === 3) closing = gw.close();
      },
    });
    await closing;
    expect(stream.error).toMatchObject({ type: 'error', code: 'shutting_down' });
    expect(stream.closeCode).toBe(4503);
  });
});

describe('WS heartbeats and limits', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({
      MOCK_TONE_REALTIME_FACTOR: '1',
      WS_PING_INTERVAL_MS: '200',
      WS_MAX_PAYLOAD_BYTES: '1024',
    });
  });

  afterAll(async () => {
    await gw.close();
  });

  it('should drop a client that stops answering pings and free its stream', async () => {
    const session = await createSession(gw.baseUrl, {
      text: 'a long stream for a client that goes silent',
      target_format: 'pcm16',
    });
    const stream = await collectStream(session.ws_url, {
      // A paused TCP socket reads no pings, so it sends no pongs: a half-open client, seen from the server.
      onOpen: (ws) => {
        (ws as any)._socket.pause();
        // Read again later, only to see how the server ended the connection.
        setTimeout(() => (ws as any)._socket.resume(), 1500);
      },
      timeoutMs: 5000,
    }).catch(() => undefined);
    // The server terminated the silent socket (no eos reached it); the synthesis itself finishes detached.
    expect(stream?.eos).toBeUndefined();
    expect(stream?.closeCode).toBe(1006);
    expect(stream!.totalMs).toBeLessThan(3000);
  });

  it('should close a client that sends a message over WS_MAX_PAYLOAD_BYTES with 1009', async () => {
    const session = await createSession(gw.baseUrl, { text: 'payload limit', target_format: 'pcm16' });
    const stream = await collectStream(session.ws_url, { onOpen: (ws) => ws.send('x'.repeat(4096)) });
    expect(stream.closeCode).toBe(1009);
  });
});

describe('Framing and pacing (frame_ms, pace)', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp();
  });

  afterAll(async () => {
    await gw.close();
  });

  it.each([
    ['pcm16', 8000, 2],
    ['mulaw', 8000, 1],
    ['wav', 16000, 2],
  ])(
    'should carry exactly frame_ms of %s audio per message (the last may be shorter)',
    async (format, rate, width) => {
      const session = await createSession(gw.baseUrl, {
        text: TEXT,
        target_format: format,
        sample_rate_hz: rate,
        frame_ms: 20,
      });
      const stream = await collectStream(session.ws_url);
      expect(stream.closeCode).toBe(1000);
      const frame = (rate * 20 * width) / 1000;
      const sizes = stream.audio.map((a) => a.data.length);
      const header = format === 'wav' ? 44 : 0;
      expect(sizes[0]).toBe(header + frame);
      for (const size of sizes.slice(1, -1)) expect(size).toBe(frame);
      expect(sizes.at(-1)).toBeLessThanOrEqual(frame);
      const decoded = await decodeAudio(stream.bytes, format, rate);
      expect(decoded.errors).toBe('');
      expect(decoded.duration).toBeCloseTo(expectedSeconds(TEXT), 3);
    },
  );

  it('should coalesce chunks that are ready together when no frame_ms is asked (fewer, larger messages)', async () => {
    const session = await createSession(gw.baseUrl, {
      text: TEXT,
      target_format: 'pcm16',
      sample_rate_hz: 16000,
    });
    const stream = await collectStream(session.ws_url);
    // The tone generator makes 20 ms chunks; unpaced, they leave together.
    const chunksMade = Math.ceil((expectedSeconds(TEXT) * 1000) / 20);
    expect(stream.audio.length).toBeLessThan(chunksMade / 4);
    expect(stream.audio.map((a) => a.seq)).toEqual(stream.audio.map((_, i) => i + 1));
  });

  it('should send no more than ~300 ms ahead of real time with pace: realtime', async () => {
    const session = await createSession(gw.baseUrl, {
      text: TEXT,
      target_format: 'pcm16',
      sample_rate_hz: 8000,
      pace: 'realtime',
    });
    const started = performance.now();
    const arrivals: Array<{ at: number; endMs: number }> = [];
    let receivedMs = 0;
    const stream = await collectStream(session.ws_url, {
      onMessage: (_ws, message) => {
        if (message.type !== 'audio') return;
        receivedMs += (Buffer.from(message.data, 'base64').length / 2 / 8000) * 1000;
        arrivals.push({ at: performance.now() - started, endMs: receivedMs });
      },
    });
    expect(stream.closeCode).toBe(1000);
    for (const { at, endMs } of arrivals) expect(endMs - at).toBeLessThan(300 + 150);
    expect(stream.totalMs).toBeGreaterThan(expectedSeconds(TEXT) * 1000 - 400);
  });
});

describe('Word timings on the session stream (?timings=words)', () => {
  let gw: RunningApp;

  beforeAll(async () => {
    gw = await startApp({ PROVIDERS: 'mock_tone,espeak', DEFAULT_PROVIDER: 'mock_tone' });
  });

  afterAll(async () => {
    await gw.close();
  });

  const timed = async (body: Record<string, unknown>) => {
    const session = await createSession(gw.baseUrl, {
      target_format: 'pcm16',
      sample_rate_hz: 16000,
      ...body,
    });
    const order: Array<{ kind: string; at: number }> = [];
    let bytes = 0;
    const stream = await collectStream(`${session.ws_url}?timings=words`, {
      onMessage: (_ws, message) => {
        if (message.type === 'audio') bytes += Buffer.from(message.data, 'base64').length;
        else order.push({ kind: message.type, at: (bytes / 2 / 16000) * 1000 });
      },
    });
    expect(stream.closeCode).toBe(1000);
    const timings = stream.control.filter((m) => m.type === 'timings');
    return { stream, timings, order, totalMs: (stream.bytes.length / 2 / 16000) * 1000 };
  };

  it('should send exact (native) tone timings before the audio they cover, with offsets into the text as sent', async () => {
    const text = '  Hello   world.  How are\tyou today?';
    const { timings, order, totalMs } = await timed({ text });
    expect(timings.length).toBe(2); // one per sentence
    const words = timings.flatMap((t) => t.words);
    expect(timings.every((t) => t.source === 'native')).toBe(true);
    expect(words.map((w: any) => w.text)).toEqual(['Hello', 'world', 'How', 'are', 'you', 'today']);
    for (const w of words) expect(text.slice(w.text_start, w.text_end)).toBe(w.text);
    for (let i = 1; i < words.length; i++)
      expect(words[i].start_ms).toBeGreaterThanOrEqual(words[i - 1].end_ms);
    expect(words.at(-1).end_ms).toBeLessThanOrEqual(totalMs + 1);
    // Each timings message arrives before the audio of its first word.
    const timingMessages = order.filter((o) => o.kind === 'timings');
    timings.forEach((t, i) => expect(timingMessages[i].at).toBeLessThanOrEqual(t.words[0].start_ms + 1));
  });

  it('should map a markdown session’s word timings into the markdown as sent', async () => {
    const text = '## Two **bold** steps\n\n1. Open [the docs](https://example.com/x).\n2. Run `reset` now.';
    const { timings } = await timed({ text, text_format: 'markdown' });
    const words = timings.flatMap((t) => t.words);
    expect(words.length).toBeGreaterThan(5);
    for (const w of words) expect(text.slice(w.text_start, w.text_end)).toBe(w.text);
    expect(words.map((w: any) => w.text)).toEqual(
      expect.arrayContaining(['Two', 'bold', 'steps', 'Open', 'docs']),
    );
    expect(words.some((w: any) => /example|https/.test(w.text))).toBe(false);
  });

  it('should estimate espeak timings within each sentence’s audio, monotonic across sentences', async () => {
    const { timings, totalMs } = await timed({
      provider: 'espeak',
      voice: 'en-us',
      text: 'The quick brown fox jumps. It lands on the lazy dog, twice.',
    });
    const words = timings.flatMap((t) => t.words);
    expect(timings.every((t) => t.source === 'estimated')).toBe(true);
    expect(words.length).toBe(12);
    for (let i = 1; i < words.length; i++)
      expect(words[i].start_ms).toBeGreaterThanOrEqual(words[i - 1].end_ms);
    expect(words[0].start_ms).toBeGreaterThanOrEqual(0);
    expect(words.at(-1).end_ms).toBeLessThanOrEqual(totalMs);
  });
});
