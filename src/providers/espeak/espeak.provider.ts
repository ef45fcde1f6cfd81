import { Inject, Injectable, Logger } from '@nestjs/common';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import {
  ProviderError,
  UnsupportedCapabilityError,
  type AudioChunk,
  type ProviderCapabilities,
  type ProviderHealth,
  type SynthesisRequest,
  type TtsProvider,
  type Voice,
} from '../provider.contract';
import { WavFormatError, WavStreamReader } from '../audio/wav-reader';
import {
  ESPEAK_SAMPLE_RATE,
  espeakVoicesFromRows,
  parseEspeakVoices,
  withEnglishVariants,
} from './espeak-voices';

const run = promisify(execFile);

/** espeak-ng's default rate; `speed` scales it. espeak clamps below 80 wpm, and above ~450 it garbles. */
const BASE_WPM = 175;
const MIN_WPM = 80;
const MAX_WPM = 450;
const QUERY_TIMEOUT_MS = 5000;
const MAX_STDERR_CHARS = 2000;
/** What `-v` may receive: a voice file path under espeak-ng-data/voices (`gmw/en-US`) or a language code. */
const SAFE_VOICE_ARG = /^[A-Za-z0-9][A-Za-z0-9_.+/-]*$/;

/**
 * espeak-ng, run as a child process per utterance (its GPL code stays out of our process: we only exec the
 * Debian binary). Text goes in on stdin, so it can be any length, is never visible in `ps`, and a text
 * starting with `-` is never read as an option; the WAV it writes to stdout is parsed as it arrives and
 * streamed chunk by chunk. The async iterator over stdout pulls only when our consumer does, so a slow
 * consumer pauses the pipe and espeak blocks on write (backpressure) instead of us buffering minutes of
 * audio.
 *
 * No sentence pipeline here: espeak starts speaking long texts immediately (first chunk ≈ 10 ms for 5000
 * characters, the same as for one sentence), so splitting would only add process spawns and change
 * espeak's own prosody between sentences.
 */
@Injectable()
export class EspeakProvider implements TtsProvider {
  readonly id = 'espeak' as const;
  readonly displayName = 'eSpeak NG';
  readonly capabilities: ProviderCapabilities = {
    streaming: true,
    // espeak-ng reads SSML with -m: the gateway hands it a segment's pitch and emphasis that way.
    ssml: 'espeak',
    wordTimings: false,
    nativeSampleRate: ESPEAK_SAMPLE_RATE,
  };

  private readonly logger = new Logger(EspeakProvider.name);
  private readonly binary: string;
  /** Cached after the first successful listing; a failed one is retried on the next call. */
  private voices: Promise<Voice[]> | undefined;
  private readonly running = new Set<ChildProcess>();

  constructor(@Inject(providersConfig.KEY) config: ProvidersConfig) {
    this.binary = config.espeak.binary;
  }

  /**
   * The binary and its version are the engine: another espeak-ng (path), or the same path after a package
   * upgrade, may speak differently. The version is the first line of `--version` (it names the data
   * directory too), read by every health check, so an upgrade is noticed within one check.
   */
  cacheIdentity(): string {
    return `${this.binary}\n${this.version ?? ''}`;
  }

  /** `espeak-ng --version`'s first line, from the last health check that succeeded. */
  private version: string | undefined;

  /** Pids of the espeak-ng processes synthesizing right now (diagnostics and tests). */
  runningPids(): number[] {
    return [...this.running].map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  }

  listVoices(): Promise<Voice[]> {
    this.voices ??= this.queryVoices().catch((error: unknown) => {
      this.voices = undefined;
      this.logger.warn(`espeak voices unavailable: ${this.describeFailure(error)}`);
      return [];
    });
    return this.voices;
  }

  async checkHealth(signal?: AbortSignal): Promise<ProviderHealth> {
    try {
      const { stdout } = await run(this.binary, ['--version'], { timeout: QUERY_TIMEOUT_MS, signal });
      this.version = String(stdout).split('\n', 1)[0].trim();
      return { up: true };
    } catch (error) {
      return { up: false, reason: this.describeFailure(error) };
    }
  }

