/** Process-level measurements for the benchmark (Linux /proc where Node has no API). */
import { readFileSync, readdirSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const CLOCK_TICK_S = 0.01; // USER_HZ: 100 on every Linux build Node supports

function statFields(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' '); // index 0 = field 3 (state)
}

/** CPU seconds of this process (all threads) and of its waited-for children. */
export function cpuSeconds(): { self: number; children: number } {
  const usage = process.cpuUsage();
  let children = 0;
  try {
    const f = statFields('/proc/self/stat');
    children = (Number(f[13]) + Number(f[14])) * CLOCK_TICK_S; // cutime + cstime
  } catch {
    children = 0; // not Linux: child CPU is not measured
  }
  return { self: (usage.user + usage.system) / 1e6, children };
}

/** CPU seconds of the calling thread (the event loop when called from the main thread). */
export function threadCpuSeconds(): number {
  try {
    const f = statFields('/proc/thread-self/stat');
    return (Number(f[11]) + Number(f[12])) * CLOCK_TICK_S;
  } catch {
    return Number.NaN;
  }
}

/** Runs `fn` and returns its CPU seconds, counting this process and the children it waited for. */
export async function cpuOf(fn: () => Promise<void>): Promise<{ cpu: number; wall: number }> {
  const c0 = cpuSeconds();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const c1 = cpuSeconds();
  return { cpu: c1.self - c0.self + (c1.children - c0.children), wall };
}

/** Live child processes of this process. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(statFields(`/proc/${name}/stat`)[1]) === process.pid) pids.push(Number(name));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

/** Proportional set size of a process in bytes (shared pages split between sharers), 0 if gone. */
export function pssBytes(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function childrenPss(): number {
  return childPids().reduce((sum, pid) => sum + pssBytes(pid), 0);
}

/** Samples `probe` every `everyMs` until stopped; returns the maximum seen. */
export function sampleMax(probe: () => number, everyMs: number): { stop(): number } {
  let max = probe();
  const timer = setInterval(() => (max = Math.max(max, probe())), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, probe());
    },
  };
}

export function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect) {
    collect();
    collect();
  }
}

export const MiB = 1024 * 1024;
