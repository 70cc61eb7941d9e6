/** Prometheus metrics of one server, in its own registry (so several servers in a process do not collide). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Limiter } from './limiter.js';

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route'>;
  documents: Counter<'route'>;
}

export function createMetrics(limiter: Limiter): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gpurank_' });
  const requests = new Counter({
    name: 'gpurank_http_requests_total',
    help: 'HTTP requests answered, by route, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gpurank_http_request_duration_seconds',
    help: 'Time from request to response, by route (queueing included)',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const documents = new Counter({
    name: 'gpurank_documents_scored_total',
    help: 'Documents scored by the model, by route',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  // Read at scrape time, so the values are never stale.
  new Gauge({
    name: 'gpurank_queue_depth',
    help: 'Rerank requests waiting for a model slot',
    registers: [registry],
    collect() {
      this.set(limiter.depth);
    },
  });
  new Gauge({
    name: 'gpurank_in_flight',
    help: 'Rerank requests holding a model slot',
    registers: [registry],
    collect() {
      this.set(limiter.inFlight);
    },
  });
  return { registry, requests, duration, documents };
}
