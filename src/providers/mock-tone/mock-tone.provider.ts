import { Inject, Injectable } from '@nestjs/common';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { providersConfig, type ProvidersConfig } from '../../config/configuration';
import { sleep } from '../../common/abort';
import type {
  AudioChunk,
  ProviderCapabilities,
  ProviderHealth,
  SynthesisRequest,
  TtsProvider,
  Voice,
} from '../provider.contract';

const SAMPLE_RATE = 24000;
const CHUNK_MS = 20;
const CHUNK_SAMPLES = (SAMPLE_RATE * CHUNK_MS) / 1000;
const AMPLITUDE = 0.3 * 32767;
/** Raised-cosine ramp at each segment edge so tone changes never click. */
const RAMP_SAMPLES = Math.round(SAMPLE_RATE * 0.005);

interface MockVoiceSpec {
  id: string;
  name: string;
  language: string;
  gender: 'female' | 'male';
  baseHz: number;
}

const MOCK_VOICES: readonly MockVoiceSpec[] = [
  { id: 'en-US-mock-1', name: 'Mock Tone (en-US, high)', language: 'en-US', gender: 'female', baseHz: 330 },
  { id: 'en-GB-mock-1', name: 'Mock Tone (en-GB, low)', language: 'en-GB', gender: 'male', baseHz: 165 },
  { id: 'de-DE-mock-1', name: 'Mock Tone (de-DE)', language: 'de-DE', gender: 'female', baseHz: 247 },
];

/** One stretch of the utterance: a tone at `hz` (0 = silence) lasting `samples`. */
interface Segment {
  hz: number;
  samples: number;
}

/**
 * Built-in tone generator: always available, deterministic, and text-dependent (each character maps to a
 * pitch, spaces and punctuation to pauses), so different texts give different audio and tests can compare
 * bytes. Streams 20 ms chunks; `MOCK_TONE_REALTIME_FACTOR` paces it like a real engine for slow-stream tests.
 */
@Injectable()
export class MockToneProvider implements TtsProvider {
  readonly id = 'mock_tone' as const;
  readonly displayName = 'Mock tone generator';
  readonly capabilities: ProviderCapabilities = {
    streaming: true,
    ssml: false,
    wordTimings: true,
    nativeSampleRate: SAMPLE_RATE,
  };

  constructor(@Inject(providersConfig.KEY) private readonly config: ProvidersConfig) {}

  listVoices(): Promise<Voice[]> {
    return Promise.resolve(
      MOCK_VOICES.map((v) => ({
        id: v.id,
        name: v.name,
        provider: this.id,
        language: v.language,
        languages: [v.language],
        gender: v.gender,
        sampleRateHz: SAMPLE_RATE,
      })),
    );
  }

  /** Its pace changes timing only, not audio; version the generator if its tones ever change. */
  cacheIdentity(): string {
    return 'mock-tone-1';
  }

  checkHealth(): Promise<ProviderHealth> {
    return Promise.resolve({ up: true });
  }

  async *synthesize(request: SynthesisRequest, signal: AbortSignal): AsyncGenerator<AudioChunk> {
    const spec = MOCK_VOICES.find((v) => v.id === request.voice.id) ?? MOCK_VOICES[0];
    const pace = this.config.mockTone.realtimeFactor;
    const startedAt = performance.now();
    let emittedSamples = 0;
    let chunkIndex = 0;

    for (const pcm of renderChunks(segmentsOf(request.text, spec.baseHz, request.speed))) {
      signal.throwIfAborted();
      if (pace > 0) {
        const dueMs = (emittedSamples / SAMPLE_RATE) * 1000 * pace;
        const waitMs = dueMs - (performance.now() - startedAt);
        if (waitMs > 1) await sleep(waitMs, signal);
      } else if (++chunkIndex % 64 === 0) {
        // Unpaced, a long text would otherwise run its whole loop in one macrotask.
        await yieldToEventLoop();
        signal.throwIfAborted();
      }
      emittedSamples += pcm.length;
      yield { pcm, sampleRate: SAMPLE_RATE };
    }
  }
}

export function segmentsOf(text: string, baseHz: number, speed = 1): Segment[] {
  const ms = (n: number) => Math.max(1, Math.round((SAMPLE_RATE * n) / 1000 / speed));
  const segments: Segment[] = [];
  for (const ch of text) {
    if (/\s/u.test(ch)) segments.push({ hz: 0, samples: ms(50) });
    else if (/[.,;:!?…]/u.test(ch)) segments.push({ hz: 0, samples: ms(150) });
    else {
      const cp = ch.codePointAt(0) ?? 0;
      // Two octaves of semitones above the voice's base pitch, picked by the character.
      segments.push({ hz: baseHz * 2 ** ((cp % 24) / 12), samples: ms(70) });
    }
  }
  return segments;
}

/** Renders segments into fixed 20 ms chunks (the last one may be shorter), phase-continuous across chunks. */
export function* renderChunks(segments: Segment[]): Generator<Int16Array> {
  let chunk = new Int16Array(CHUNK_SAMPLES);
  let fill = 0;
  let phase = 0;
  for (const seg of segments) {
    const step = (2 * Math.PI * seg.hz) / SAMPLE_RATE;
    for (let i = 0; i < seg.samples; i++) {
      let value = 0;
      if (seg.hz > 0) {
        const edge = Math.min(i, seg.samples - 1 - i);
        const gain = edge < RAMP_SAMPLES ? 0.5 - 0.5 * Math.cos((Math.PI * edge) / RAMP_SAMPLES) : 1;
        value = Math.round(AMPLITUDE * gain * Math.sin(phase));
        phase += step;
        if (phase > 2 * Math.PI) phase -= 2 * Math.PI;
      }
      chunk[fill++] = value;
      if (fill === CHUNK_SAMPLES) {
        yield chunk;
        chunk = new Int16Array(CHUNK_SAMPLES);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield chunk.subarray(0, fill);
}