  async *synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    signal.throwIfAborted();
    const voice = await this.voiceArgument(request.voice);
    const wpm = Math.round(Math.min(MAX_WPM, Math.max(MIN_WPM, BASE_WPM * request.speed)));
    // -b 1: the input is UTF-8 (espeak otherwise guesses, and guesses 8-bit for some texts).
    const markup = request.ssml !== undefined ? ['-m'] : [];
    const child = spawn(
      this.binary,
      ['--stdout', '-b', '1', ...markup, '-v', voice, '-s', String(wpm), '--stdin'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    this.running.add(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, killedBy) => resolve({ code, signal: killedBy })),
    );
    let spawnError: Error | undefined;
    child.once('error', (error) => (spawnError = error));
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += text;
    });
    // EPIPE when espeak exits before reading all input (bad voice): the exit code tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(request.ssml ?? request.text);
    const kill = () => child.kill('SIGKILL');
    signal.addEventListener('abort', kill, { once: true });

    try {
      const wav = new WavStreamReader();
      for await (const bytes of child.stdout as AsyncIterable<Buffer>) {
        signal.throwIfAborted();
        const pcm = this.decode(wav, bytes);
        if (pcm.length > 0) yield { pcm, sampleRate: wav.format?.sampleRate ?? ESPEAK_SAMPLE_RATE };
      }
      const exit = await exited;
      signal.throwIfAborted();
      if (spawnError)
        throw new ProviderError(this.id, this.describeFailure(spawnError), false, {
          cause: spawnError,
          kind: 'transport',
          publicReason: 'espeak-ng could not be started',
        });
      if (exit.code !== 0) {
        const why = stderr.trim().replace(/\s+/g, ' ') || `killed by ${exit.signal ?? 'unknown signal'}`;
        throw new ProviderError(
          this.id,
          `espeak-ng exited with code ${exit.code ?? 'none'}: ${why}`,
          exit.code === null,
          { publicReason: `espeak-ng exited with code ${exit.code ?? 'none'}` },
        );
      }
      this.decodeEnd(wav);
    } finally {
      signal.removeEventListener('abort', kill);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      this.running.delete(child);
    }
  }

  private async queryVoices(): Promise<Voice[]> {
    const { stdout } = await run(this.binary, ['--voices'], {
      timeout: QUERY_TIMEOUT_MS,
      maxBuffer: 4 << 20,
    });
    const voices = withEnglishVariants(espeakVoicesFromRows(parseEspeakVoices(stdout)));
    if (voices.length === 0)
      throw new Error('espeak-ng --voices listed no voices (is espeak-ng-data installed?)');
    return voices;
  }

  /** The `-v` argument for a voice: its espeak file (unambiguous), looked up in our own list first. */
  private async voiceArgument(voice: Voice): Promise<string> {
    const known = (await this.listVoices()).find((v) => v.id === voice.id);
    const candidates = [known?.extra?.espeakFile, voice.extra?.espeakFile];
    const file = candidates.find(
      (c): c is string => typeof c === 'string' && SAFE_VOICE_ARG.test(c) && !c.includes('..'),
    );
    if (file) return file;
    if (!known && (await this.listVoices()).length === 0) {
      throw new ProviderError(this.id, await this.unavailableReason(), false, {
        kind: 'transport',
        publicReason: 'espeak-ng is unavailable',
      });
    }
    throw new UnsupportedCapabilityError(this.id, `espeak has no voice "${voice.id}"`);
  }

  private async unavailableReason(): Promise<string> {
    const health = await this.checkHealth();
    return health.reason ?? 'espeak-ng is unavailable';
  }

  private decode(wav: WavStreamReader, bytes: Uint8Array): Int16Array {
    try {
      return wav.push(bytes);
    } catch (error) {
      throw this.wavError(error);
    }
  }

  private decodeEnd(wav: WavStreamReader): void {
    try {
      wav.end();
    } catch (error) {
      throw this.wavError(error);
    }
  }

  private wavError(error: unknown): unknown {
    return error instanceof WavFormatError
      ? new ProviderError(this.id, `espeak-ng wrote unexpected output: ${error.message}`, false, {
          cause: error,
          publicReason: 'espeak-ng wrote unexpected output',
        })
      : error;
  }

  private describeFailure(error: unknown): string {
    const e = error as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    if (e.code === 'ENOENT') {
      return `espeak-ng binary not found (install the Debian package espeak-ng, or set ESPEAK_BINARY); looked for "${this.binary}"`;
    }
    if (e.code === 'EACCES') return `espeak-ng binary "${this.binary}" is not executable`;
    if (e.name === 'AbortError') return 'espeak-ng check was cancelled';
    if (e.killed) return `espeak-ng did not answer within ${QUERY_TIMEOUT_MS} ms`;
    const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
    return `espeak-ng failed: ${stderr || e.message}`;
  }
}
