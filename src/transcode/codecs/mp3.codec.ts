import { readFileSync } from 'node:fs';
import { MP3_SAMPLE_RATES } from '../audio-format';
import { concatBytes } from '../bytes';
import { mp3BitrateKbps, type SyncCodec } from './codec.types';

/** LAME takes at most this many samples per call here, so one huge chunk cannot balloon the wasm heap. */
const MAX_SAMPLES_PER_CALL = 16384;
/** The exports below are those of this build; another version may lay out its parameters differently. */
const SUPPORTED_BUILD = 'wasm-media-encoders-0.7.0';
const WASM_PAGE = 65536;
/**
 * Initial memory for each LAME instance. The build asks for 16 MiB, but data, stack and one encoder's heap
 * end below 7.6 MiB (measured at 24 kHz; the build grows its memory if a rate needs more). V8 counts each
 * instance's whole memory as external memory and collects garbage as that grows, so halving it halves the
 * collections while hundreds of encoders open: instantiation ~0.4 ms instead of ~0.7 ms.
 */
const INITIAL_PAGES = 128;
/** Granularity of the start-up snapshot (see LameTemplate). */
const SNAPSHOT_BLOCK = 4096;

/** Node has WebAssembly; this project's `lib` (ES2023, no DOM) just does not declare it. */
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<CompiledWasm>;
  Instance: new (module: CompiledWasm, imports: object) => { readonly exports: unknown };
};
declare const compiledWasmBrand: unique symbol;
type CompiledWasm = { readonly [compiledWasmBrand]: true };

/**
 * The C entry points of wasm-media-encoders' LAME build (its `wasm/mp3.wasm`), called directly instead of
 * through the package's JS wrapper, which can only configure an encoder the slow way (below) and keeps
 * both codecs' wasm inlined as base64 in memory on every thread that loads it.
 */
interface LameExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  malloc(bytes: number): number;
  free(pointer: number): void;
  version(): number;
  mime_type(): number;
  _initialize(): void;
  /** Parameters: u32 channels, u32 sample rate, i32 CBR kbps, f32 VBR quality (-1: CBR), i32 output rate. */
  enc_init(params: number): number;
  /** Planar float input buffers for `samples` samples: a pointer to one pointer per channel. */
  enc_get_pcm(encoder: number, samples: number): number;
  enc_encode(encoder: number, samples: number): number;
  enc_flush(encoder: number): number;
  enc_get_out_buf(encoder: number): number;
}

const IMPORTS = {
  wasi_snapshot_preview1: {
    proc_exit: (code: number) => {
      throw new Error(`LAME exited (${code})`);
    },
  },
  // Views are re-made from `memory.buffer` on every call, so growth needs no bookkeeping here.
  env: { emscripten_notify_memory_growth: () => undefined },
};

/**
 * A configured encoder's memory image, minus what a fresh instance already holds. Configuring LAME
 * (`lame_init_params`: psychoacoustic and quantizer tables) costs ~1.2 ms and instantiating the module
 * ~0.4 ms, so a burst of 200 MP3 opens used to queue ~400 ms of start-up on the codec threads. The module's
 * only mutable global is the stack pointer, back at its initial value between calls, so a configured
 * encoder's whole state is its linear memory: copying the ~150 KiB that configuring changed into a fresh
 * instance gives an encoder byte-identical to one configured from scratch (checked in mp3.codec.spec.ts),
 * in ~0.5 ms. One template per sample rate, built on first use on each thread.
 */
interface LameTemplate {
  readonly encoder: number;
  readonly pages: number;
  readonly blocks: readonly { readonly offset: number; readonly bytes: Uint8Array }[];
  /**
   * The configured memory as a whole, to reset a used instance to (see `IdleLames`). Only its non-zero
   * blocks (~180 KiB) are ever written; the rest stays untouched zero pages, which cost no RSS.
   */
  readonly image: Buffer;
}

/** Instances kept on each thread for the next streams, all rates together, at most (see `IdleLames`). */
export const MAX_IDLE_LAMES = 64;
/** Regions compared at once when resetting an instance; most are identical (untouched zero pages). */
const RESET_REGION = 65536;

/** Resetting kept instances in idle time runs in slices of at most this long (see `IdleLames`). */
const TIDY_SLICE_MS = 0.5;

