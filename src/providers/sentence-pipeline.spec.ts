import { setImmediate as tick } from 'node:timers/promises';
import { sleep } from '../common/abort';
import type { AudioChunk } from './provider.contract';
import { PAUSE_MS, synthesizeSegments, type SegmentSynthesizer } from './sentence-pipeline';
import { splitSentences, type TextSegment } from './text/sentence-splitter';

const RATE = 24000;
const segs = (n: number, end: TextSegment['end'] = 'period'): TextSegment[] =>
  Array.from({ length: n }, (_, i) => ({ text: `Sentence ${i}.`, end }));

/** Sine at `hz` and `amplitude` for `ms`, starting and ending abruptly at a non-zero phase. */
function tone(ms: number, hz: number, amplitude: number, phase = 1): Int16Array {
  const n = Math.round((RATE * ms) / 1000);
  return Int16Array.from({ length: n }, (_, i) =>
    Math.round(amplitude * Math.sin(phase + (2 * Math.PI * hz * i) / RATE)),
  );
}

async function collect(iterable: AsyncIterable<AudioChunk>): Promise<Int16Array> {
  const parts: number[] = [];
  for await (const chunk of iterable) {
    expect(chunk.sampleRate).toBe(RATE);
    for (const s of chunk.pcm) parts.push(s);
  }
  return Int16Array.from(parts);
}

/** A fake engine whose segments finish only when the test opens their gate; it records what it was asked. */
class GatedSynthesizer {
  readonly started: number[] = [];
  readonly aborted: number[] = [];
  active = 0;
  maxActive = 0;
  private readonly gates = new Map<number, () => void>();
  private readonly opened = new Set<number>();

  readonly synthesize: SegmentSynthesizer = (_segment, index, signal) => this.run(index, signal);

  open(index: number): void {
    this.opened.add(index);
    this.gates.get(index)?.();
  }

  private async *run(index: number, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    this.started.push(index);
    this.maxActive = Math.max(this.maxActive, ++this.active);
    try {
      if (!this.opened.has(index)) {
        await new Promise<void>((resolve, reject) => {
          this.gates.set(index, resolve);
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        });
      }
      yield { pcm: new Int16Array(480).fill((index + 1) * 1000), sampleRate: RATE };
      yield { pcm: new Int16Array(480).fill((index + 1) * 1000), sampleRate: RATE };
    } catch (error) {
      this.aborted.push(index);
      throw error;
    } finally {
      this.active--;
    }
  }
}

