/**
 * The resampler's inner loop for exact rational ratios (24 -> 16, 24 -> 8, 22.05 -> 16 kHz, ...) as a
 * WebAssembly SIMD kernel in fixed point: the s16 input times 16-bit coefficients, eight multiply-adds per
 * instruction (`i32x4.dot_i16x8_s`) into 32-bit sums, which are exact. Measured on 24 -> 16 kHz: ~3 ns per
 * output sample, against ~7 ns for the float32 kernel it replaced (four multiply-adds per instruction, and the
 * input converted to float first) and ~40 ns for the best JS loop. The JS loop in resampler.ts computes the
 * same integer sums, so both give the same samples; it stays as the fallback where WebAssembly SIMD is
 * missing (it is on by default in every Node this project supports).
 *
 * The module is ~350 bytes, assembled below from the text form so it can be read and changed without a
 * toolchain. `drain` computes `count` outputs of a polyphase bank:
 *
 *   (func (export "drain") (param $in $table $steps $rowBytes $count $out $pos $phase $shift i32)
 *     (local $p $t $end $v $step i32) (local $a0 $a1 v128)
 *     block  (br_if 0 (i32.eqz $count))
 *       loop $outputs
 *         $p = $in + 2*$pos;  $t = $table + $phase*$rowBytes;  $end = $t + $rowBytes;  $a0 = $a1 = 0
 *         loop $taps                          ;; rows are padded with zeros to a multiple of 16 taps
 *           $a0 += i32x4.dot_i16x8_s(v128.load($p), v128.load($t))
 *           $a1 += i32x4.dot_i16x8_s(v128.load($p + 16), v128.load($t + 16))
 *           $p += 32;  $t += 32;  br_if $taps ($t < $end)
 *         end
 *         $v = clamp((sum of the 8 lanes + (1 << $shift >> 1)) >> $shift, -32768, 32767)
 *         i32.store16 $out $v;  $out += 2
 *         $step = $steps + 8*$phase;  $pos += i32.load $step;  $phase = i32.load offset=4 $step
 *         br_if $outputs (--$count)
 *       end
 *     end
 *     i32.store 0 $pos;  i32.store 4 $phase)          ;; where the caller reads them back
 *
 * The sums cannot wrap: the bank's coefficients are scaled (`shift`) so that full-scale input of the worst
 * sign pattern stays below 2^31 (resampler.ts, `fixedPoint`).
 *
 * Memory: one per thread, holding the state words, the coefficient tables of the banks in use (a bump
 * arena, wiped when it fills: banks are re-uploaded on their next use), and a scratch area for one call's
 * input window and output. Streams keep their own history in JS; each call copies its window in (a
 * memcpy of about chunk + filter length samples) and the outputs out.
 */

/** An exact polyphase bank as the kernel needs it: `phases` rows of `taps` fixed-point coefficients. */
export interface KernelBank {
  readonly phases: number;
  readonly taps: number;
  /** Row k (k < phases) at k * taps: coefficient c stored as round(c * 2^shift); extra rows are ignored. */
  readonly fixed: Int16Array;
  /** Fraction bits of `fixed`: an output is (sum of input x coefficient + 2^(shift-1)) >> shift. */
  readonly shift: number;
  /** Per phase: input samples to advance after an output at that phase, and the next phase. */
  readonly advance: Int32Array;
  readonly next: Int32Array;
}

export interface ResamplerKernel {
  /**
   * Writes `count` outputs to `out[outOffset...]`. `input[start]` is the first tap of the first output
   * (input position - H + 1); `input[start..end)` must hold every sample the outputs reach. Returns how
   * far the input position advanced; the phase after the last output is then in `phase`.
   */
  run(
    bank: KernelBank,
    input: Int16Array,
    start: number,
    end: number,
    phase: number,
    count: number,
    out: Int16Array,
    outOffset: number,
  ): number;
  readonly phase: number;
}

// --- A minimal WebAssembly assembler: just what the kernel uses. ---

