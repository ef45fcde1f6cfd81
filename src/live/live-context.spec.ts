import { WebSocket } from 'ws';
import type { SynthesisPlan } from '../synthesis/synthesis.types';
import type { PcmPiece, TtsService } from '../synthesis/tts.service';
import { FairSender } from './fair-sender';
import { LiveContext, type ContextHost, type LiveDeps } from './live-context';
import type { ContextSettings, LiveSettingsInput, LiveSettingsResolver } from './live-settings';

const RATE = 24000;

/** Everything that reached the "socket", in order: control frames as objects, audio as `audio:<seq>`. */
type Wire = ({ type: string } & Record<string, any>)[];

/**
 * A fake engine: 100 ms of tone per word, in 50 ms chunks, or with `hang` one chunk and then nothing until
 * aborted. The encoder passes PCM through as bytes (pcm16 at the engine rate), like the real one does.
 */
function fakeTts(options: { hang?: boolean; aborted?: AbortSignal[] } = {}): TtsService {
  return {
    async *pcm(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
      options.aborted?.push(signal);
      // SSML segments (one per live item): their marks first, then the words, then their break.
      const segment = plan.segments?.[0];
      for (const mark of segment?.marks ?? [])
        yield { chunk: { pcm: new Int16Array(0), sampleRate: RATE }, provider: 'espeak', mark: mark.name };
      const text = plan.attempts[0].request.text;
      const words = text ? text.split(' ').length : 0;
      for (let i = 0; i < words * 2; i++) {
        signal.throwIfAborted();
        const pcm = new Int16Array(RATE / 20).map((_, k) => Math.round(8000 * Math.sin(k / 3)));
        yield { chunk: { pcm, sampleRate: RATE }, provider: 'espeak' };
        await new Promise((r) => setImmediate(r));
        // Aborted while this engine waited for its turn: an abort event would never come again.
        if (options.hang)
          await new Promise((_, reject) => {
            if (signal.aborted) reject(signal.reason as Error);
            else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
          });
      }
      if (segment?.breakAfterMs)
        yield {
          chunk: { pcm: new Int16Array((RATE * segment.breakAfterMs) / 1000), sampleRate: RATE },
          provider: 'espeak',
        };
    },
    async *encode(pieces: AsyncIterable<PcmPiece>) {
      let samples = 0;
      for await (const { chunk, provider } of pieces) {
        samples += chunk.pcm.length;
        yield {
          data: new Uint8Array(chunk.pcm.buffer.slice(0)),
          providerId: provider,
          audioMs: (samples / RATE) * 1000,
        };
      }
    },
  } as unknown as TtsService;
}

const SETTINGS: ContextSettings = {
  provider: 'espeak',
  voice: 'en-us',
  language: 'en-US',
  format: 'pcm16',
  sampleRate: RATE,
  speed: 1,
  timings: true,
  attempts: [
    { providerId: 'espeak', request: { text: '', voice: {} as never, language: 'en-US', speed: 1 } },
  ],
};

function setup(
  tts: TtsService,
  settings: Partial<ContextSettings> = {},
  othersBuffered = 0,
  input: LiveSettingsInput = {},
) {
  const wire: Wire = [];
  const socket = {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    send: (payload: string) => {
      const m = JSON.parse(payload);
      wire.push({ type: `audio:${m.seq}`, bytes: Buffer.from(m.data, 'base64').length });
    },
  };
  let buffered = othersBuffered;
  const released: LiveContext[] = [];
  const host: ContextHost = {
    connectionId: 'c',
    caller: { id: '127.0.0.1' },
    binary: false,
    sender: new FairSender(
      socket as unknown as WebSocket,
      { highWaterBytes: 1 << 20, stallTimeoutMs: 1000 },
      () => {},
    ),
    get bufferedTextBytes() {
      return buffered;
    },
    adjustBufferedText: (d) => (buffered += d),
    sendJson: (m) => wire.push(m as Wire[number]),
    released: (c) => released.push(c),
  };
  const metric = { inc: () => {}, dec: () => {}, observe: () => {} };
  const deps = {
    tts,
    runs: { start: () => ({ sent: () => {}, end: () => {} }) },
    settings: {
      resolve: () => Promise.resolve({ ...SETTINGS, ...settings }),
    } as unknown as LiveSettingsResolver,
    charBudget: { take: () => Promise.resolve({ ok: true }) },
    usage: { assertAllowed: () => {}, spendCharacters: () => Promise.resolve(), record: () => {} },
    config: {
      maxContexts: 5,
      idleGapMs: 30,
      maxContextTextBytes: 10000,
      maxBufferedTextBytes: 10000,
      contextIdleTimeoutMs: 60000,
      charsPerMinute: 0,
      clientMessagesPerSecond: 100,
    },
    limits: { maxAudioSeconds: 60 },
    metrics: {
      activeContexts: metric,
      sentenceTtfa: metric,
      clearLatency: metric,
      sentences: metric,
      rateLimited: metric,
    },
    logger: { warn: () => {}, info: () => {} },
  } as unknown as LiveDeps;
  const context = new LiveContext('ctx', input, host, deps, () => {});
  return { context, wire, released, buffered: () => buffered };
}

const types = (wire: Wire) => wire.map((m) => (m.type.startsWith('audio:') ? 'audio' : m.type));
/** Consecutive duplicates collapsed: ['timings', 'audio', 'audio', 'flushed'] → ['timings', 'audio', 'flushed']. */
const shape = (wire: Wire) => types(wire).filter((t, i, all) => t !== all[i - 1]);