/**
 * Used LAME instances, reset to their template and kept for the next streams of the same rate. A new
 * instance maps 8 MiB of wasm memory that V8 counts as external memory: a burst of a hundred MP3 opens on
 * a thread then runs dozens of "external memory pressure" collections (measured: ~40 per thread and burst,
 * up to 12 ms each), and each dropped instance is later unmapped. Resetting one instead compares its
 * memory with the template in 64 KiB regions, then 4 KiB blocks, and copies back the blocks an encoder
 * wrote (~30 for a short reply): ~0.17 ms, after which the instance is byte for byte the configured
 * template again (the stack pointer, the module's only mutable global, is back at its start between calls).
 * An instance whose call threw, or whose memory grew, is dropped instead.
 *
 * A stream's end only files its instance as used: the reset runs when the thread has nothing else to do
 * (slices of `TIDY_SLICE_MS` between its messages), or when an open needs the instance first. Resetting at
 * the end itself put a hundred resets in front of the last chunks of the other streams when many ended
 * together (late chunks in the real-time benchmark).
 */
class IdleLames {
  /** Per sample rate: instances reset to that rate's template, and instances still to be reset. */
  private readonly clean = new Map<number, LameExports[]>();
  private readonly used = new Map<number, LameExports[]>();
  private tidying = false;

  take(sampleRate: number): LameExports | undefined {
    const ready = this.clean.get(sampleRate)?.pop();
    if (ready) return ready;
    const used = this.used.get(sampleRate)?.pop();
    return used && reset(used, sampleRate);
  }

  /** Keeps `lameExports` (reset later), unless MAX_IDLE_LAMES are already kept on this thread. */
  keep(sampleRate: number, lameExports: LameExports): void {
    if (this.total() >= MAX_IDLE_LAMES) return;
    if (lameExports.memory.buffer.byteLength !== templates.get(sampleRate)?.image.length) return;
    listFor(this.used, sampleRate).push(lameExports);
    if (!this.tidying) {
      this.tidying = true;
      setImmediate(() => this.tidy());
    }
  }

  /** Instances kept for `sampleRate`, reset or not. */
  count(sampleRate: number): number {
    return (this.clean.get(sampleRate)?.length ?? 0) + (this.used.get(sampleRate)?.length ?? 0);
  }

  /** Instances kept, every rate. */
  private total(): number {
    let total = 0;
    for (const map of [this.clean, this.used]) for (const list of map.values()) total += list.length;
    return total;
  }

  /** Kept instances of `sampleRate` still waiting for their reset. */
  waiting(sampleRate: number): number {
    return this.used.get(sampleRate)?.length ?? 0;
  }

  /** Resets used instances for up to TIDY_SLICE_MS, then yields to the thread's messages if any remain. */
  private tidy(): void {
    const until = performance.now() + TIDY_SLICE_MS;
    for (const [rate, used] of this.used) {
      const clean = listFor(this.clean, rate);
      while (used.length > 0) {
        clean.push(reset(used.pop()!, rate));
        if (performance.now() > until) {
          setImmediate(() => this.tidy());
          return;
        }
      }
    }
    this.tidying = false;
  }
}

function listFor(lists: Map<number, LameExports[]>, sampleRate: number): LameExports[] {
  let list = lists.get(sampleRate);
  if (!list) lists.set(sampleRate, (list = []));
  return list;
}

/** Puts a used instance's memory back to its rate's template, block by block (see `IdleLames`). */
function reset(lameExports: LameExports, sampleRate: number): LameExports {
  const used = Buffer.from(lameExports.memory.buffer);
  const image = templates.get(sampleRate)!.image;
  for (let region = 0; region < used.length; region += RESET_REGION) {
    const end = region + RESET_REGION;
    if (used.compare(image, region, end, region, end) === 0) continue;
    for (let block = region; block < end; block += SNAPSHOT_BLOCK) {
      const next = block + SNAPSHOT_BLOCK;
      if (used.compare(image, block, next, block, next) !== 0) image.copy(used, block, block, next);
    }
  }
  return lameExports;
}

const idleLames = new IdleLames();

/** Kept instances of `sampleRate` on this thread that are still waiting for their reset (tests). */
export function unresetMp3Encoders(sampleRate: number): number {
  return idleLames.waiting(sampleRate);
}

/** LAME instances kept on this thread for the next streams at `sampleRate` (tests, metrics). */
export function idleMp3Encoders(sampleRate: number): number {
  return idleLames.count(sampleRate);
}

let compiled: Promise<CompiledWasm> | undefined;
let lame: CompiledWasm | undefined;
const templates = new Map<number, LameTemplate>();

/**
 * The LAME module, compiled once per thread (~15 ms for 130 KiB of wasm, codecs.md §7) from the
 * package's `wasm/mp3.wasm`.
 */
