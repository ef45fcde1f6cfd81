import type { ServerResponse } from 'node:http';

/**
 * Watches a streamed HTTP response for a client that stopped reading: when the body has waited on a full
 * socket buffer (`writableNeedDrain`) for longer than `stallMs`, `onStall` runs (the caller destroys the
 * response (its socket), which aborts the synthesis and frees its engine process). Without it a client that never reads
 * would keep an engine and an encoder alive forever, since the pipeline is pull-based and simply pauses.
 * Returns the function that stops watching.
 */
export function watchResponseStall(
  response: ServerResponse,
  stallMs: number,
  onStall: () => void,
): () => void {
  let blockedSince: number | undefined;
  const timer = setInterval(
    () => {
      if (!response.writableNeedDrain) {
        blockedSince = undefined;
        return;
      }
      blockedSince ??= performance.now();
      if (performance.now() - blockedSince >= stallMs) {
        clearInterval(timer);
        onStall();
      }
    },
    Math.max(50, Math.min(1000, Math.floor(stallMs / 4))),
  );
  timer.unref();
  const stop = () => clearInterval(timer);
  response.once('close', stop);
  return stop;
}
