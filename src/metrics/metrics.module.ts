import { Global, Module } from '@nestjs/common';
import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { METRIC } from './metric-names';
import { MetricsController } from './metrics.controller';

/**
 * Prometheus at GET /metrics with process metrics, plus the gateway's own series. Labels are bounded sets
 * (provider, format, outcome, route): never a session id, a voice text or a client address.
 */
const metricProviders = [
  makeCounterProvider({
    name: METRIC.sessionsTotal,
    help: 'Sessions created, by provider and target format.',
    labelNames: ['provider', 'format'],
  }),
  makeGaugeProvider({
    name: METRIC.activeStreams,
    help: 'Syntheses in progress, by route (stream = WebSocket session stream, file, speech, live).',
    labelNames: ['route'],
  }),
  makeCounterProvider({
    name: METRIC.streamsTotal,
    help: 'Syntheses ended, by route and outcome (completed, failed, cancelled, disconnected).',
    labelNames: ['provider', 'format', 'outcome', 'route'],
  }),
  makeCounterProvider({
    name: METRIC.streamBytesTotal,
    help: 'Encoded audio bytes sent to clients, by target format and route.',
    labelNames: ['format', 'route'],
  }),
  makeHistogramProvider({
    name: METRIC.timeToFirstAudio,
    help: 'Seconds from the start of a synthesis to its first audio bytes on the wire.',
    labelNames: ['provider', 'format', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
  makeCounterProvider({
    name: METRIC.providerSwitchesTotal,
    help: 'Mid-stream failovers from one provider to another.',
    labelNames: ['from', 'to'],
  }),
  makeGaugeProvider({
    name: METRIC.resumeBufferBytes,
    help: 'Bytes of encoded audio held in resume (replay) buffers.',
  }),
  makeCounterProvider({
    name: METRIC.resumesTotal,
    help: 'Reconnects with ?from_seq, by outcome (resumed, unavailable, invalid, lost: the producing replica died).',
    labelNames: ['outcome'],
  }),
  makeCounterProvider({
    name: METRIC.clientMessagesRejectedTotal,
    help: 'Client WebSocket messages answered with a warning or refused, by reason.',
    labelNames: ['reason'],
  }),
  makeCounterProvider({
    name: METRIC.httpRequestsTotal,
    help: 'HTTP requests answered, by method, route template and status.',
    labelNames: ['method', 'route', 'status'],
  }),
  makeHistogramProvider({
    name: METRIC.httpRequestDuration,
    help: 'Seconds to answer an HTTP request (to the end of the body), by method and route template.',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  makeCounterProvider({
    name: METRIC.providerRequestsTotal,
    help: 'Synthesis requests to providers, by outcome (success, error, timeout, busy, cancelled, rejected).',
    labelNames: ['provider', 'outcome'],
  }),
  makeGaugeProvider({
    name: METRIC.providerCircuitState,
    help: 'Circuit breaker per provider: 0 closed, 1 open, 2 half-open.',
    labelNames: ['provider'],
  }),
  makeCounterProvider({
    name: METRIC.rateLimitedTotal,
    help: 'Requests refused by a rate or concurrency limit, by route.',
    labelNames: ['route'],
  }),
  makeCounterProvider({
    name: METRIC.redisCommandsTotal,
    help: 'Redis round trips (a command or a pipeline), by operation and outcome (ok, error).',
    labelNames: ['command', 'outcome'],
  }),
  makeHistogramProvider({
    name: METRIC.redisCommandDuration,
    help: 'Seconds per Redis round trip, by operation.',
    labelNames: ['command'],
    buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
  }),
  makeGaugeProvider({
    name: METRIC.redisUp,
    help: '1 while the Redis connection is ready (REDIS_URL set), else 0.',
  }),
  makeCounterProvider({
    name: METRIC.keyUsageTotal,
    help: 'Usage per API key (labelled with the key name, never the key): sessions, characters, audio_seconds, bytes.',
    labelNames: ['key', 'kind'],
  }),
  makeCounterProvider({
    name: METRIC.cacheEventsTotal,
    help: 'Audio cache events: hit (served from store), miss (synthesized), join (joined a running synthesis), eviction.',
    labelNames: ['event'],
  }),
  makeGaugeProvider({ name: METRIC.cacheBytes, help: 'Bytes of engine PCM held by the audio cache.' }),
];

@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      defaultMetrics: { enabled: true },
      controller: MetricsController,
    }),
  ],
  providers: metricProviders,
  exports: metricProviders,
})
export class MetricsModule {}