function lameModule(): Promise<CompiledWasm> {
  if (!compiled) {
    const wasm = readFileSync(require.resolve('wasm-media-encoders/wasm/mp3'));
    const attempt = WebAssembly.compile(withInitialMemory(wasm, INITIAL_PAGES));
    compiled = attempt;
    attempt.then(
      (module) => (lame = module),
      // A failed compile is retried by the next stream instead of failing every stream from now on.
      () => {
        if (compiled === attempt) compiled = undefined;
      },
    );
  }
  return compiled;
}

/** Reads an unsigned LEB128 at `offset`: [value, bytes read]. */
function readUleb(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  let at = offset;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [value, at - offset];
  }
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

/**
 * The module with its one defined memory starting at `pages` (never above what it asked for); the module
 * unchanged if it has no such memory section.
 */
export function withInitialMemory(wasm: Uint8Array, pages: number): Uint8Array {
  for (let at = 8; at < wasm.length;) {
    const id = wasm[at];
    const [size, sizeBytes] = readUleb(wasm, at + 1);
    const body = at + 1 + sizeBytes;
    if (id === 5) {
      const [count, countBytes] = readUleb(wasm, body);
      const flags = wasm[body + countBytes];
      const [initial, initialBytes] = readUleb(wasm, body + countBytes + 1);
      if (count !== 1 || flags > 1 || initial <= pages) return wasm;
      const rest = wasm.subarray(body + countBytes + 1 + initialBytes, body + size); // the maximum, if any
      const section = [count, flags, ...uleb(pages), ...rest];
      const out = new Uint8Array(
        wasm.length - size - sizeBytes + section.length + uleb(section.length).length,
      );
      out.set(wasm.subarray(0, at + 1));
      out.set(uleb(section.length), at + 1);
      out.set(section, at + 1 + uleb(section.length).length);
      out.set(wasm.subarray(body + size), at + 1 + uleb(section.length).length + section.length);
      return out;
    }
    at = body + size;
  }
  return wasm;
}

function instantiate(module: CompiledWasm): LameExports {
  return new WebAssembly.Instance(module, IMPORTS).exports as LameExports;
}

function cString(exports: LameExports, pointer: number): string {
  const bytes = new Uint8Array(exports.memory.buffer, pointer);
  return String.fromCharCode(...bytes.subarray(0, bytes.indexOf(0)));
}

function configure(exports: LameExports, sampleRate: number): number {
  const params = exports.malloc(20);
  const view = new DataView(exports.memory.buffer, params, 20);
  view.setUint32(0, 1, true); // mono
  view.setUint32(4, sampleRate, true);
  view.setInt32(8, mp3BitrateKbps(sampleRate), true);
  view.setFloat32(12, -1, true); // no VBR: constant bitrate
  // Output rate pinned to the input rate (LAME would otherwise pick a lower one for low bitrates).
  view.setInt32(16, sampleRate, true);
  const encoder = exports.enc_init(params);
  exports.free(params);
  if (!encoder) throw new Error(`LAME could not be configured for ${sampleRate} Hz`);
  return encoder;
}

function buildTemplate(module: CompiledWasm, sampleRate: number): LameTemplate {
  const fresh = instantiate(module);
  const build = cString(fresh, fresh.version());
  if (build !== SUPPORTED_BUILD || cString(fresh, fresh.mime_type()) !== 'audio/mpeg') {
    throw new Error(`unsupported LAME build ${build} (this code drives ${SUPPORTED_BUILD})`);
  }
  const configured = instantiate(module);
  configured._initialize();
  const encoder = configure(configured, sampleRate);
  // Native comparisons of 4 KiB blocks: a JS loop over 8 MiB takes ~60 ms before it is optimized, and
  // this runs once per rate on each new thread, in front of the streams that started it.
  const before = Buffer.from(fresh.memory.buffer);
  const after = Buffer.from(configured.memory.buffer);
  const zeros = Buffer.alloc(SNAPSHOT_BLOCK);
  const blocks: { offset: number; bytes: Uint8Array }[] = [];
  const image = Buffer.alloc(after.length);
  for (let offset = 0; offset < after.length; offset += SNAPSHOT_BLOCK) {
    const now = after.subarray(offset, offset + SNAPSHOT_BLOCK);
    if (!now.equals(zeros)) now.copy(image, offset);
    const then = offset < before.length ? before.subarray(offset, offset + SNAPSHOT_BLOCK) : zeros;
    if (now.equals(then)) continue;
    const last = blocks[blocks.length - 1];
    if (last && last.offset + last.bytes.length === offset) {
      const grown = new Uint8Array(last.bytes.length + SNAPSHOT_BLOCK);
      grown.set(last.bytes);
      grown.set(now, last.bytes.length);
      blocks[blocks.length - 1] = { offset: last.offset, bytes: grown };
    } else {
      blocks.push({ offset, bytes: Uint8Array.from(now) });
    }
  }
  return { encoder, pages: configured.memory.buffer.byteLength / WASM_PAGE, blocks, image };
}

