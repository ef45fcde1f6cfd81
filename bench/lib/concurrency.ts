/**
 * N concurrent real-time streams through TranscodeService, as the gateway runs them: the streams open at
 * random times within the first second; each then has its own timer that hands it the next 40 ms of 24 kHz
 * PCM exactly every 40 ms (drift-free schedule), awaits the encoded bytes, and counts the chunk as late if
 * those bytes are not ready by the time the next chunk is due. Measured once every stream has run for a
 * second; meanwhile the event loop's responsiveness is sampled with monitorEventLoopDelay.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AudioFormat } from '../../src/transcode/audio-format';
import type { TranscodeService } from '../../src/transcode/transcode.service';
import { INPUT_RATE, chunks40 } from './input';
import { cpuSeconds, gc, sleep, threadCpuSeconds } from './measure';

const CHUNK_MS = 40;
/** monitorEventLoopDelay records the interval between its timer's runs, so idle reads as the resolution. */
const LOOP_RESOLUTION_MS = 2;
/** Streams open at random times over this window... */
const ARRIVAL_MS = 1000;
/** ...and are measured from this long after the last one opened (encoder creation, JIT warm-up). */
const WARM_UP_MS = 1000;

export interface ConcurrencyResult {
  readonly streams: number;
  readonly seconds: number;
  readonly chunks: number;
  readonly late: number;
  /** Worst time from a chunk's due time to its encoded bytes, ms. */
  readonly worstChunkMs: number;
  readonly loopP50: number;
  readonly loopP99: number;
  readonly loopMax: number;
  /** CPU cores used on average: whole process (all threads) and the event-loop thread alone. */
  readonly cores: number;
  readonly mainCores: number;
  /** Runs it took (the bench retries a count once when other jobs on the machine made chunks late). */
  readonly attempts?: number;
}

export async function realTimeStreams(
  service: TranscodeService,
  pcm: Int16Array,
  opts: { streams: number; seconds: number; format?: AudioFormat; rate?: number },
): Promise<ConcurrencyResult> {
  const format = opts.format ?? 'mp3';
  const rate = opts.rate ?? 24000;
  const chunks = chunks40(pcm);
  gc();
  await sleep(50);

  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let late = 0;
  let counted = 0;
  let worst = 0;
  const start = performance.now() + 50;
  const measureFrom = start + ARRIVAL_MS + WARM_UP_MS;
  const end = measureFrom + opts.seconds * 1000;
  let measureStart = { cpu: 0, main: 0, wall: 0 };
  const opened = setTimeout(() => {
    histogram.enable();
    measureStart = { cpu: cpuSeconds().self, main: threadCpuSeconds(), wall: performance.now() };
  }, measureFrom - performance.now());

  const runStream = async (index: number): Promise<void> => {
    // Sessions arrive at random times over the first second, as they would on a live gateway.
    const begin = start + Math.random() * ARRIVAL_MS;
    await sleep(begin - performance.now());
    const stream = service.openStream({ format, sampleRate: rate });
    const offset = (index * 137) % chunks.length;
    try {
      for (let k = 0; begin + k * CHUNK_MS < end; k++) {
        const due = begin + k * CHUNK_MS;
        await sleep(Math.max(0, due - performance.now()));
        await stream.write({ pcm: chunks[(offset + k) % chunks.length], sampleRate: INPUT_RATE });
        if (due >= measureFrom) {
          const lateness = performance.now() - due;
          counted++;
          worst = Math.max(worst, lateness);
          if (lateness > CHUNK_MS) late++;
        }
      }
      await stream.end();
    } finally {
      stream.dispose();
    }
  };

  await Promise.all(Array.from({ length: opts.streams }, (_, i) => runStream(i)));
  clearTimeout(opened);
  histogram.disable();
  const cpuEnd = cpuSeconds().self;
  const wall = (performance.now() - measureStart.wall) / 1000;
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  return {
    streams: opts.streams,
    seconds: opts.seconds,
    chunks: counted,
    late,
    worstChunkMs: worst,
    loopP50: ms(histogram.percentile(50)),
    loopP99: ms(histogram.percentile(99)),
    loopMax: ms(histogram.max),
    cores: (cpuEnd - measureStart.cpu) / wall,
    mainCores: (threadCpuSeconds() - measureStart.main) / wall,
  };
}
