import { hashApiKey } from '@supaplane/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  type Harness,
  type InvalidationListener,
  startHarness,
  startInvalidationListener,
} from '../../test/harness.js';
import { apiKeyCacheKey, projectCacheKey } from './invalidation.js';

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

  it('a Redis outage does not fail the operation', async () => {
    expect((await call('POST', '/v1/projects', { name: 'inv', ref: 'inv-two' })).statusCode).toBe(201);
    await redis.server.stop(true);
    try {
      const started = Date.now();
      const paused = await call('POST', '/v1/projects/inv-two/pause');
      expect(paused.statusCode).toBe(200);
      expect(Date.now() - started).toBeLessThan(10_000); // bounded by the invalidator, not Redis retries
      expect(paused.json().status).toBe('PAUSED');
    } finally {
      await redis.server.restart();
    }
  });
});
