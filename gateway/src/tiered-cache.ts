import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';
import type { OriginResult } from './internal-api.js';

/** The shared second layer (Redis). `undefined` means "unavailable right now", not "absent". */
export interface RemoteCache {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string, ttlSeconds: number): void;
}

export type CacheLayer = 'l1' | 'redis' | 'origin' | 'stale';

export interface CacheObserver {
  lookup(layer: CacheLayer, result: 'hit' | 'miss'): void;
}

export interface CacheEntry<V> {
  /** `null` is a negative entry: the origin said there is no such thing. */
  readonly value: V | null;
  readonly freshUntil: number;
  readonly staleUntil: number;
}

export type CacheLookup<V> = { ok: true; value: V | null } | { ok: false; reason: 'unavailable' };

export interface TieredCacheOptions<R, V> {
  readonly maxEntries: number;
  readonly freshTtlMs: number;
  readonly staleTtlMs: number;
  readonly negativeTtlMs: number;
  readonly redisTtlSeconds: number;
  readonly redisKey: (id: string) => string;
  readonly remote: RemoteCache | null;
  /** The source of truth (tenant-manager). Throws on outage. */
  readonly origin: (id: string) => Promise<OriginResult<R>>;
  /** Validates a record read back from Redis. */
  readonly parse: (value: unknown) => R | null;
  /** Builds what the hot path needs from a record, once per load. */
  readonly compile: (record: R) => V;
  readonly clock: Clock;
  readonly observer: CacheObserver;
}

/**
 * In-process LRU (bounded, fresh TTL, stale window, negative entries) over Redis over the
 * tenant-manager, with single-flight loads: however many requests miss at once, one load runs.
 */
export class TieredCache<R, V> {
  private readonly l1: LRUCache<string, CacheEntry<V>>;
  private readonly inflight = new Map<string, Promise<CacheLookup<V>>>();
  /** Bumped on every invalidation so a load that raced with it does not store what it read. */
  private generation = 0;

  constructor(private readonly options: TieredCacheOptions<R, V>) {
    this.l1 = new LRUCache({ max: options.maxEntries });
  }

  /** The L1 entry when still fresh: the synchronous fast path. */
  fresh(id: string): CacheEntry<V> | undefined {
    const entry = this.l1.get(id);
    if (entry && this.options.clock.now() < entry.freshUntil) {
      this.options.observer.lookup('l1', 'hit');
      return entry;
    }
    return undefined;
  }

  async get(id: string): Promise<CacheLookup<V>> {
    const entry = this.fresh(id);
    if (entry) return { ok: true, value: entry.value };
    this.options.observer.lookup('l1', 'miss');
    let pending = this.inflight.get(id);
    if (!pending) {
      pending = this.load(id).finally(() => {
        if (this.inflight.get(id) === pending) this.inflight.delete(id);
      });
      this.inflight.set(id, pending);
    }
    return pending;
  }

  invalidate(id: string): void {
    this.generation++;
    this.l1.delete(id);
    this.inflight.delete(id);
  }

  /** Evicts every entry whose value matches (negative entries are kept). */
  invalidateWhere(predicate: (value: V) => boolean): void {
    this.generation++;
    for (const [id, entry] of this.l1.entries()) {
      if (entry.value !== null && predicate(entry.value)) this.l1.delete(id);
    }
    this.inflight.clear();
  }

  clear(): void {
    this.generation++;
    this.l1.clear();
    this.inflight.clear();
  }

  get size(): number {
    return this.l1.size;
  }

  private async load(id: string): Promise<CacheLookup<V>> {
    const { options } = this;
    const generation = this.generation;
    const key = options.redisKey(id);
    if (options.remote) {
      const raw = await options.remote.get(key);
      const record = raw ? this.parseRemote(raw) : null;
      if (record) {
        options.observer.lookup('redis', 'hit');
        const value = options.compile(record);
        this.store(id, value, generation);
        return { ok: true, value };
      }
      options.observer.lookup('redis', 'miss');
    }
    let result: OriginResult<R>;
    try {
      result = await options.origin(id);
    } catch {
      options.observer.lookup('origin', 'miss');
      const stale = this.l1.get(id);
      if (stale && options.clock.now() < stale.staleUntil) {
        options.observer.lookup('stale', 'hit');
        return { ok: true, value: stale.value };
      }
      return { ok: false, reason: 'unavailable' };
    }
    options.observer.lookup('origin', 'hit');
    if (!result.found) {
      this.store(id, null, generation);
      return { ok: true, value: null };
    }
    const value = options.compile(result.record);
    this.store(id, value, generation);
    if (generation === this.generation) {
      options.remote?.set(key, JSON.stringify(result.record), options.redisTtlSeconds);
    }
    return { ok: true, value };
  }

  private parseRemote(raw: string): R | null {
    try {
      return this.options.parse(JSON.parse(raw));
    } catch {
      return null;
    }
  }

  private store(id: string, value: V | null, generation: number): void {
    if (generation !== this.generation) return;
    const now = this.options.clock.now();
    const ttl = value === null ? this.options.negativeTtlMs : this.options.freshTtlMs;
    this.l1.set(id, {
      value,
      freshUntil: now + ttl,
      staleUntil: value === null ? now + ttl : now + ttl + this.options.staleTtlMs,
    });
  }
}
