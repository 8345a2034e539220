import { type RunningRedis, startRedis } from '@supaplane/local-services';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyRedisKey, projectRedisKey } from './redis-layer.js';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import { TEST_AWS, call, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';
import { hashApiKey } from '@supaplane/keys';

let redis: RunningRedis;
let echo: EchoUpstream;
let registry: RegistryServer;
let first: RunningGateway;
let second: RunningGateway;
let project: TestProject;

const status = async (gateway: RunningGateway, key: string, ref = project.ref) =>
  (await call(gateway.url, ref, '/rest/v1/todos', { headers: { apikey: key } })).status;

/** Polls until `check` holds; returns the elapsed milliseconds. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

async function waitForRedis(gateway: RunningGateway) {
  await within(10_000, async () => {
    const res = await request(`${gateway.url}/ready`);
    return ((await res.body.json()) as { redis: string }).redis === 'ok';
  });
}

beforeAll(async () => {
  [redis, echo] = await Promise.all([startRedis(), startEchoUpstream(TEST_AWS)]);
  registry = await startRegistryServer({ token: 'internal-token', redisUrl: redis.url });
  project = registry.addProject('deltadeltadeltadelta', {
    upstreams: upstreamsFor('deltadeltadeltadelta', echo.port),
  });
  [first, second] = await Promise.all([
    startGateway(testConfig(registry, {}, redis.url)),
    startGateway(testConfig(registry, {}, redis.url)),
  ]);
  await Promise.all([waitForRedis(first), waitForRedis(second)]);
});

afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
  await registry?.close();
  await echo?.close();
  await redis?.stop();
});

describe('invalidation across instances sharing one Redis', () => {
  it('rejects a revoked key on both gateways within 1 s', async () => {
    const key = registry.addKey(project.ref, 'publishable');
    expect(await status(first, key)).toBe(200);
    expect(await status(second, key)).toBe(200);
    await registry.revokeKey(key);
    const elapsed = await within(
      1_000,
      async () => (await status(first, key)) === 401 && (await status(second, key)) === 401,
    );
    expect(elapsed).toBeLessThan(1_000);
  });

  it('answers 503 on both gateways within 1 s of a pause, and 200 again after restore', async () => {
    const other = registry.addProject('epsilonepsilonepsilo', {
      upstreams: upstreamsFor('epsilonepsilonepsilo', echo.port),
    });
    expect(await status(first, other.publishableKey, other.ref)).toBe(200);
    expect(await status(second, other.publishableKey, other.ref)).toBe(200);
    await registry.setStatus(other.ref, 'PAUSED');
    await within(1_000, async () => {
      const codes = await Promise.all([first, second].map((g) => status(g, other.publishableKey, other.ref)));
      return codes.every((c) => c === 503);
    });
    await registry.setStatus(other.ref, 'ACTIVE_HEALTHY');
    await within(1_000, async () => (await status(first, other.publishableKey, other.ref)) === 200);
    await registry.deleteProject(other.ref);
    await within(1_000, async () => (await status(second, other.publishableKey, other.ref)) === 404);
  });
});

describe('rate limits across instances sharing one Redis', () => {
  const liveInstances = async (gateway: RunningGateway) => {
    const text = await (await request(`${gateway.url}/metrics`)).body.text();
    return Number(/^gateway_live_instances (\d+)$/m.exec(text)?.[1]);
  };
  const passes = async (gateway: RunningGateway, p: TestProject) => {
    let passed = 0;
    for (let i = 0; i < 20; i++) {
      const res = await call(gateway.url, p.ref, '/rest/v1/todos', { headers: { apikey: p.publishableKey } });
      if (res.status === 429) return passed;
      expect(res.status).toBe(200);
      passed++;
    }
    return passed;
  };

  it('splits a project limit between the live gateways, follows limit changes within 1 s and re-splits when one leaves', async () => {
    await within(
      5_000,
      async () => (await liveInstances(first)) === 2 && (await liveInstances(second)) === 2,
    );
    const limited = registry.addProject('quotaquotaquotaquota', {
      upstreams: upstreamsFor('quotaquotaquotaquota', echo.port),
      rateLimit: { requestsPerSecond: 0.01, burst: 8 },
    });
    // Half of the burst on each instance (the refill, one request per 200 s, never lands in the test).
    expect(await passes(first, limited)).toBe(4);
    expect(await passes(second, limited)).toBe(4);
    // Raising the limit reaches both instances within 1 s (invalidation `limits-updated`).
    await registry.setRateLimit(limited.ref, { requestsPerSecond: 0.01, burst: 40 });
    await within(1_000, async () => {
      const codes = await Promise.all(
        [first, second].map((g) => status(g, limited.publishableKey, limited.ref)),
      );
      return codes.every((c) => c === 200);
    });
    // Removing it lifts the refusals entirely.
    await registry.setRateLimit(limited.ref, null);
    await within(1_000, async () => (await passes(first, limited)) === 20);

    // A third instance joins: each enforces a third; when it leaves, the two take over its share.
    // Its clock is a minute behind: instances are counted at Redis's time, not each host's.
    const third = await startGateway(testConfig(registry, {}, redis.url), {
      clock: { now: () => Date.now() - 60_000 },
    });
    try {
      await within(
        5_000,
        async () => (await liveInstances(first)) === 3 && (await liveInstances(third)) === 3,
      );
    } finally {
      await third.close();
    }
    await within(
      5_000,
      async () => (await liveInstances(first)) === 2 && (await liveInstances(second)) === 2,
    );
  });
});

describe('Redis round trips', () => {
  it('a request missing both the key record and the project config reads Redis once (one MGET)', async () => {
    const fresh = registry.addProject('epsilonepsilonepsilon', {
      upstreams: upstreamsFor('epsilonepsilonepsilon', echo.port),
    });
    const stats = new Redis(redis.url);
    const counts = async () => {
      const info = await stats.info('commandstats');
      const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
      return { get: calls('get'), mget: calls('mget') };
    };
    try {
      const before = await counts();
      expect(await status(first, fresh.publishableKey, fresh.ref)).toBe(200);
      const afterOrigin = await counts();
      expect(afterOrigin).toEqual({ get: before.get, mget: before.mget + 1 });
      // The other instance finds both records in Redis, again in one round trip.
      await within(
        1_000,
        async () =>
          (await stats.exists(
            apiKeyRedisKey(hashApiKey(fresh.publishableKey)),
            projectRedisKey(fresh.ref),
          )) === 2,
      );
      const registryCalls = () => [...registry.calls.values()].reduce((sum, n) => sum + n, 0);
      const servedBefore = registryCalls();
      expect(await status(second, fresh.publishableKey, fresh.ref)).toBe(200);
      expect(await counts()).toEqual({ get: before.get, mget: before.mget + 2 });
      expect(registryCalls()).toBe(servedBefore);
    } finally {
      stats.disconnect();
    }
  });
});

describe('Redis faults', () => {
  it('keeps serving while Redis is down, without waiting on it, and recovers when it returns', async () => {
    const warm = registry.addKey(project.ref, 'publishable');
    expect(await status(first, warm)).toBe(200);
    await redis.stop(true);

    // Cached entries and brand-new keys (through the tenant-manager) are both served quickly.
    const fresh = registry.addKey(project.ref, 'secret');
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      expect(await status(first, i % 2 ? warm : fresh)).toBe(200);
      latencies.push(performance.now() - started);
    }
    expect(Math.max(...latencies)).toBeLessThan(250);
    const ready = await request(`${first.url}/ready`);
    expect(await ready.body.json()).toMatchObject({ ok: true, redis: 'down' });

    await redis.restart();
    await waitForRedis(first);
    await waitForRedis(second);
    // Writes to Redis resume: a key first seen now is stored for the other instance.
    const later = registry.addKey(project.ref, 'publishable');
    expect(await status(first, later)).toBe(200);
    const probe = new Redis(redis.url);
    try {
      await within(2_000, async () => (await probe.exists(apiKeyRedisKey(hashApiKey(later)))) === 1);
    } finally {
      probe.disconnect();
    }
    // And invalidations are heard again, without a restart.
    await within(5_000, async () => {
      try {
        await registry.revokeKey(warm);
        return true;
      } catch {
        return false;
      }
    });
    await within(
      1_000,
      async () => (await status(first, warm)) === 401 && (await status(second, warm)) === 401,
    );
  });
});

describe('tenant-manager faults', () => {
  it('serves cached entries within the stale window and answers 503 for unknown keys while it is down', async () => {
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const isolated = await startGateway(
      testConfig(registry, {
        cache: { ...testConfig(registry).cache, freshTtlMs: 1_000, staleTtlMs: 60_000 },
      }),
      { clock, createRedis: null },
    );
    try {
      expect(await status(isolated, project.publishableKey)).toBe(200);
      await registry.stop();
      offset = 5_000; // past freshness, inside the stale window
      expect(await status(isolated, project.publishableKey)).toBe(200);
      const unknown = registry.addKey(project.ref, 'publishable');
      const res = await call(isolated.url, project.ref, '/rest/v1/todos', { headers: { apikey: unknown } });
      expect(res.status).toBe(503);
      expect(res.body.hint).toMatch(/cannot check this API key with the project registry/);
      offset = 120_000; // past the stale window
      expect(await status(isolated, project.publishableKey)).toBe(503);
      await registry.start();
      // The tenant-manager circuit opened during the outage; it lets a trial call through after 2 s.
      await within(3_000, async () => (await status(isolated, project.publishableKey)) === 200);
      expect(await status(isolated, unknown)).toBe(200);
    } finally {
      await isolated.close();
    }
  });
});
