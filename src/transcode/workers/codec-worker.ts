/**
 * Entry point of a codec worker thread (loaded by CodecWorkerPool through a tiny eval bootstrap, which
 * registers ts-node first when the pool itself runs from TypeScript sources).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { useOpusAddon } from '../codecs/opus-binding';
import { CodecHost } from './codec-host';
import type { CodecRequest, CodecWorkerData, FromWorker, ToWorker } from './codec-protocol';

if (!parentPort) throw new Error('codec-worker.ts must run in a worker thread');
const port = parentPort;
const data = workerData as CodecWorkerData;

if (data.nice) lowerThreadPriority(data.nice);

const host = new CodecHost((replies, transfer) => {
  port.postMessage({ type: 'replies', replies } satisfies FromWorker, transfer);
});

port.on('message', (first: ToWorker) => {
  // Everything already queued is handled as one batch, so the host's ordering (streams without audio
  // first) spans all of it; other messages keep their place relative to the requests around them.
  let requests: CodecRequest[] = [];
  for (let message: ToWorker | undefined = first; message;) {
    if (message.type === 'batch') {
      for (const request of message.requests) requests.push(request);
    } else {
      if (requests.length > 0) host.handle(requests);
      requests = [];
      control(message);
    }
    message = receiveMessageOnPort(port)?.message as ToWorker | undefined;
  }
  if (requests.length > 0) host.handle(requests);
});

function control(message: Exclude<ToWorker, { type: 'batch' }>): void {
  switch (message.type) {
    case 'warm-up':
      // A failed warm-up is not fatal: the first stream retries and reports the error itself.
      host.warmUp(message.codecs).catch((error: unknown) => {
        process.emitWarning(`codec worker warm-up failed: ${String(error)}`);
      });
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
