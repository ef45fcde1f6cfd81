import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getToken } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { METRIC } from './metric-names';

/**
 * HTTP requests by method, route template (`/v1/tts/sessions/:id`, never the raw URL: ids would explode the
 * label set) and status, with their duration to the end of the body. A Fastify hook, because it must see
 * every answer: 404s for unknown routes, 415s from the body parser and streamed bodies included.
 */
export function countHttpRequests(app: NestFastifyApplication): void {
  const total = app.get<Counter<string>>(getToken(METRIC.httpRequestsTotal));
  const duration = app.get<Histogram<string>>(getToken(METRIC.httpRequestDuration));
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions?.url ?? 'unmatched';
      total.inc({ method: request.method, route, status: String(reply.statusCode) });
      duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
      done();
    });
}
