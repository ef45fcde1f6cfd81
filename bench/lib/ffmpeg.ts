/** The ffmpeg baselines: one process per 40 ms chunk (what the old gateway did) and one per whole file. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFile } from '../../src/transcode/testing/audio-check';
import { INPUT_RATE, chunks40 } from './input';
import { MiB, cpuOf, median, pssBytes } from './measure';

const INPUT_ARGS = [
  '-hide_banner',
  '-nostdin',
  '-v',
  'error',
  '-f',
  's16le',
  '-ar',
  String(INPUT_RATE),
  '-ac',
  '1',
];

interface RunResult {
  readonly output: Buffer;
  readonly firstByteMs: number;
  readonly peakPss: number;
}

/** Runs ffmpeg on `input` (stdin bytes or a file), collecting stdout and sampling its PSS. */
function runFfmpeg(args: string[], stdin?: ArrayBufferView): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const parts: Buffer[] = [];
    let firstByteMs = Number.NaN;
    let peakPss = 0;
    let stderr = '';
    const sampler = setInterval(() => (peakPss = Math.max(peakPss, pssBytes(child.pid ?? -1))), 20);
    child.stdout.on('data', (b: Buffer) => {
      if (parts.length === 0) firstByteMs = performance.now() - t0;
      parts.push(b);
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      if (code !== 0) reject(new Error(`ffmpeg exited ${String(code)}: ${stderr}`));
      else resolve({ output: Buffer.concat(parts), firstByteMs, peakPss });
    });
    if (stdin) child.stdin.end(Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength));
    else child.stdin.end();
  });
}

export interface BaselineResult {
  readonly xrt: number;
  readonly firstByteMs: number;
  readonly memMiB: number;
  /** Decoded duration of the output over the input duration (per-chunk output is too long for MP3). */
  readonly durationRatio?: number;
  readonly kbps?: number;
}

/** Writes the input where ffmpeg can read it as a file. */
export function inputFile(dir: string, pcm: Int16Array): string {
  const file = join(dir, 'input.s16le');
  writeFileSync(file, pcm);
  return file;
}

/** One round of ffmpeg encoding the whole file at once: the practical throughput limit of the same codec. */
export async function wholeFileRound(
  file: string,
  seconds: number,
  out: readonly string[],
): Promise<{ xrt: number; memMiB: number; kbps: number }> {
  let result: RunResult | undefined;
  const { cpu } = await cpuOf(async () => {
    result = await runFfmpeg([...INPUT_ARGS, '-i', file, ...out, 'pipe:1']);
  });
  return {
    xrt: seconds / cpu,
    memMiB: result!.peakPss / MiB,
    kbps: (result!.output.length * 8) / seconds / 1000,
  };
}

/** Median of `rounds` whole-file runs. */
export async function wholeFile(
  file: string,
  seconds: number,
  out: readonly string[],
  rounds: number,
): Promise<BaselineResult> {
  const runs: { xrt: number; memMiB: number; kbps: number }[] = [];
  for (let r = 0; r < rounds; r++) runs.push(await wholeFileRound(file, seconds, out));
  return {
    xrt: median(runs.map((x) => x.xrt)),
    firstByteMs: Number.NaN,
    memMiB: Math.max(...runs.map((x) => x.memMiB)),
    kbps: runs[0].kbps,
  };
}

/** One ffmpeg spawn per 40 ms chunk, outputs concatenated (the approach being replaced). */
export async function perChunk(
  dir: string,
  pcm: Int16Array,
  out: readonly string[],
  ext: string,
): Promise<BaselineResult> {
  const chunks = chunks40(pcm);
  const outputs: Buffer[] = [];
  const firstBytes: number[] = [];
  const pss: number[] = [];
  const { cpu } = await cpuOf(async () => {
    for (const chunk of chunks) {
      const result = await runFfmpeg([...INPUT_ARGS, '-i', 'pipe:0', ...out, 'pipe:1'], chunk);
      outputs.push(result.output);
      firstBytes.push(result.firstByteMs);
      if (result.peakPss > 0) pss.push(result.peakPss);
    }
  });
  const seconds = pcm.length / INPUT_RATE;
  let durationRatio: number | undefined;
  if (ext === 'mp3' || ext === 'opus') {
    const file = join(dir, `per-chunk.${ext}`);
    writeFileSync(file, Buffer.concat(outputs));
    const decoded = await decodeFile(file);
    durationRatio = decoded.pcm.length / decoded.sampleRate / seconds;
  }
  return {
    xrt: seconds / cpu,
    firstByteMs: median(firstBytes),
    memMiB: pss.length ? median(pss) / MiB : Number.NaN,
    durationRatio,
  };
}
