import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from './metrics.js';

/** The same series recorded with prom-client's own classes: the exposition must not change. */
async function referenceText(): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({
    name: 'gateway_requests_total',
    help: 'Requests answered, by status code and API prefix',
    labelNames: ['prefix', 'status'],
    registers: [registry],
  });
  const cache = new Counter({
    name: 'gateway_cache_lookups_total',
    help: 'Cache lookups by cache, layer (l1, redis, origin, stale) and result',
    labelNames: ['cache', 'layer', 'result'],
    registers: [registry],
  });
  const upstream = new Histogram({
    name: 'gateway_upstream_duration_seconds',
    help: 'Time to upstream response headers',
    labelNames: ['prefix', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const lookups = new Histogram({
    name: 'gateway_registry_lookup_duration_seconds',
    help: 'Tenant-manager lookups of what no cache held, by cache and outcome (found, not_found, error)',
    labelNames: ['cache', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  requests.labels('rest', '200').inc(3);
  requests.labels('auth', '401').inc();
  cache.labels('key', 'l1', 'hit').inc(2);
  cache.labels('project', 'origin', 'miss').inc();
  for (const seconds of [0.0004, 0.001, 0.003, 0.2, 42]) upstream.labels('rest', '200').observe(seconds);
  upstream.labels('rest', '504').observe(30);
  for (const seconds of [0.0003, 0.0012]) lookups.labels('key', 'found').observe(seconds);
  lookups.labels('project', 'error').observe(2);
  new Gauge({
    name: 'gateway_live_instances',
    help: 'Live gateway instances seen in Redis; each enforces this share of a project rate limit',
    registers: [registry],
  }).set(3);
  return registry.metrics();
}

describe('gateway metrics', () => {
  it('renders exactly what prom-client would for the same observations', async () => {
    const metrics = createGatewayMetrics();
    for (let i = 0; i < 3; i++) metrics.request('rest', 200);
    metrics.request('auth', 401);
    metrics.cacheLookup('key', 'l1', 'hit');
    metrics.cacheLookup('key', 'l1', 'hit');
    metrics.cacheLookup('project', 'origin', 'miss');
    for (const seconds of [0.0004, 0.001, 0.003, 0.2, 42]) metrics.upstreamLatency('rest', 200, seconds);
    metrics.upstreamLatency('rest', 504, 30);
    for (const seconds of [0.0003, 0.0012]) metrics.registryLookup('key', 'found', seconds);
    metrics.registryLookup('project', 'error', 2);
    metrics.liveInstances(3);
    const text = await metrics.registry.metrics();
    expect(text).toBe(await referenceText());
    expect(text).toContain(
      'gateway_upstream_duration_seconds_bucket{le="0.001",prefix="rest",status="200"} 2',
    );
    expect(text).toContain(
      'gateway_upstream_duration_seconds_bucket{le="+Inf",prefix="rest",status="200"} 5',
    );
  });

  it('starts from zero again after a registry reset', async () => {
    const metrics = createGatewayMetrics();
    metrics.request('rest', 200);
    metrics.registry.resetMetrics();
    metrics.request('rest', 500);
    const json = await metrics.registry.getMetricsAsJSON();
    const requests = json.find((m) => m.name === 'gateway_requests_total');
    expect(requests?.values).toEqual([{ labels: { prefix: 'rest', status: '500' }, value: 1 }]);
  });
});
