import { concatBytes } from '../bytes';
import { readFileSync } from 'node:fs';
import { createEncoder, type WasmMediaEncoder } from 'wasm-media-encoders';
import { MP3_SAMPLE_RATES } from '../audio-format';
import { mp3BitrateKbps, type SyncCodec } from './codec.types';

/** LAME takes at most this many samples per call here, so one huge chunk cannot balloon the wasm heap. */
const MAX_SAMPLES_PER_CALL = 16384;

/** Node has WebAssembly; this project's `lib` (ES2023, no DOM) just does not declare it. */
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledWasm> };
type CompiledWasm = Parameters<typeof createEncoder>[1];

let compiled: Promise<CompiledWasm> | undefined;

/**
 * The LAME wasm module, compiled once per thread. Every stream then instantiates it (own linear memory,
 * ~0.8 MiB) in about a millisecond instead of re-compiling 130 KiB of wasm (~15 ms, codecs.md §7).
 * The binary is read from the package's `wasm/mp3.wasm` rather than its inlined base64 copy.
 */
function lameModule(): Promise<CompiledWasm> {
  if (!compiled) {
    const attempt = WebAssembly.compile(readFileSync(require.resolve('wasm-media-encoders/wasm/mp3')));
    compiled = attempt;
    // A failed compile is retried by the next stream instead of failing every stream from now on.
    void attempt.catch(() => {
      if (compiled === attempt) compiled = undefined;
    });
  }
  return compiled;
}

/** Compiles LAME ahead of the first stream (worker warm-up). */
export async function warmUpMp3(): Promise<void> {
  await lameModule();
}

/**
 * MP3 for one stream: one LAME instance fed continuously (never restarted per chunk: each restart would add
 * its own ~1105-sample encoder delay and padding, codecs.md §2). CBR, mono, output rate pinned to the input
 * rate (LAME would otherwise pick a lower rate for low bitrates).
 */
export class Mp3Codec implements SyncCodec {
  private static scratch = new Float32Array(MAX_SAMPLES_PER_CALL);
  private encoder: WasmMediaEncoder<'audio/mpeg'> | undefined;

  private constructor(encoder: WasmMediaEncoder<'audio/mpeg'>) {
    this.encoder = encoder;
  }

  static async create(sampleRate: number): Promise<Mp3Codec> {
    if (!(MP3_SAMPLE_RATES as readonly number[]).includes(sampleRate)) {
      throw new RangeError(`MP3 cannot encode at ${sampleRate} Hz`);
    }
    const encoder = await createEncoder('audio/mpeg', await lameModule());
    encoder.configure({
      channels: 1,
      sampleRate,
      outputSampleRate: sampleRate as 24000,
      bitrate: mp3BitrateKbps(sampleRate),
    });
    return new Mp3Codec(encoder);
  }

  encode(pcm: Int16Array): Uint8Array {
    const encoder = this.live();
    if (pcm.length <= MAX_SAMPLES_PER_CALL) return this.encodeBlock(encoder, pcm);
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < pcm.length; offset += MAX_SAMPLES_PER_CALL) {
      parts.push(this.encodeBlock(encoder, pcm.subarray(offset, offset + MAX_SAMPLES_PER_CALL)));
    }
    return concatBytes(parts);
  }

  flush(): Uint8Array {
    // The returned view points into wasm memory: copy before anything else touches the encoder.
    const tail = this.live().finalize().slice();
    this.free();
    return tail;
  }

  free(): void {
    // Dropping the last reference frees the wasm instance and its memory; the wrapper has no destroy().
    this.encoder = undefined;
  }

  private encodeBlock(encoder: WasmMediaEncoder<'audio/mpeg'>, pcm: Int16Array): Uint8Array {
    // LAME takes planar float input in [-1, 1).
    const floats = Mp3Codec.scratch.subarray(0, pcm.length);
    for (let i = 0; i < pcm.length; i++) floats[i] = pcm[i] / 32768;
    // The output view belongs to the encoder and is overwritten by the next call: copy it.
    return encoder.encode([floats]).slice();
  }

  private live(): WasmMediaEncoder<'audio/mpeg'> {
    if (!this.encoder) throw new Error('MP3 encoder already flushed or freed');
    return this.encoder;
  }
}