describe('synthesizeSegments', () => {
  it('should yield every segment in order even when later segments finish first', async () => {
    const engine = new GatedSynthesizer();
    const out = collect(
      synthesizeSegments(segs(5), engine.synthesize, new AbortController().signal, { shaping: false }),
    );
    for (const i of [4, 3, 2, 1, 0]) {
      await tick();
      engine.open(i);
    }
    const pcm = await out;
    const markers = [...pcm].filter((s) => s !== 0).map((s) => s / 1000 - 1);
    expect([...new Set(markers)]).toEqual([0, 1, 2, 3, 4]);
    expect(markers).toEqual([...markers].sort((a, b) => a - b));
  });

  it('should deliver the first audio of a long text after only the first segment is done, with a bounded look-ahead', async () => {
    const engine = new GatedSynthesizer();
    const iterator = synthesizeSegments(segs(60), engine.synthesize, new AbortController().signal, {
      lookAhead: 2,
      shaping: false,
    })[Symbol.asyncIterator]();
    const first = iterator.next();
    await tick();
    expect(engine.started).toEqual([0, 1, 2]);
    engine.open(0);
    const chunk = await first;
    expect(chunk.value?.pcm[0]).toBe(1000);
    // Segments 1 and 2 are still being synthesized, nothing beyond the look-ahead was started.
    expect(engine.started).toEqual([0, 1, 2]);
    expect(engine.active).toBe(2);
    await iterator.return(undefined);
  });

  it('should never run more than lookAhead + 1 segments, however slow the consumer', async () => {
    const engine = new GatedSynthesizer();
    for (let i = 0; i < 20; i++) engine.open(i);
    let maxAhead = 0;
    for await (const chunk of synthesizeSegments(segs(20), engine.synthesize, new AbortController().signal, {
      lookAhead: 1,
      shaping: false,
    })) {
      const playing = chunk.pcm[0] / 1000 - 1;
      if (playing >= 0) maxAhead = Math.max(maxAhead, Math.max(...engine.started) - playing);
      await tick();
    }
    expect(engine.started).toHaveLength(20);
    expect(maxAhead).toBe(1);
    expect(engine.maxActive).toBeLessThanOrEqual(2);
  });

  it('should abort every in-flight segment when the signal aborts', async () => {
    const engine = new GatedSynthesizer();
    const controller = new AbortController();
    const run = collect(synthesizeSegments(segs(10), engine.synthesize, controller.signal, { lookAhead: 2 }));
    await tick();
    expect(engine.active).toBe(3);
    controller.abort(new Error('client went away'));
    await expect(run).rejects.toThrow('client went away');
    expect(engine.active).toBe(0);
    expect(engine.aborted.sort()).toEqual([0, 1, 2]);
  });

  it('should abort the look-ahead when the consumer stops early', async () => {
    const engine = new GatedSynthesizer();
    engine.open(0);
    for await (const chunk of synthesizeSegments(segs(10), engine.synthesize, new AbortController().signal)) {
      expect(chunk.pcm.length).toBeGreaterThan(0);
      break;
    }
    expect(engine.active).toBe(0);
    expect(engine.aborted.sort()).toEqual([1, 2]);
  });

  it('should play the segments before a failed one, then throw its error', async () => {
    const failing: SegmentSynthesizer = async function* (_segment, index) {
      if (index === 2) throw new Error('engine failed on segment 2');
      yield { pcm: new Int16Array(240).fill(5000), sampleRate: RATE };
      await sleep(1);
    };
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const chunk of synthesizeSegments(segs(4), failing, new AbortController().signal, {
          shaping: false,
        })) {
          if (chunk.pcm[0] !== 0) seen.push(chunk.pcm.length);
        }
      })(),
    ).rejects.toThrow('engine failed on segment 2');
    expect(seen).toEqual([240, 240]);
  });

  describe('seams', () => {
    // Each segment: 120 ms of engine padding (faint noise), a tone that swells in and decays over 3 ms like
    // speech does, then 300 ms of padding.
    const padded: SegmentSynthesizer = async function* (_segment, index) {
      await tick(); // a real engine is asynchronous
      const noise = (ms: number) =>
        Int16Array.from({ length: (RATE * ms) / 1000 }, (_, i) => ((i * 7919) % 41) - 20);
      yield { pcm: noise(120), sampleRate: RATE };
      const body = tone(400, 180 + 40 * index, 12000, 1 + index);
      const ramp = 72;
      for (let k = 0; k < ramp; k++) {
        body[k] = Math.round((body[k] * k) / ramp);
        body[body.length - 1 - k] = Math.round((body[body.length - 1 - k] * k) / ramp);
      }
      for (let at = 0; at < body.length; at += 1000)
        yield { pcm: body.slice(at, at + 1000), sampleRate: RATE };
      yield { pcm: noise(300), sampleRate: RATE };
    };

    it('should have no discontinuity: no sample-to-sample jump larger than inside the tones', async () => {
      // The worst case for a seam: engine audio that starts and stops mid-waveform at full level.
      const abrupt: SegmentSynthesizer = async function* (_segment, index) {
        await tick(); // a real engine is asynchronous
        yield { pcm: tone(300, 180 + 40 * index, 12000, 1 + index), sampleRate: RATE };
      };
      for (const synthesizer of [abrupt, padded]) {
        const pcm = await collect(synthesizeSegments(segs(4), synthesizer, new AbortController().signal));
        let natural = 0;
        for (let i = 0; i < 4; i++) {
          const t = tone(400, 180 + 40 * i, 12000);
          for (let k = 1; k < t.length; k++) natural = Math.max(natural, Math.abs(t[k] - t[k - 1]));
        }
        // Inside a tone the jumps are at most `natural`; anything larger is a click at a seam or an edge.
        let worst = 0;
        for (let k = 1; k < pcm.length; k++) worst = Math.max(worst, Math.abs(pcm[k] - pcm[k - 1]));
        expect(worst).toBeLessThanOrEqual(natural * 1.25);
        expect(Math.abs(pcm[0])).toBeLessThan(200);
        expect(Math.abs(pcm[pcm.length - 1])).toBeLessThan(200);
      }
    });

    it('should trim engine padding and put a consistent pause, scaled by punctuation and speed, between segments', async () => {
      const gaps = async (end: TextSegment['end'], speed: number) => {
        const pcm = await collect(
          synthesizeSegments(segs(3, end), padded, new AbortController().signal, { speed }),
        );
        const loud = [...pcm].map((s) => Math.abs(s) > 2000);
        const runs: number[] = [];
        let quiet = 0;
        let seenLoud = false;
        for (const l of loud) {
          if (l) {
            if (seenLoud && quiet > RATE * 0.05) runs.push(quiet);
            quiet = 0;
            seenLoud = true;
          } else quiet++;
        }
        // Leading and trailing padding are trimmed to a few tens of ms.
        expect(loud.indexOf(true)).toBeLessThan(RATE * 0.03);
        expect(loud.length - 1 - loud.lastIndexOf(true)).toBeLessThan(RATE * 0.06);
        return runs.map((n) => (n / RATE) * 1000);
      };
      const periods = await gaps('period', 1);
      expect(periods).toHaveLength(2);
      for (const ms of periods) expect(ms).toBeGreaterThan(PAUSE_MS.period);
      for (const ms of periods) expect(ms).toBeLessThan(PAUSE_MS.period + 80);
      const questions = await gaps('question', 1);
      expect(questions[0]).toBeGreaterThan(periods[0]);
      const fast = await gaps('period', 2);
      expect(fast[0]).toBeLessThan(periods[0] - PAUSE_MS.period / 2 + 10);
    });
  });

  it('should work on the segments of a real text', async () => {
    const text = 'First sentence here. Second one follows! And a third, with a clause? Done.';
    const seen: string[] = [];
    const echo: SegmentSynthesizer = async function* (segment) {
      await tick(); // a real engine is asynchronous
      seen.push(segment.text);
      yield { pcm: tone(50, 200, 8000), sampleRate: RATE };
    };
    await collect(synthesizeSegments(splitSentences(text), echo, new AbortController().signal));
    expect(seen.join(' ')).toBe(text);
  });
});
