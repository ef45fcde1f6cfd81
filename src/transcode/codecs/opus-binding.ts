/**
 * Which libopus encoder class this thread uses, and private copies of @evan/opus's native addon so every
 * codec thread can encode Opus at once.
 *
 * Why copies: the addon (1.0.3, unmaintained) encodes every packet into ONE static 8 KiB buffer and the JS
 * side then copies the packet out of it. A shared library is loaded once per process, so two threads
 * encoding at the same time overwrite each other's packets (measured: every stream of two concurrent
 * threads came out different from a single-threaded reference). A copy of the .node file under another
 * path is a separate library for the dynamic loader, with its own static buffer: one copy per codec
 * thread makes the threads independent (opus.codec.spec.ts checks concurrent streams packet for packet).
 *
 * Why the main thread loads each copy too: Node unloads an addon when the last environment that loaded it
 * exits, and unloading this one while V8 still holds its buffers crashes the process (measured: SIGSEGV as
 * the only worker using a copy exited). The main thread keeps every copy loaded for the life of the
 * process and never encodes with it.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The part of a libopus encoder binding we use (both the package class and a raw copy have it). */
export interface OpusEncoderHandle {
  encode(pcm: Int16Array): Uint8Array;
  /** An encoder CTL: a getter with one argument, a setter with two. */
  ctl(request: number, value?: number): number;
}

export type OpusEncoderClass = new (options: {
  channels: number;
  sample_rate: number;
  application: 'audio' | 'voip' | 'restricted_lowdelay';
}) => OpusEncoderHandle;

interface NativeOpus {
  readonly Encoder: new (...args: ConstructorParameters<OpusEncoderClass>) => {
    encode(pcm: Int16Array): number;
    ctl(request: number, value?: number): number;
  };
  readonly buffers: { encoder(): Uint8Array };
}

let threadEncoder: OpusEncoderClass | undefined;

/** The native addon @evan/opus loads on this platform; undefined where it falls back to its wasm build. */
export function opusNativeAddon(): string | undefined {
  const file = join(
    dirname(require.resolve('@evan/opus/package.json')),
    'node',
    `${process.arch}-${process.platform}.node`,
  );
  return existsSync(file) ? file : undefined;
}

function loadNative(file: string): NativeOpus {
  const module = { exports: {} as NativeOpus };
  process.dlopen(module, file);
  return module.exports;
}

/** Makes this thread encode with the addon copy at `file` (a codec worker, at start). */
export function useOpusAddon(file: string): void {
  const native = loadNative(file);
  const output = native.buffers.encoder();
  threadEncoder = class implements OpusEncoderHandle {
    private readonly encoder: InstanceType<NativeOpus['Encoder']>;

    constructor(options: ConstructorParameters<OpusEncoderClass>[0]) {
      this.encoder = new native.Encoder(options);
    }

    encode(pcm: Int16Array): Uint8Array {
      // The packet sits in this copy's static buffer until the next call on this thread: copy it out.
      return output.slice(0, this.encoder.encode(pcm));
    }

    ctl(request: number, value?: number): number {
      return value === undefined ? this.encoder.ctl(request) : this.encoder.ctl(request, value);
    }
  };
}

/** The encoder class for this thread: its private addon copy if it has one, else the package's. */
export function opusEncoderClass(): OpusEncoderClass {
  // Loaded on first use only: a thread that never encodes Opus does not map the addon.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  threadEncoder ??= (require('@evan/opus') as { Encoder: OpusEncoderClass }).Encoder;
  return threadEncoder;
}

/**
 * Private addon copies for the codec threads, made and kept loaded by the main thread (see above). One per
 * thread slot: a replacement thread reuses its slot's copy, so the count stays at the pool size.
 */
export class OpusAddonCopies {
  private dir: string | undefined;
  private readonly copies = new Map<number, string>();

  constructor(private readonly source = opusNativeAddon()) {}

  /**
   * The copy for thread slot `index`, loaded on this thread; undefined if copies cannot be made here
   * (no native addon, unwritable temp directory), so the caller falls back to one Opus thread.
   * Throws nothing: a failure is reported through `error`.
   */
  forSlot(index: number): string | undefined {
    const existing = this.copies.get(index);
    if (existing || !this.source || this.error) return existing;
    try {
      if (!this.dir) {
        const dir = mkdtempSync(join(tmpdir(), `tts-gateway-opus-${process.pid}-`));
        this.dir = dir;
        // The loaded copies stay mapped; only the files go (a crashed process leaves ~0.7 MB per thread).
        process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      }
      const file = join(this.dir, `codec-${index}.node`);
      copyFileSync(this.source, file);
      loadNative(file); // the pin: never unloaded while the process runs
      this.copies.set(index, file);
      return file;
    } catch (error) {
      this.error = error instanceof Error ? error : new Error(String(error));
      return undefined;
    }
  }

  /** Why copies are not available, once `forSlot` failed. */
  error: Error | undefined;

  /** Whether Opus is safe on every thread: private copies work, or there is no native addon (wasm). */
  get perThread(): boolean {
    return !this.source || (this.error === undefined && this.forSlot(0) !== undefined);
  }
}