const uleb = (value: number): number[] => {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    bytes.push(byte);
  } while (value);
  return bytes;
};
const sleb = (value: number): number[] => {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40)) return [...bytes, byte];
    bytes.push(byte | 0x80);
  }
};
const name = (text: string) => [...uleb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  load32: (offset: number) => [0x28, 2, ...uleb(offset)],
  store32: (offset: number) => [0x36, 2, ...uleb(offset)],
  store16: [0x3b, 1, 0],
  eqz: [0x45],
  ltS: [0x48],
  ltU: [0x49],
  gtS: [0x4a],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  shl: [0x74],
  shrS: [0x75],
  select: [0x1b],
  v128Load: (offset: number) => [0xfd, 0x00, 2, ...uleb(offset)],
  v128Zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  i32x4Lane: (lane: number) => [0xfd, 0x1b, lane],
  i32x4Add: [0xfd, ...uleb(0xae)],
  i32x4DotI16x8S: [0xfd, ...uleb(0xba)],
};

function kernelModule(): Uint8Array {
  // Parameters 0-8, then locals.
  const [IN, TABLE, STEPS, ROW, COUNT, OUT, POS, PHASE, SHIFT, P, T, END, V, STEP, A0, A1] = Array.from(
    { length: 16 },
    (_, i) => i,
  );
  const { get, set, tee, i32 } = op;
  const macs = (acc: number, offset: number) => [
    ...get(acc),
    ...get(P),
    ...op.v128Load(offset),
    ...get(T),
    ...op.v128Load(offset),
    ...op.i32x4DotI16x8S,
    ...op.i32x4Add,
    ...set(acc),
  ];
  const body = [
    ...op.block,
    ...get(COUNT), ...op.eqz, ...op.brIf(0),
    ...op.loop,
    ...get(IN), ...get(POS), ...i32(1), ...op.shl, ...op.add, ...set(P),
    ...get(TABLE), ...get(PHASE), ...get(ROW), ...op.mul, ...op.add, ...tee(T),
    ...get(ROW), ...op.add, ...set(END),
    ...op.v128Zero, ...set(A0), ...op.v128Zero, ...set(A1),
    ...op.loop,
    ...macs(A0, 0), ...macs(A1, 16),
    ...get(P), ...i32(32), ...op.add, ...set(P),
    ...get(T), ...i32(32), ...op.add, ...tee(T), ...get(END), ...op.ltU, ...op.brIf(0),
    ...op.end,
    ...get(A0), ...get(A1), ...op.i32x4Add, ...tee(A0), ...op.i32x4Lane(0),
    ...get(A0), ...op.i32x4Lane(1), ...op.add,
    ...get(A0), ...op.i32x4Lane(2), ...get(A0), ...op.i32x4Lane(3), ...op.add, ...op.add,
    ...i32(1), ...get(SHIFT), ...op.shl, ...i32(1), ...op.shrS, ...op.add,
    ...get(SHIFT), ...op.shrS, ...set(V),
    ...get(V), ...i32(32767), ...get(V), ...i32(32767), ...op.ltS, ...op.select, ...tee(V),
    ...i32(-32768), ...get(V), ...i32(-32768), ...op.gtS, ...op.select, ...set(V),
    ...get(OUT), ...get(V), ...op.store16,
    ...get(OUT), ...i32(2), ...op.add, ...set(OUT),
    ...get(STEPS), ...get(PHASE), ...i32(3), ...op.shl, ...op.add, ...tee(STEP),
    ...op.load32(0), ...get(POS), ...op.add, ...set(POS),
    ...get(STEP), ...op.load32(4), ...set(PHASE),
    ...get(COUNT), ...i32(1), ...op.sub, ...tee(COUNT), ...op.brIf(0),
    ...op.end,
    ...op.end,
    ...i32(0), ...get(POS), ...op.store32(0),
    ...i32(0), ...get(PHASE), ...op.store32(4),
    ...op.end,
  ]; // prettier-ignore
  const code = [...uleb(2), ...uleb(5), I32, ...uleb(2), V128, ...body];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 9, ...new Array<number>(9).fill(I32), 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('drain'), 0x00, 0]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}

// --- The per-thread instance and its memory. ---

/** Node has WebAssembly; this project's `lib` (ES2023, no DOM) just does not declare it. */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
};
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type DrainFunction = (
  ...args: [number, number, number, number, number, number, number, number, number]
) => void;

