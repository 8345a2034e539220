import { describe, expect, it } from 'vitest';
import type { OriginResult } from './internal-api.js';
import { type RemoteCache, TieredCache } from './tiered-cache.js';

interface Item {
  readonly id: string;
  readonly version: number;
}

/** An origin whose every call is answered by the test (`resolve`/`fail`), in order. */
function controlledOrigin() {
  const calls: Array<{
    id: string;
    resolve: (version: number) => void;
    fail: () => void;
  }> = [];
  const origin = (id: string) =>
    new Promise<OriginResult<Item>>((resolve, reject) => {
      calls.push({
        id,
        resolve: (version) => resolve({ found: true, record: { id, version } }),
        fail: () => reject(new Error('tenant-manager down')),
      });
    });
  return { calls, origin };
}

function cacheWith(origin: (id: string) => Promise<OriginResult<Item>>, remote: RemoteCache | null = null) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const cache = new TieredCache<Item, Item>({
    maxEntries: 100,
    freshTtlMs: 1_000,
    staleTtlMs: 10_000,
    negativeTtlMs: 500,
    redisTtlSeconds: 60,
    redisKey: (id) => `test:${id}`,
    remote,
    origin,
    parse: (value) => value as Item,
    compile: (record) => record,
    clock,
    observer: { lookup: () => {} },
  });
  return {
    cache,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TieredCache refresh-ahead', () => {
  it('reloads an entry read in the last 20% of its TTL once, in the background, so reads never miss', async () => {
    const { calls, origin } = controlledOrigin();
    const { cache, advance } = cacheWith(origin);
    const first = cache.get('a');
    calls[0]!.resolve(1);
    expect(await first).toEqual({ ok: true, value: { id: 'a', version: 1 } });

    advance(700); // 70% of the TTL: no refresh yet
    expect(cache.fresh('a')?.value?.version).toBe(1);
    expect(calls).toHaveLength(1);

    advance(150); // 85%: served at once, one refresh starts
    expect(cache.fresh('a')?.value?.version).toBe(1);
    expect(cache.fresh('a')?.value?.version).toBe(1);
    expect((await cache.get('a')).ok).toBe(true);
    expect(calls).toHaveLength(2);
    expect(cache.loading('a')).toBe(true);

    calls[1]!.resolve(2);
    await tick();
    expect(cache.loading('a')).toBe(false);
    advance(400); // past the first entry's TTL: the refreshed one is still fresh
    expect(cache.fresh('a')?.value?.version).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it('a refresh racing an invalidation does not bring the old entry back', async () => {
    const { calls, origin } = controlledOrigin();
    const { cache, advance } = cacheWith(origin);
    const first = cache.get('a');
    calls[0]!.resolve(1);
    await first;
    advance(900);
    expect(cache.fresh('a')?.value?.version).toBe(1); // starts the refresh
    expect(calls).toHaveLength(2);

    cache.invalidate('a');
    expect(cache.fresh('a')).toBeUndefined();
    calls[1]!.resolve(1); // the refresh read the value from before the invalidation
    await tick();
    expect(cache.fresh('a')).toBeUndefined();

    const reloaded = cache.get('a');
    expect(calls).toHaveLength(3);
    calls[2]!.resolve(3);
    expect(await reloaded).toEqual({ ok: true, value: { id: 'a', version: 3 } });
  });

  it('invalidating one key cancels only that key’s load', async () => {
    const { calls, origin } = controlledOrigin();
    const { cache } = cacheWith(origin);
    const a = cache.get('a');
    const b = cache.get('b');
    cache.invalidate('a');
    calls[0]!.resolve(1);
    calls[1]!.resolve(1);
    await Promise.all([a, b]);
    expect(cache.fresh('a')).toBeUndefined();
    expect(cache.fresh('b')?.value?.version).toBe(1);
  });

  it('a failed refresh keeps serving the entry until it expires and is not retried on every read', async () => {
    const { calls, origin } = controlledOrigin();
    const { cache, advance } = cacheWith(origin);
    const first = cache.get('a');
    calls[0]!.resolve(1);
    await first;
    advance(850);
    cache.fresh('a');
    calls[1]!.fail();
    await tick();
    advance(50);
    expect(cache.fresh('a')?.value?.version).toBe(1);
    expect(calls).toHaveLength(2);
    advance(200); // expired: the next read is an ordinary miss
    expect(cache.fresh('a')).toBeUndefined();
    const miss = cache.get('a');
    expect(calls).toHaveLength(3);
    calls[2]!.resolve(2);
    expect(await miss).toEqual({ ok: true, value: { id: 'a', version: 2 } });
  });
});

describe('TieredCache writes to Redis', () => {
  function withRemote() {
    const { calls, origin } = controlledOrigin();
    const writes: Array<{ key: string; value: string; ttlSeconds: number }> = [];
    // Redis itself is exercised in faults.test.ts; here only what the cache asks of it matters.
    const { cache } = cacheWith(origin, {
      get: async () => null,
      set: (key, value, ttlSeconds) => writes.push({ key, value, ttlSeconds }),
    });
    return { cache, calls, writes };
  }

  it('shares a loaded record after the caller has it, on a later turn of the event loop', async () => {
    const { cache, calls, writes } = withRemote();
    const lookup = cache.get('a');
    await tick();
    calls[0]!.resolve(1);
    expect(await lookup).toEqual({ ok: true, value: { id: 'a', version: 1 } });
    expect(writes).toEqual([]);
    await tick();
    expect(writes).toEqual([
      { key: 'test:a', value: JSON.stringify({ id: 'a', version: 1 }), ttlSeconds: 60 },
    ]);
  });

  it('does not share a record invalidated before its write: it may be stale', async () => {
    const { cache, calls, writes } = withRemote();
    const lookup = cache.get('a');
    await tick();
    calls[0]!.resolve(1);
    await lookup;
    cache.invalidate('a');
    await tick();
    await tick();
    expect(writes).toEqual([]);
    expect(cache.seen('a')).toBe(false);
  });
});
