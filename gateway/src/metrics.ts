import { Gauge, type Metric, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheLayer } from './tiered-cache.js';

export interface GatewayMetrics {
  readonly registry: Registry;
  request(prefix: string, status: number): void;
  cacheLookup(cache: 'project' | 'key', layer: CacheLayer, result: 'hit' | 'miss'): void;
  upstreamLatency(prefix: string, status: number, seconds: number): void;
  /** A tenant-manager lookup of a project or key no cache held: how long it took and how it ended. */
  registryLookup(cache: 'project' | 'key', outcome: 'found' | 'not_found' | 'error', seconds: number): void;
  /** Live gateway instances sharing each project's rate limit (set every few seconds, not per request). */
  liveInstances(count: number): void;
}

const UPSTREAM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Lookups are a cold request's largest part after the upstream: finer at the low end. */
const REGISTRY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Prometheus metrics on a registry of their own (several gateways may share a process in tests).
 * The gateway's own series are plain numbers in memory, rendered by the registry at scrape time:
 * prom-client validates and hashes the labels on every `inc`/`observe`, even on bound children,
 * which is measurable on a path that costs tens of microseconds.
 */
export function createGatewayMetrics(options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const requests = new LabelledCounter(
    'gateway_requests_total',
    'Requests answered, by status code and API prefix',
    ['prefix', 'status'],
  );
  const cache = new LabelledCounter(
    'gateway_cache_lookups_total',
    'Cache lookups by cache, layer (l1, redis, origin, stale) and result',
    ['cache', 'layer', 'result'],
  );
  const upstream = new LabelledHistogram(
    'gateway_upstream_duration_seconds',
    'Time to upstream response headers',
    ['prefix', 'status'],
    UPSTREAM_BUCKETS,
  );
  const lookups = new LabelledHistogram(
    'gateway_registry_lookup_duration_seconds',
    'Tenant-manager lookups of what no cache held, by cache and outcome (found, not_found, error)',
    ['cache', 'outcome'],
    REGISTRY_BUCKETS,
  );
  for (const metric of [requests, cache, upstream, lookups]) {
    registry.registerMetric(metric as unknown as Metric);
  }
  const instances = new Gauge({
    name: 'gateway_live_instances',
    help: 'Live gateway instances seen in Redis; each enforces this share of a project rate limit',
    registers: [registry],
  });
  instances.set(1);
  return {
    registry,
    request: (prefix, status) => requests.child2(prefix, status).value++,
    cacheLookup: (name, layer, result) => cache.child3(name, layer, result).value++,
    upstreamLatency: (prefix, status, seconds) => upstream.child2(prefix, status).observe(seconds),
    registryLookup: (name, outcome, seconds) => lookups.child2(name, outcome).observe(seconds),
    liveInstances: (count) => instances.set(count),
  };
}

interface Series {
  readonly labels: Record<string, string>;
}

/** Label children in nested maps keyed by the label values themselves: no joining, no hashing. */
class SeriesTable<S extends Series> {
  private readonly root = new Map<unknown, unknown>();
  readonly all: S[] = [];

  constructor(
    readonly labelNames: readonly string[],
    private readonly make: (labels: Record<string, string>) => S,
  ) {}

  lookup(values: readonly (string | number)[]): S {
    let map = this.root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = map.get(values[i]) as Map<unknown, unknown> | undefined;
      if (!next) {
        next = new Map();
        map.set(values[i], next);
      }
      map = next;
    }
    const last = values[values.length - 1];
    let series = map.get(last) as S | undefined;
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = String(values[i]);
      });
      series = this.make(labels);
      map.set(last, series);
      this.all.push(series);
    }
    return series;
  }

  /** Two-label fast path (the hot path's counters and histogram). */
  lookup2(a: string, b: string | number): S {
    const inner = this.root.get(a) as Map<unknown, S> | undefined;
    return inner?.get(b) ?? this.lookup([a, b]);
  }

  lookup3(a: string, b: string, c: string): S {
    const inner = (this.root.get(a) as Map<unknown, Map<unknown, S>> | undefined)?.get(b);
    return inner?.get(c) ?? this.lookup([a, b, c]);
  }

  clear(): void {
    this.root.clear();
    this.all.length = 0;
  }
}

/** What the counter and the histogram share: name, help, their series table and prom-client's `reset()`. */
abstract class LabelledMetric<S extends Series> {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum';
  protected readonly series: SeriesTable<S>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    make: (labels: Record<string, string>) => S,
  ) {
    this.series = new SeriesTable(labelNames, make);
  }

  child2(a: string, b: string | number): S {
    return this.series.lookup2(a, b);
  }

  reset(): void {
    this.series.clear();
  }
}

interface CounterSeries extends Series {
  value: number;
}

/** A counter with labels, in the shape prom-client's registry renders (`get()`). */
class LabelledCounter extends LabelledMetric<CounterSeries> {
  readonly type = 'counter';

  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames, (labels) => ({ labels, value: 0 }));
  }

  child3(a: string, b: string, c: string): CounterSeries {
    return this.series.lookup3(a, b, c);
  }

  get() {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.series.all.map((s) => ({ labels: { ...s.labels }, value: s.value })),
    };
  }
}

interface HistogramSeries extends Series {
  /** Per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  observe(value: number): void;
}

/** A histogram with labels, rendered like prom-client's (`le` first, cumulative buckets, _sum, _count). */
class LabelledHistogram extends LabelledMetric<HistogramSeries> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames, (labels) => {
      const series: HistogramSeries = {
        labels,
        counts: new Float64Array(buckets.length + 1),
        sum: 0,
        count: 0,
        observe(value) {
          let i = 0;
          while (i < buckets.length && value > buckets[i]!) i++;
          series.counts[i]!++;
          series.sum += value;
          series.count++;
        },
      };
      return series;
    });
  }

  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const s of this.series.all) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
