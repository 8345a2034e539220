import { hashApiKey } from '@supaplane/keys';
import { type RunningRedis, startRedis } from '@supaplane/local-services';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, eventually, type Harness, startHarness } from '../../test/harness.js';
import { apiKeyCacheKey, INVALIDATION_CHANNEL, projectCacheKey } from './invalidation.js';

let redisServer: RunningRedis;
let publisher: Redis;
let subscriber: Redis;
let h: Harness;
const messages: Record<string, unknown>[] = [];

beforeAll(async () => {
  redisServer = await startRedis();
  publisher = new Redis(redisServer.url);
  subscriber = new Redis(redisServer.url);
  publisher.on('error', () => {}); // the outage test kills the server on purpose
  subscriber.on('error', () => {});
  await subscriber.subscribe(INVALIDATION_CHANNEL);
  subscriber.on('message', (_channel, message) => messages.push(JSON.parse(message)));
  h = await startHarness({ redis: publisher });
  await h.registerCluster('invalidation', 10);
});
afterAll(async () => {
  await h?.close();
  publisher?.disconnect();
  subscriber?.disconnect();
  await redisServer?.stop();
});

const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
  h.tm.publicApp.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });

/** Waits for the next message matching `match`, returning it. */
const next = (match: Record<string, unknown>) =>
  eventually(async () => messages.find((m) => Object.entries(match).every(([k, v]) => m[k] === v)));

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
      publisher.mset(
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
      await publisher.exists(
        projectCacheKey('inv-one'),
        apiKeyCacheKey(secretHash),
        apiKeyCacheKey(publishableHash),
      ),
    ).toBe(0);

    await seed();
    await call('POST', '/v1/projects/inv-one/restore');
    await next({ kind: 'project', ref: 'inv-one', reason: 'restored' });
    expect(await publisher.exists(projectCacheKey('inv-one'))).toBe(0);

    await seed();
    await call('POST', '/v1/projects/inv-one/signing-keys/rotate');
    await next({ kind: 'project', ref: 'inv-one', reason: 'signing-keys-rotated' });
    expect(await publisher.exists(projectCacheKey('inv-one'))).toBe(0);

    await seed();
    await call('DELETE', `/v1/projects/inv-one/api-keys/${secret.id}`);
    expect(await next({ kind: 'api-key', ref: 'inv-one', reason: 'revoked' })).toEqual({
      kind: 'api-key',
      ref: 'inv-one',
      keyHash: secretHash,
      reason: 'revoked',
      at: expect.any(String),
    });
    expect(await publisher.exists(apiKeyCacheKey(secretHash))).toBe(0);
    expect(await publisher.exists(apiKeyCacheKey(publishableHash))).toBe(1); // only the revoked key

    await seed();
    await call('DELETE', '/v1/projects/inv-one');
    await next({ kind: 'project', ref: 'inv-one', reason: 'deleted' });
    expect(await publisher.exists(projectCacheKey('inv-one'), apiKeyCacheKey(publishableHash))).toBe(0);
  });

  it('a Redis outage does not fail the operation', async () => {
    expect((await call('POST', '/v1/projects', { name: 'inv', ref: 'inv-two' })).statusCode).toBe(201);
    await redisServer.stop(true);
    try {
      const started = Date.now();
      const paused = await call('POST', '/v1/projects/inv-two/pause');
      expect(paused.statusCode).toBe(200);
      expect(Date.now() - started).toBeLessThan(10_000); // bounded by the invalidator, not Redis retries
      expect(paused.json().status).toBe('PAUSED');
    } finally {
      await redisServer.restart();
    }
  });
});
