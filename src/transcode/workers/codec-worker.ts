/**
 * Entry point of a codec worker thread (loaded by CodecWorkerPool through a tiny eval bootstrap, which
 * registers ts-node first when the pool itself runs from TypeScript sources).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { useOpusAddon } from '../codecs/opus-binding';
import { CodecHost } from './codec-host';
import type { CodecWorkerData, FromWorker, ToWorker } from './codec-protocol';

if (!parentPort) throw new Error('codec-worker.ts must run in a worker thread');
const port = parentPort;
const data = workerData as CodecWorkerData;

/**
 * The thread runs at the event loop's priority until its warm-up is done: the streams that started it are
 * waiting for it then (under a burst, at nice 5 it took some 30 ms longer to become ready).
 */
let niced = false;
function settlePriority(): void {
  if (niced || !data.nice) return;
  niced = true;
  lowerThreadPriority(data.nice);
}

const host = new CodecHost((replies, transfer) => {
  port.postMessage({ type: 'replies', replies } satisfies FromWorker, transfer);
});

/** A control message met while taking arrivals mid-run: it waits until the requests queued before it are done. */
let stashed: ToWorker | undefined;

const receive = (): ToWorker | undefined => receiveMessageOnPort(port)?.message as ToWorker | undefined;

/** Called by the host between requests: queues the batches that arrived, up to the next control message. */
function takeArrivals(): void {
  while (!stashed) {
    const message = receive();
    if (!message) return;
    if (message.type === 'batch') host.enqueue(message.requests);
    else stashed = message;
  }
}

port.on('message', (first: ToWorker) => {
  // Everything already queued is taken in before serving, so the host's ordering (streams without audio
  // first) spans all of it; control messages keep their place relative to the requests around them.
  let message: ToWorker | undefined = first;
  for (;;) {
    if (!message) {
      host.run(takeArrivals);
      if (!stashed) return;
      message = stashed;
      stashed = undefined;
    }
    if (message.type === 'batch') {
      host.enqueue(message.requests);
    } else {
      host.run();
      control(message);
    }
    message = receive();
  }
});

function control(message: Exclude<ToWorker, { type: 'batch' }>): void {
  switch (message.type) {
    case 'warm-up':
      // A failed warm-up is not fatal: the first stream retries and reports the error itself.
      host
        .warmUp(message.codecs)
        .catch((error: unknown) => {
          process.emitWarning(`codec worker warm-up failed: ${String(error)}`);
        })
        .finally(settlePriority);
      break;
    case 'opus-addon':
      // Arrives before this thread's first Opus open: every encoder here then writes into this copy's buffer.
      useOpusAddon(message.file);
      break;
    case 'stats':
      port.postMessage({
        type: 'stats',
        token: message.token,
        streams: host.streamCount,
        heapUsed: process.memoryUsage().heapUsed,
      } satisfies FromWorker);
      break;
  }
}

/**
 * Linux applies nice values per thread: renicing this thread (found through /proc/thread-self) makes the
 * kernel prefer the main event loop when the cores are busy, so socket I/O and timers stay on time while
 * encoding soaks up the remaining CPU. Elsewhere this is skipped; it is only a scheduling hint.
 */
function lowerThreadPriority(nice: number): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch (error) {
    process.emitWarning(`codec worker could not lower its priority: ${String(error)}`);
  }
}
