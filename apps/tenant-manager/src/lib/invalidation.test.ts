import { hashApiKey } from '@supaplane/keys';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  eventually,
  type Harness,
  type InvalidationListener,
  startHarness,
  startInvalidationListener,
} from '../../test/harness.js';
import { apiKeyCacheKey, createRedisInvalidator, projectCacheKey } from './invalidation.js';
import { livePeriods, periodName, usageKey, usageTopKey } from './usage.js';

/** The periods a gateway would be counting in now. */
const HOUR = periodName(Date.now(), 'hour');
const DAY = periodName(Date.now(), 'day');

let redis: InvalidationListener;
let h: Harness;

beforeAll(async () => {
  redis = await startInvalidationListener();
  redis.publisher.on('error', () => {}); // the outage test kills the server on purpose
  redis.subscriber.on('error', () => {});
  h = await startHarness({ redis: redis.publisher });
  await h.registerCluster('invalidation', 10);
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

const call = (...args: Parameters<Harness['call']>) => h.call(...args);

/** Waits for the next message matching `match`, returning it. */
const next = (match: Record<string, unknown>) =>
  eventually(async () => redis.messages.find((m) => Object.entries(match).every(([k, v]) => m[k] === v)));

describe('invalidation on Redis', () => {
  it('deletes the gateway cache entries, then publishes on revoke, pause, restore, rotate and delete', async () => {
    expect((await call('POST', '/v1/projects', { name: 'inv', ref: 'inv-one' })).json().status).toBe(
      'ACTIVE_HEALTHY',
    );
    expect(await next({ kind: 'project', ref: 'inv-one', reason: 'created' })).toBeTruthy();
    const keys = (await call('GET', '/v1/projects/inv-one/api-keys?reveal=true')).json() as {
      id: string;
      type: string;
      api_key: string;
    }[];
    const secret = keys.find((k) => k.type === 'secret')!;
    const secretHash = hashApiKey(secret.api_key);
    const publishableHash = hashApiKey(keys.find((k) => k.type === 'publishable')!.api_key);

    // a gateway's cached entries, which each change must remove before announcing it
    const seed = () =>
      redis.publisher.mset(
        projectCacheKey('inv-one'),
        '{}',
        apiKeyCacheKey(secretHash),
        '{}',
        apiKeyCacheKey(publishableHash),
        '{}',
      );

    await seed();
    await call('POST', '/v1/projects/inv-one/pause');
    const paused = await next({ kind: 'project', ref: 'inv-one', reason: 'paused' });
    expect(paused).toEqual({
      kind: 'project',
      ref: 'inv-one',
      reason: 'paused',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(
      await redis.publisher.exists(
        projectCacheKey('inv-one'),
        apiKeyCacheKey(secretHash),
        apiKeyCacheKey(publishableHash),
      ),
    ).toBe(0);

    await seed();
    await call('POST', '/v1/projects/inv-one/restore');
    await next({ kind: 'project', ref: 'inv-one', reason: 'restored' });
    expect(await redis.publisher.exists(projectCacheKey('inv-one'))).toBe(0);

    await seed();
    await call('POST', '/v1/projects/inv-one/signing-keys/rotate');
    await next({ kind: 'project', ref: 'inv-one', reason: 'signing-keys-rotated' });
    expect(await redis.publisher.exists(projectCacheKey('inv-one'))).toBe(0);

    await seed();
    await call('DELETE', `/v1/projects/inv-one/api-keys/${secret.id}`);
    expect(await next({ kind: 'api-key', ref: 'inv-one', reason: 'revoked' })).toEqual({
      kind: 'api-key',
      ref: 'inv-one',
      keyHash: secretHash,
      reason: 'revoked',
      at: expect.any(String),
    });
    expect(await redis.publisher.exists(apiKeyCacheKey(secretHash))).toBe(0);
    expect(await redis.publisher.exists(apiKeyCacheKey(publishableHash))).toBe(1); // only the revoked key

    await seed();
    await call('DELETE', '/v1/projects/inv-one');
    await next({ kind: 'project', ref: 'inv-one', reason: 'deleted' });
    expect(await redis.publisher.exists(projectCacheKey('inv-one'), apiKeyCacheKey(publishableHash))).toBe(0);
  });

  it("a deleted project's usage counters and rankings go with it, so a ref created again starts at none", async () => {
    expect((await call('POST', '/v1/projects', { name: 'inv', ref: 'inv-used' })).statusCode).toBe(201);
    // What a gateway writes for the project's requests (docs/contracts.md, "Usage counters"), and
    // another project's, which stays.
    const counters = async () => {
      for (const [ref, period] of [
        ['inv-used', HOUR],
        ['inv-used', DAY],
        ['inv-other', DAY],
      ] as const) {
        await redis.publisher.hset(usageKey(ref, period), 'requests', 7, 'rest', 7);
        await redis.publisher.zadd(usageTopKey(period), 7, ref);
      }
    };
    const left = async () => ({
      keys: (await redis.publisher.keys('supaplane:usage:*')).sort(),
      ranked: [
        ...(await redis.publisher.zrange(usageTopKey(HOUR), 0, -1)),
        ...(await redis.publisher.zrange(usageTopKey(DAY), 0, -1)),
      ],
    });
    await counters();
    expect((await call('DELETE', '/v1/projects/inv-used')).statusCode).toBe(200);
    expect(await left()).toEqual({ keys: [usageKey('inv-other', DAY)], ranked: ['inv-other'] });

    // Counts a gateway flushed after the delete (requests it had served just before) are gone by
    // the time the ref serves again.
    await counters();
    expect((await call('POST', '/v1/projects', { name: 'again', ref: 'inv-used' })).json().status).toBe(
      'ACTIVE_HEALTHY',
    );
    expect(await left()).toEqual({ keys: [usageKey('inv-other', DAY)], ranked: ['inv-other'] });
    expect((await call('DELETE', '/v1/projects/inv-used')).statusCode).toBe(200);
  });

  it('sweeps by name every period the gateways may still hold, no scan of the keyspace', () => {
    const periods = livePeriods(new Date('2026-11-23T14:30:00Z'));
    // Hours kept 8 days after their last write, days 35: a day of margin each, and the next one.
    expect(periods).toEqual(
      expect.arrayContaining(['2026112315', '2026112314', '2026111414', '20261124', '20261018']),
    );
    expect(periods).not.toContain('2026111413');
    expect(periods).not.toContain('20261017');
    expect(new Set(periods).size).toBe(periods.length);
  });

  /** An invalidator on the suite's Redis whose second usage sweep follows after `delayMs`. */
  const sweepingInvalidator = (delayMs: number) =>
    createRedisInvalidator(
      redis.publisher,
      { now: () => new Date() },
      { info() {}, warn() {}, error() {} },
      null,
      1_000,
      delayMs,
    );

  it('sweeps the usage of a removed ref once more after the gateways have flushed what they counted before the delete', async () => {
    const invalidator = sweepingInvalidator(200);
    try {
      await invalidator.forgetUsage('inv-late', true);
      // A gateway's flush of requests it served just before the delete lands after the first sweep.
      await redis.publisher.hset(usageKey('inv-late', DAY), 'requests', 3);
      await redis.publisher.zadd(usageTopKey(DAY), 3, 'inv-late');
      await eventually(async () =>
        (await redis.publisher.exists(usageKey('inv-late', DAY))) === 0 ? true : undefined,
      );
      expect(await redis.publisher.zscore(usageTopKey(DAY), 'inv-late')).toBeNull();
    } finally {
      invalidator.close();
    }
  });

  it("the later sweep is called off when the ref is activated again first: the new project's counts stay", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const invalidator = sweepingInvalidator(60_000);
    try {
      await invalidator.forgetUsage('inv-again', true);
      expect(vi.getTimerCount()).toBe(1);
      await invalidator.forgetUsage('inv-again', false);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      invalidator.close();
      vi.useRealTimers();
    }
  });

  it('a Redis outage does not fail the operation', async () => {
    expect((await call('POST', '/v1/projects', { name: 'inv', ref: 'inv-two' })).statusCode).toBe(201);
    await redis.server.stop(true);
    try {
      const started = Date.now();
      const paused = await call('POST', '/v1/projects/inv-two/pause');
      expect(paused.statusCode).toBe(200);
      expect(Date.now() - started).toBeLessThan(10_000); // bounded by the invalidator, not Redis retries
      expect(paused.json().status).toBe('INACTIVE');
    } finally {
      await redis.server.restart();
    }
  });
});
