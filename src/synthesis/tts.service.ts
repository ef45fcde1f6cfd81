import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../common/errors/error-codes';
import { GatewayException } from '../common/errors/gateway.exception';
import {
  ProviderError,
  type AudioChunk,
  type ProviderId,
  type TtsProvider,
} from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import { synthesizeSegments } from '../providers/sentence-pipeline';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { ProviderResilienceService } from './provider-resilience.service';
import type { EncodedAudio, ProviderSwitch, SynthesisAttempt, SynthesisPlan } from './synthesis.types';
import { splitSentenceSpans } from '../providers/text/sentence-splitter';

/**
 * The audio path: provider → resilience (bulkhead, timeouts, retries, breaker) → failover → transcoder.
 * Pull-based: nothing is synthesized faster than the consumer takes it, which is how backpressure reaches
 * the engine. Knows nothing about sessions or sockets, so the WebSocket stream, the file route and the
 * OpenAI-compatible route all use it.
 *
 * Failover:
 * - before the first audio (always): a retryable failure moves on to the next attempt, silently;
 * - after audio has been produced, with `failover: "mid_stream"`: the utterance is synthesized sentence by
 *   sentence, and a failure in sentence k restarts sentence k on the next attempt (no word lost; the words of
 *   k already heard are heard again), announced by `switched` on the fallback's first chunk. The encoder is
 *   the same throughout, so the output stays one stream of the format (one WAV header, one MP3/Ogg stream);
 * - after audio without it: `provider_stream_interrupted`.
 */
@Injectable()
export class TtsService {
  constructor(
    private readonly registry: ProviderRegistry,
    private readonly resilience: ProviderResilienceService,
    private readonly transcode: TranscodeService,
  ) {}

  /** Synthesizes and encodes: the bytes of the plan's format and rate, in order. */
  synthesize(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<EncodedAudio> {
    return this.encode(this.pcm(plan, signal), plan);
  }

  /**
   * The engine's PCM with failover applied (see the class comment), bounded by `maxAudioSeconds`: an
   * utterance that would run longer fails with `audio_too_long` instead of holding an engine for an hour.
   */
  async *pcm(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    const pieces =
      plan.failover === 'mid_stream' && plan.attempts.length > 1
        ? this.sentenceBySentenceWithFailover(plan, signal)
        : this.wholeTextWithFailover(plan, signal);
    let seconds = 0;
    for await (const piece of pieces) {
      seconds += piece.chunk.pcm.length / piece.chunk.sampleRate;
      if (plan.maxAudioSeconds !== undefined && seconds > plan.maxAudioSeconds) {
        throw new GatewayException(
          ErrorCode.AudioTooLong,
          `the audio would be longer than ${plan.maxAudioSeconds} s (MAX_AUDIO_SECONDS); shorten the text or raise the speed`,
        );
      }
      yield piece;
    }
  }

  /**
   * PCM → resampler → encoder, one stateful pipeline for the whole utterance (so a failover keeps one
   * stream of the format). `totalSamples` (at the output rate) lets whole-file containers write exact
   * sizes up front.
   */
  async *encode(
    pieces: AsyncIterable<PcmPiece>,
    target: { format: AudioFormat; sampleRate: number; wholeFile?: boolean; totalSamples?: number },
  ): AsyncGenerator<EncodedAudio> {
    const stream = this.transcode.openStream({
      format: target.format,
      sampleRate: target.sampleRate,
      wholeFile: target.wholeFile,
      ...(target.totalSamples !== undefined ? { totalSamples: target.totalSamples } : {}),
    });
    try {
      let providerId: ProviderId | undefined;
      for await (const { chunk, provider, switched } of pieces) {
        providerId = provider;
        const data = await stream.write(chunk);
        // A switch must reach the consumer even if the first PCM of the fallback encodes to nothing yet.
        if (data.length > 0 || switched) {
          yield { data, providerId, audioMs: stream.audioMs, ...(switched ? { switched } : {}) };
        }
      }
      const tail = await stream.end();
      if (tail.length > 0 && providerId) yield { data: tail, providerId, audioMs: stream.audioMs };
    } finally {
      stream.dispose();
    }
  }

  /** The whole text to each attempt in turn, until one produces audio; a failure after audio is final. */
  private async *wholeTextWithFailover(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    let producedAudio = false;
    let lastError: unknown;
    for (const attempt of plan.attempts) {
      const provider = this.registry.get(attempt.providerId);
      try {
        for await (const chunk of this.resilience.stream(provider, attempt.request, signal, plan.source)) {
          producedAudio = true;
          yield { chunk, provider: provider.id };
        }
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        if (producedAudio) throw interrupted(provider, error, plan);
        if (!(error instanceof ProviderError) || !error.retryable) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  private async *sentenceBySentenceWithFailover(
    plan: SynthesisPlan,
    signal: AbortSignal,
  ): AsyncGenerator<PcmPiece> {
    const base = plan.attempts[0].request;
    const sentences = splitSentenceSpans(base.text, { locale: base.language });
    let from = 0;
    let index = 0;
    let producedAudio = false;
    let pendingSwitch: ProviderSwitch | undefined;
    for (;;) {
      const attempt: SynthesisAttempt = plan.attempts[index];
      const provider = this.registry.get(attempt.providerId);
      let current = from;
      try {
        const remaining = sentences.slice(from);
        const pcm = synthesizeSegments(
          remaining,
          (segment, _i, segmentSignal) =>
            this.resilience.stream(
              provider,
              { ...attempt.request, text: segment.text },
              segmentSignal,
              plan.source,
            ),
          signal,
          { lookAhead: 1, speed: attempt.request.speed, onSegment: (i) => (current = from + i) },
        );
        for await (const chunk of pcm) {
          producedAudio = true;
          yield { chunk, provider: provider.id, switched: pendingSwitch };
          pendingSwitch = undefined;
        }
        return;
      } catch (error) {
        if (signal.aborted) throw error;
        if (!(error instanceof ProviderError) || !error.retryable) {
          throw producedAudio ? interrupted(provider, error, plan) : error;
        }
        if (index + 1 >= plan.attempts.length)
          throw producedAudio ? interrupted(provider, error, plan) : error;
        index++;
        from = current;
        if (producedAudio) {
          pendingSwitch = {
            from: provider.id,
            to: plan.attempts[index].providerId,
            textOffset: sentences[from]?.start ?? 0,
          };
        }
      }
    }
  }
}

/** Engine PCM on its way to the encoder, with the provider that made it. */
export interface PcmPiece {
  readonly chunk: AudioChunk;
  readonly provider: ProviderId;
  readonly switched?: ProviderSwitch;
}

/** A failure after audio went out: no eos can follow, and the client must know the stream broke. */
function interrupted(provider: TtsProvider, error: unknown, plan: SynthesisPlan): GatewayException {
  const reason = error instanceof ProviderError ? error.publicReason : 'failed';
  const hint =
    plan.failover === 'mid_stream'
      ? 'and no fallback provider is left'
      : 'after audio had been sent (set "failover": "mid_stream" with fallback_providers to continue on another provider)';
  return new GatewayException(
    ErrorCode.ProviderStreamInterrupted,
    `provider "${provider.id}" ${reason} mid-stream ${hint}`,
  );
}
