import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import { toGatewayException } from '../common/errors/to-gateway-exception';
import { SynthesisRuns, type SynthesisRun } from '../synthesis/synthesis-runs';
import { SynthesisSlots } from '../synthesis/synthesis-slots';
import type { EncodedAudio } from '../synthesis/synthesis.types';
import { TtsService, type PcmPiece } from '../synthesis/tts.service';
import { AUDIO_FORMAT_SPECS, type AudioFormat, type AudioFormatSpec } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import type { Session } from './session.model';
import { SessionsService } from './sessions.service';

export interface FileRequest {
  format?: AudioFormat;
  sampleRateHz?: number;
}

export interface RenderedFile {
  spec: AudioFormatSpec;
  sampleRate: number;
  /** Exact body length when the format's size follows from the sample count (PCM, G.711, WAV). */
  contentLength?: number;
  /** The encoded file, streamed; iterate it once. Ends the run's accounting when done. */
  body: AsyncGenerator<Uint8Array>;
}

/**
 * `GET /v1/tts/sessions/:id/file`: the whole utterance as one file with exact container sizes. The engine's
 * PCM is rendered first (bounded by MAX_AUDIO_SECONDS), so the total sample count is known before the first
 * byte and the encoded body then streams with its real sizes up front (WAV RIFF sizes, FLAC STREAMINFO,
 * MP3 Xing). The request holds one synthesis slot (the global and per-client caps) while it runs, and counts
 * in the metrics and the log like any other synthesis (route `file`). A deleted session has no file.
 */
@Injectable()
export class SessionFiles {
  constructor(
    private readonly sessions: SessionsService,
    private readonly tts: TtsService,
    private readonly transcode: TranscodeService,
    private readonly slots: SynthesisSlots,
    private readonly runs: SynthesisRuns,
  ) {}

  async render(id: string, request: FileRequest, client: string, signal: AbortSignal): Promise<RenderedFile> {
    const session = await this.sessions.get(id, client);
    if (session.purged) {
      throw new GatewayException(ErrorCode.SessionNotFound, `session "${id}" was deleted; its audio is gone`);
    }
    this.sessions.refuseWhileDraining();
    const plan = await this.sessions.planFor(session, {
      format: request.format,
      sampleRateHz: request.sampleRateHz,
      wholeFile: true,
    });
    const release = this.slots.acquire(client, 'file');
    const run = this.startRun(session, plan.format, plan.sampleRate);
    try {
      const pieces: PcmPiece[] = [];
      for await (const piece of this.tts.pcm(plan, signal)) pieces.push(piece);
      const totalSamples = this.outputSamplesOf(pieces, plan.sampleRate);
      const encoded = this.tts.encode(fromArray(pieces), {
        format: plan.format,
        sampleRate: plan.sampleRate,
        wholeFile: true,
        totalSamples,
      });
      return {
        spec: AUDIO_FORMAT_SPECS[plan.format],
        sampleRate: plan.sampleRate,
        contentLength: exactLength(plan.format, totalSamples),
        body: this.body(encoded, run, release),
      };
    } catch (error) {
      release();
      const e = toGatewayException(signal.aborted ? signal.reason : error);
      run.end(signal.aborted ? 'disconnected' : 'failed', { code: e.code, message: e.message });
      throw error;
    }
  }

  private async *body(
    encoded: AsyncGenerator<EncodedAudio>,
    run: SynthesisRun,
    release: () => void,
  ): AsyncGenerator<Uint8Array> {
    let outcome: 'completed' | 'disconnected' = 'disconnected';
    try {
      for await (const audio of encoded) {
        run.sent(audio);
        yield audio.data;
      }
      outcome = 'completed';
    } finally {
      release();
      run.end(outcome);
    }
  }

  private startRun(session: Session, format: AudioFormat, sampleRateHz: number): SynthesisRun {
    return this.runs.start({
      route: 'file',
      provider: session.provider,
      format,
      sampleRateHz,
      voice: session.voice,
      textChars: session.text.length,
      sessionId: session.id,
      client: session.client,
    });
  }

  /** Output samples the resampler will produce: exact per run of equal input rate. */
  private outputSamplesOf(pieces: readonly PcmPiece[], outRate: number): number {
    let total = 0;
    let rate = 0;
    let run = 0;
    for (const { chunk } of pieces) {
      if (chunk.sampleRate !== rate) {
        if (run > 0) total += this.transcode.outputSamples(run, rate, outRate);
        rate = chunk.sampleRate;
        run = 0;
      }
      run += chunk.pcm.length;
    }
    if (run > 0) total += this.transcode.outputSamples(run, rate, outRate);
    return total;
  }
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}

function exactLength(format: AudioFormat, samples: number): number | undefined {
  switch (format) {
    case 'pcm16':
      return samples * 2;
    case 'mulaw':
    case 'alaw':
      return samples;
    case 'wav':
      return 44 + samples * 2;
    case 'mp3':
    case 'opus':
    case 'flac':
    case 'aac':
      return undefined;
  }
}