describe(LiveContext.name, () => {
  it('should send each sentence’s timings before its audio, flushed after the flushed audio, eos last', async () => {
    const { context, wire } = setup(fakeTts());
    context.text('One two three. Four');
    context.text(' five');
    context.flush();
    context.text('Six seven.');
    context.end();
    await context.done;
    expect(shape(wire)).toEqual([
      'timings',
      'audio',
      'timings',
      'audio',
      'flushed',
      'timings',
      'audio',
      'eos',
    ]);
    const audio = wire.filter((m) => m.type.startsWith('audio:'));
    expect(audio.map((m) => m.type)).toEqual(audio.map((_, i) => `audio:${i + 1}`));
    const eos = wire.at(-1)!;
    expect(eos).toMatchObject({ type: 'eos', context_id: 'ctx', chunks: audio.length });
    // Offsets are into the text as sent, across messages.
    const words = wire.filter((m) => m.type === 'timings').flatMap((m) => m.words);
    const sent = 'One two three. Four five' + 'Six seven.';
    expect(words.map((w) => sent.slice(w.text_start, w.text_end))).toEqual(words.map((w) => w.text));
    expect(words.map((w) => w.text)).toEqual(['One', 'two', 'three', 'Four', 'five', 'Six', 'seven']);
  });

  it('should put a pause between sentences (counted in the timings) and none after the last', async () => {
    const { context, wire } = setup(fakeTts());
    context.text('The first one is here. The second one is there.');
    context.end();
    await context.done;
    const [first, second] = wire.filter((m) => m.type === 'timings');
    // Each sentence is 5 words × 100 ms of tone; a period is followed by 220 ms of pause.
    expect(second.words[0].start_ms).toBeGreaterThanOrEqual(first.words.at(-1).end_ms + 200);
    const bytes = wire.filter((m) => m.type.startsWith('audio:')).reduce((n, m) => n + m.bytes, 0);
    expect(Math.abs((bytes / 2 / RATE) * 1000 - (500 + 220 + 500))).toBeLessThan(20);
  });

  it('should speak a partial sentence after the idle gap', async () => {
    const { context, wire } = setup(fakeTts(), { timings: false });
    context.text('Hmm let me');
    await new Promise((r) => setTimeout(r, 100));
    expect(types(wire)).toContain('audio');
    context.end();
    await context.done;
  });

  it('should fail the context (not the socket) when the socket holds too much text not yet spoken', async () => {
    // Other contexts of the socket hold 9990 of the 10000 bytes allowed.
    const { context, wire } = setup(fakeTts(), {}, 9990);
    context.text('This text is twenty-six b.');
    await context.done;
    expect(wire).toEqual([
      expect.objectContaining({ type: 'error', context_id: 'ctx', code: 'payload_too_large' }),
    ]);
    expect(wire[0].message).toMatch(/LIVE_MAX_BUFFERED_TEXT_BYTES/);
  });

  it('should stop at once on clear: cleared after the last audio, nothing after, engine aborted', async () => {
    const aborted: AbortSignal[] = [];
    const { context, wire, released, buffered } = setup(fakeTts({ hang: true, aborted }), { timings: false });
    context.text('One two three four. Five six seven eight. Nine');
    for (let i = 0; i < 200 && !types(wire).includes('audio'); i++)
      await new Promise((r) => setTimeout(r, 5));
    context.clear(performance.now());
    const at = wire.length;
    expect(wire.at(-1)).toEqual({ type: 'cleared', context_id: 'ctx' });
    expect(released).toEqual([context]);
    await context.done;
    await new Promise((r) => setTimeout(r, 50));
    expect(wire.length).toBe(at);
    expect(aborted.length).toBeGreaterThan(0);
    expect(aborted.every((s) => s.aborted)).toBe(true);
    expect(buffered()).toBe(0);
  });

  it('should render SSML per segment: the boundary pause first, marks as frames between their audio', async () => {
    const { context, wire } = setup(fakeTts(), { timings: false }, 0, { text_format: 'ssml' });
    for (const piece of ['<speak><p>One two ', 'three.</p><p><mark na', 'me="m"/>Four five six.</p>'])
      context.text(piece);
    context.text('<break time="100ms"/></speak>');
    context.end();
    await context.done;
    expect(shape(wire)).toEqual(['audio', 'mark', 'audio', 'eos']);
    const mark = wire.find((m) => m.type === 'mark')!;
    const before = wire.slice(0, wire.indexOf(mark)).reduce((n, m) => n + (m.bytes ?? 0), 0);
    // Three words (300 ms), then the paragraph's 700 ms pause, then the mark.
    expect(mark).toEqual({ type: 'mark', context_id: 'ctx', name: 'm', start_ms: 1000 });
    expect((before / 2 / RATE) * 1000).toBe(1000);
    // And the break at the end: 300 + 700 + 300 + 100 ms.
    expect(wire.at(-1)).toMatchObject({ type: 'eos', audio_duration_ms: 1400 });
  });

  it('should end the context with validation_failed on invalid SSML, naming where', async () => {
    const { context, wire } = setup(fakeTts(), {}, 0, { text_format: 'ssml' });
    context.text('Fine so far. <emphasis>then');
    context.text(' wrong</prosody>');
    await context.done;
    expect(wire.at(-1)).toMatchObject({ type: 'error', context_id: 'ctx', code: 'validation_failed' });
    expect(wire.at(-1)!.message).toMatch(/invalid SSML in context "ctx" at character 33 .*<\/prosody>/);
  });
});