function fromTemplate(module: CompiledWasm, template: LameTemplate): LameExports {
  const exports = instantiate(module);
  const pages = exports.memory.buffer.byteLength / WASM_PAGE;
  if (template.pages > pages) exports.memory.grow(template.pages - pages);
  const memory = new Uint8Array(exports.memory.buffer);
  for (const block of template.blocks) memory.set(block.bytes, block.offset);
  return exports;
}

/** Compiles LAME and builds the default rate's template ahead of the first stream (worker warm-up). */
export async function warmUpMp3(sampleRates: readonly number[] = [24000]): Promise<void> {
  const module = await lameModule();
  for (const rate of sampleRates) if (!templates.has(rate)) templates.set(rate, buildTemplate(module, rate));
}

/**
 * MP3 for one stream: one LAME instance fed continuously (never restarted per chunk: each restart would add
 * its own ~1105-sample encoder delay and padding, codecs.md §2). CBR, mono.
 */
export class Mp3Codec implements SyncCodec {
  private lame: LameExports | undefined;
  /** A call into LAME threw: its memory and stack pointer are in an unknown state, so it is not kept. */
  private failed = false;

  private constructor(
    lameExports: LameExports,
    private readonly encoder: number,
    private readonly sampleRate: number,
  ) {
    this.lame = lameExports;
  }

  /**
   * A new encoder: synchronous once LAME is compiled on this thread (the usual case after warm-up),
   * otherwise a promise that compiles it first.
   */
  static open(sampleRate: number): Mp3Codec | Promise<Mp3Codec> {
    if (!(MP3_SAMPLE_RATES as readonly number[]).includes(sampleRate)) {
      throw new RangeError(`MP3 cannot encode at ${sampleRate} Hz`);
    }
    if (!lame) return lameModule().then(() => Mp3Codec.open(sampleRate));
    let template = templates.get(sampleRate);
    if (!template) {
      template = buildTemplate(lame, sampleRate);
      templates.set(sampleRate, template);
    }
    const lameExports = idleLames.take(sampleRate) ?? fromTemplate(lame, template);
    return new Mp3Codec(lameExports, template.encoder, sampleRate);
  }

  encode(pcm: Int16Array): Uint8Array {
    const lameExports = this.live();
    try {
      if (pcm.length <= MAX_SAMPLES_PER_CALL) return this.encodeBlock(lameExports, pcm);
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < pcm.length; offset += MAX_SAMPLES_PER_CALL) {
        parts.push(this.encodeBlock(lameExports, pcm.subarray(offset, offset + MAX_SAMPLES_PER_CALL)));
      }
      return concatBytes(parts);
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  flush(): Uint8Array {
    const lameExports = this.live();
    let tail: Uint8Array;
    try {
      tail = this.output(lameExports, lameExports.enc_flush(this.encoder));
    } catch (error) {
      this.failed = true;
      throw error;
    }
    this.free();
    return tail;
  }

  free(): void {
    const lameExports = this.lame;
    this.lame = undefined;
    // Kept for the next stream when it is sound; otherwise dropping the last reference frees the
    // instance and its memory (there is no destroy()).
    if (lameExports && !this.failed) idleLames.keep(this.sampleRate, lameExports);
  }

  private encodeBlock(lameExports: LameExports, pcm: Int16Array): Uint8Array {
    // LAME takes planar float input in [-1, 1), written straight into its input buffer.
    const channels = lameExports.enc_get_pcm(this.encoder, pcm.length);
    if (!channels) throw new Error('LAME could not allocate its input buffer');
    const buffer = lameExports.memory.buffer;
    const floats = new Float32Array(buffer, new Int32Array(buffer, channels, 1)[0], pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 32768;
    return this.output(lameExports, lameExports.enc_encode(this.encoder, pcm.length));
  }

  /** Copies LAME's output out of wasm memory (the next call overwrites it). */
  private output(lameExports: LameExports, bytes: number): Uint8Array {
    if (bytes < 0) throw new Error(`LAME failed (${bytes})`);
    return new Uint8Array(
      lameExports.memory.buffer,
      lameExports.enc_get_out_buf(this.encoder),
      bytes,
    ).slice();
  }

  private live(): LameExports {
    if (!this.lame) throw new Error('MP3 encoder already flushed or freed');
    return this.lame;
  }
}
