import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheLayer } from './tiered-cache.js';

export interface GatewayMetrics {
  readonly registry: Registry;
  request(prefix: string, status: number): void;
  cacheLookup(cache: 'project' | 'key', layer: CacheLayer, result: 'hit' | 'miss'): void;
  upstreamLatency(prefix: string, status: number, seconds: number): void;
}

/** Prometheus metrics on a registry of their own (several gateways may share a process in tests). */
export function createGatewayMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'gateway_requests_total',
    help: 'Requests answered, by status code and API prefix',
    labelNames: ['prefix', 'status'] as const,
    registers: [registry],
  });
  const cache = new Counter({
    name: 'gateway_cache_lookups_total',
    help: 'Cache lookups by cache, layer (l1, redis, origin, stale) and result',
    labelNames: ['cache', 'layer', 'result'] as const,
    registers: [registry],
  });
  const upstream = new Histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Time to upstream response headers',
    labelNames: ['prefix', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Label lookups hash their arguments on every call; the children are few, so keep them.
  const requestChild = memo((prefix: string, status: string) => requests.labels(prefix, status));
  const cacheChild = memo((name: string, layer: string, result: string) => cache.labels(name, layer, result));
  const upstreamChild = memo((prefix: string, status: string) => upstream.labels(prefix, status));
  return {
    registry,
    request: (prefix, status) => requestChild(prefix, String(status)).inc(),
    cacheLookup: (name, layer, result) => cacheChild(name, layer, result).inc(),
    upstreamLatency: (prefix, status, seconds) => upstreamChild(prefix, String(status)).observe(seconds),
  };
}

function memo<A extends string[], R>(make: (...args: A) => R): (...args: A) => R {
  const children = new Map<string, R>();
  return (...args) => {
    const id = args.join('|');
    let child = children.get(id);
    if (child === undefined) {
      child = make(...args);
      children.set(id, child);
    }
    return child;
  };
}
