import { LRUCache } from 'lru-cache';
import type { Clock } from './clock.js';
import type { OriginResult } from './internal-api.js';

/** The shared second layer (Redis). `undefined` means "unavailable right now", not "absent". */
export interface RemoteCache {
  get(key: string): Promise<string | null | undefined>;
  set(key: string, value: string, ttlSeconds: number): void;
}

export type CacheLayer = 'l1' | 'redis' | 'origin' | 'stale';

interface CacheObserver {
  lookup(layer: CacheLayer, result: 'hit' | 'miss'): void;
}

interface CacheEntry<V> {
  /** `null` is a negative entry: the origin said there is no such thing. */
  readonly value: V | null;
  readonly freshUntil: number;
  readonly staleUntil: number;
  /** From then on (the last part of the fresh TTL) a read starts one background refresh. */
  refreshAt: number;
}

export type CacheLookup<V> = { ok: true; value: V | null } | { ok: false; reason: 'unavailable' };

interface TieredCacheOptions<R, V> {
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
  /**
   * Refresh-ahead: an entry read in this last fraction of its fresh TTL is reloaded in the
   * background (one load per key), so steady traffic never waits on a miss. 0 turns it off.
   * Default 0.2.
   */
  readonly refreshAheadFraction?: number;
}

/** One load of one key. `cancelled` is that key's generation moving on: the result is not stored. */
interface Flight<V> {
  readonly promise: Promise<CacheLookup<V>>;
  cancelled: boolean;
}

/**
 * In-process LRU (bounded, fresh TTL, stale window, negative entries) over Redis over the
 * tenant-manager, with single-flight loads: however many requests miss at once, one load runs.
 * Entries read near the end of their fresh TTL are refreshed ahead in the background.
 *
 * Invalidation evicts at once and cancels the key's load in flight (its generation moves on), so
 * a load or refresh that read the old value before the invalidation never stores it afterwards.
 */
export class TieredCache<R, V> {
  private readonly l1: LRUCache<string, CacheEntry<V>>;
  private readonly inflight = new Map<string, Flight<V>>();
  private readonly refreshAheadFraction: number;

  constructor(private readonly options: TieredCacheOptions<R, V>) {
    this.l1 = new LRUCache({ max: options.maxEntries });
    this.refreshAheadFraction = Math.min(Math.max(options.refreshAheadFraction ?? 0.2, 0), 1);
  }

  /** The L1 entry when still fresh: the synchronous fast path (may start a refresh-ahead). */
  fresh(id: string): CacheEntry<V> | undefined {
    const entry = this.l1.get(id);
    if (entry === undefined) return undefined;
    const now = this.options.clock.now();
    if (now >= entry.freshUntil) return undefined;
    this.options.observer.lookup('l1', 'hit');
    if (now >= entry.refreshAt) {
      // One attempt per entry: a failed refresh leaves it to expire and take the normal miss path.
      entry.refreshAt = Number.POSITIVE_INFINITY;
      if (!this.inflight.has(id)) this.start(id).promise.catch(() => undefined);
    }
    return entry;
  }

  async get(id: string): Promise<CacheLookup<V>> {
    const entry = this.fresh(id);
    if (entry) return { ok: true, value: entry.value };
    this.options.observer.lookup('l1', 'miss');
    return (this.inflight.get(id) ?? this.start(id)).promise;
  }

  /** True when L1 holds an entry for `id`, fresh or not, negative ones included. */
  seen(id: string): boolean {
    return this.l1.has(id);
  }

  /** True while a load (a miss or a refresh-ahead) runs for `id`. */
  loading(id: string): boolean {
    return this.inflight.has(id);
  }

  invalidate(id: string): void {
    this.l1.delete(id);
    this.cancel(id);
  }

  /** Evicts every entry whose value matches (negative entries are kept); cancels every load in flight. */
  invalidateWhere(predicate: (value: V) => boolean): void {
    for (const [id, entry] of this.l1.entries()) {
      if (entry.value !== null && predicate(entry.value)) this.l1.delete(id);
    }
    for (const id of [...this.inflight.keys()]) this.cancel(id);
  }

  clear(): void {
    this.l1.clear();
    for (const id of [...this.inflight.keys()]) this.cancel(id);
  }

  get size(): number {
    return this.l1.size;
  }

  private start(id: string): Flight<V> {
    const flight = { cancelled: false } as { promise: Promise<CacheLookup<V>>; cancelled: boolean };
    flight.promise = this.load(id, flight).finally(() => {
      if (this.inflight.get(id) === flight) this.inflight.delete(id);
    });
    this.inflight.set(id, flight);
    return flight;
  }

  private cancel(id: string): void {
    const flight = this.inflight.get(id);
    if (!flight) return;
    flight.cancelled = true;
    this.inflight.delete(id);
  }

  private async load(id: string, flight: { readonly cancelled: boolean }): Promise<CacheLookup<V>> {
    const { options } = this;
    const key = options.redisKey(id);
    if (options.remote) {
      const raw = await options.remote.get(key);
      const record = raw ? this.parseRemote(raw) : null;
      if (record) {
        options.observer.lookup('redis', 'hit');
        const value = options.compile(record);
        this.store(id, value, flight);
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
      this.store(id, null, flight);
      return { ok: true, value: null };
    }
    const value = options.compile(result.record);
    this.store(id, value, flight);
    const remote = options.remote;
    if (remote && !flight.cancelled) {
      // Shared with the other instances on a later turn of the event loop, once the request that
      // missed has gone on its way: serialising and writing the record are not on its path. Not
      // written when what was stored is gone by then (an invalidation evicted it: it may be stale).
      const stored = this.l1.peek(id);
      setImmediate(() => {
        if (this.l1.peek(id) !== stored) return;
        remote.set(key, JSON.stringify(result.record), options.redisTtlSeconds);
      });
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

  private store(id: string, value: V | null, flight: { readonly cancelled: boolean }): void {
    if (flight.cancelled) return;
    const now = this.options.clock.now();
    const ttl = value === null ? this.options.negativeTtlMs : this.options.freshTtlMs;
    this.l1.set(id, {
      value,
      freshUntil: now + ttl,
      staleUntil: value === null ? now + ttl : now + ttl + this.options.staleTtlMs,
      refreshAt:
        this.refreshAheadFraction > 0
          ? now + ttl * (1 - this.refreshAheadFraction)
          : Number.POSITIVE_INFINITY,
    });
  }
}
