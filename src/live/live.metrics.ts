import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

/**
 * Metrics of the live socket, declared beside it. Contexts also count in the gateway-wide series through
 * `SynthesisRuns` (`tts_active_streams{route="live"}`, `tts_streams_total`, bytes, time to first audio).
 */
export const LIVE_METRIC = {
  activeContexts: 'tts_live_active_contexts',
  sentenceTtfa: 'tts_live_sentence_time_to_first_audio_seconds',
  clearLatency: 'tts_live_clear_latency_seconds',
  sentencesTotal: 'tts_live_sentences_total',
} as const;

export const LIVE_METRIC_PROVIDERS = [
  makeGaugeProvider({
    name: LIVE_METRIC.activeContexts,
    help: 'Live text contexts open, over all sockets.',
  }),
  makeHistogramProvider({
    name: LIVE_METRIC.sentenceTtfa,
    help: 'Seconds from a live sentence being complete (or flushed) to its first audio frame on the wire.',
    labelNames: ['provider'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  }),
  makeHistogramProvider({
    name: LIVE_METRIC.clearLatency,
    help: 'Seconds from a live `clear` message to its `cleared` acknowledgement.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
  }),
  makeCounterProvider({
    name: LIVE_METRIC.sentencesTotal,
    help: 'Live sentences synthesized, by what completed them (punctuation, idle_gap, flush, end).',
    labelNames: ['trigger'],
  }),
];
