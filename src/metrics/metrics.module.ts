import { Global, Module } from '@nestjs/common';
import {
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
  PrometheusModule,
} from '@willsoto/nestjs-prometheus';
import { METRIC } from './metric-names';

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
  makeGaugeProvider({ name: METRIC.activeStreams, help: 'WebSocket audio streams in progress.' }),
  makeCounterProvider({
    name: METRIC.streamsTotal,
    help: 'Audio streams ended, by outcome (completed, failed, cancelled, disconnected).',
    labelNames: ['provider', 'format', 'outcome'],
  }),
  makeCounterProvider({
    name: METRIC.streamBytesTotal,
    help: 'Encoded audio bytes sent to clients, by target format.',
    labelNames: ['format'],
  }),
  makeHistogramProvider({
    name: METRIC.timeToFirstAudio,
    help: 'Seconds from the start of a stream to its first audio bytes on the wire.',
    labelNames: ['provider', 'format'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
  makeCounterProvider({
    name: METRIC.providerRequestsTotal,
    help: 'Synthesis requests to providers, by outcome (success, error, timeout, cancelled, rejected).',
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
];

@Global()
@Module({
  imports: [PrometheusModule.register({ path: '/metrics', defaultMetrics: { enabled: true } })],
  providers: metricProviders,
  exports: metricProviders,
})
export class MetricsModule {}