const PAGE = 65536;
const ARENA_START = 64;
/** Tables beyond this are not kept resident: the arena starts over (banks upload again when used). */
const ARENA_BYTES = 4 * 1024 * 1024;
/** Outputs per kernel call, so the scratch area stays small whatever the chunk size. */
export const KERNEL_BLOCK = 4096;
/** The kernel reads up to 15 taps past a row's real ones (zero coefficients): keep those samples defined. */
const WINDOW_PAD = 16;
/** Taps per turn of the kernel's inner loop: rows are padded with zero coefficients to a multiple. */
const ROW_TAPS = 16;

interface Resident {
  readonly generation: number;
  readonly table: number;
  readonly steps: number;
  readonly rowBytes: number;
}

class WasmKernel implements ResamplerKernel {
  phase = 0;
  private readonly resident = new WeakMap<KernelBank, Resident>();
  private generation = 0;
  private arenaTop = ARENA_START;
  // Views over the whole memory, made again when it grows (growing detaches the old buffer).
  private buffer: ArrayBuffer | undefined;
  private samples = new Int16Array(0);
  private words = new Int32Array(0);

  constructor(
    private readonly memory: WasmMemory,
    private readonly drain: DrainFunction,
  ) {}

  run(
    bank: KernelBank,
    input: Int16Array,
    start: number,
    end: number,
    phase: number,
    count: number,
    out: Int16Array,
    outOffset: number,
  ): number {
    const { table, steps, rowBytes } = this.upload(bank);
    const length = end - start;
    const window = align(this.arenaTop);
    const output = align(window + (length + WINDOW_PAD) * 2);
    this.reserve(output + count * 2);
    const samples = this.samples;
    samples.set(input.subarray(start, end), window / 2);
    samples.fill(0, window / 2 + length, window / 2 + length + WINDOW_PAD);
    this.drain(window, table, steps, rowBytes, count, output, 0, phase, bank.shift);
    out.set(this.samples.subarray(output / 2, output / 2 + count), outOffset);
    this.phase = this.words[1];
    return this.words[0];
  }

  private upload(bank: KernelBank): Resident {
    const known = this.resident.get(bank);
    if (known && known.generation === this.generation) return known;
    const rowTaps = Math.ceil(bank.taps / ROW_TAPS) * ROW_TAPS;
    const tableBytes = bank.phases * rowTaps * 2;
    const stepBytes = bank.phases * 8;
    if (this.arenaTop + tableBytes + stepBytes > ARENA_BYTES) {
      this.generation++;
      this.arenaTop = ARENA_START;
    }
    const table = align(this.arenaTop);
    const steps = align(table + tableBytes);
    this.arenaTop = steps + stepBytes;
    this.reserve(this.arenaTop);
    const first = table / 2;
    this.samples.fill(0, first, first + bank.phases * rowTaps);
    for (let k = 0; k < bank.phases; k++) {
      this.samples.set(bank.fixed.subarray(k * bank.taps, (k + 1) * bank.taps), first + k * rowTaps);
    }
    for (let k = 0; k < bank.phases; k++) {
      this.words[steps / 4 + 2 * k] = bank.advance[k];
      this.words[steps / 4 + 2 * k + 1] = bank.next[k];
    }
    const entry = { generation: this.generation, table, steps, rowBytes: rowTaps * 2 };
    this.resident.set(bank, entry);
    return entry;
  }

  private reserve(bytes: number): void {
    const missing = bytes - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE));
    if (this.buffer !== this.memory.buffer) {
      this.buffer = this.memory.buffer;
      this.samples = new Int16Array(this.buffer);
      this.words = new Int32Array(this.buffer);
    }
  }
}

const align = (offset: number) => Math.ceil(offset / 16) * 16;

let kernel: ResamplerKernel | null | undefined;

/** This thread's SIMD kernel, created on first use; null where WebAssembly SIMD is unavailable. */
export function simdKernel(): ResamplerKernel | null {
  if (kernel === undefined) {
    kernel = null;
    try {
      const bytes = kernelModule();
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) {
        const memory = new WebAssembly.Memory({ initial: 1 });
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        kernel = new WasmKernel(memory, (instance.exports as { drain: DrainFunction }).drain);
      }
    } catch {
      kernel = null; // no usable WebAssembly here: the JS loop runs instead
    }
  }
  return kernel;
}
