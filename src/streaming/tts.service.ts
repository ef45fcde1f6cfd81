import { Injectable } from '@nestjs/common';
import { ProviderError, type ProviderId, type SynthesisRequest } from '../providers/provider.contract';
import { ProviderRegistry } from '../providers/provider.registry';
import type { AudioFormat } from '../transcode/audio-format';
import { TranscodeService } from '../transcode/transcode.service';
import { ProviderResilienceService } from './provider-resilience.service';

/** One way to voice the utterance: a provider and the request it gets. */
export interface SynthesisAttempt {
  readonly providerId: ProviderId;
  readonly request: SynthesisRequest;
}

export interface SynthesisPlan {
  /** The session's provider first, then its fallbacks, tried in order before any audio is produced. */
  readonly attempts: readonly SynthesisAttempt[];
  readonly format: AudioFormat;
  readonly sampleRate: number;
  /** Produce one file with exact container sizes instead of a live stream. */
  readonly wholeFile?: boolean;
}

/** Encoded bytes ready for the wire, with the provider that made them and the audio they hold. */
export interface EncodedAudio {
  readonly data: Uint8Array;
  readonly providerId: ProviderId;
  /** Milliseconds of audio encoded so far (at the output rate). */
  readonly audioMs: number;
}

/**
 * The audio path: provider → resilience (timeouts, breaker, pre-audio failover) → transcoder. Pull-based:
 * nothing is synthesized faster than the consumer takes it, which is how socket backpressure reaches the
 * engine. Knows nothing about sessions or sockets, so the WebSocket stream, the file route and the
 * OpenAI-compatible route all use it.
 */
@Injectable()
export class TtsService {
  constructor(
    private readonly registry: ProviderRegistry,
    private readonly resilience: ProviderResilienceService,
    private readonly transcode: TranscodeService,
  ) {}

  async *synthesize(plan: SynthesisPlan, signal: AbortSignal): AsyncGenerator<EncodedAudio> {
    const stream = this.transcode.openStream({
      format: plan.format,
      sampleRate: plan.sampleRate,
      wholeFile: plan.wholeFile,
    });
    try {
      let producedAudio = false;
      let lastError: unknown;
      for (const attempt of plan.attempts) {
        const provider = this.registry.get(attempt.providerId);
        try {
          for await (const chunk of this.resilience.stream(provider, attempt.request, signal)) {
            producedAudio = true;
            const data = await stream.write(chunk);
            if (data.length > 0) yield { data, providerId: provider.id, audioMs: stream.audioMs };
          }
          const tail = await stream.end();
          if (tail.length > 0) yield { data: tail, providerId: provider.id, audioMs: stream.audioMs };
          return;
        } catch (error) {
          // After the first audio a switch would change the voice mid-utterance: fail instead.
          if (signal.aborted || producedAudio || !(error instanceof ProviderError) || !error.retryable)
            throw error;
          lastError = error;
        }
      }
      throw lastError;
    } finally {
      stream.dispose();
    }
  }
}
