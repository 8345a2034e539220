import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  type Harness,
  type InvalidationListener,
  pgUrl,
  startHarness,
  startInvalidationListener,
} from '../test/harness.js';
import { usageKey, usageTopKey } from './lib/usage.js';

// The operator's usage API over the counters the gateways write (docs/contracts.md, "Usage counters"),
// written here in the gateways' format, against a real Redis and the projects' real databases.

const NOW = new Date('2026-11-23T14:30:00.000Z');
let redis: InvalidationListener;
let h: Harness;

const get = (url: string) => h.tm.publicApp.inject({ method: 'GET', url, headers: admin });

async function seed(
  ref: string,
  hour: string,
  fields: Record<string, number>,
  requests = fields.requests ?? 0,
) {
  await redis.publisher.hset(usageKey(ref, hour), fields);
  await redis.publisher.zincrby(usageTopKey(hour), requests, ref);
}

beforeAll(async () => {
  redis = await startInvalidationListener();
  h = await startHarness({ redis: redis.publisher, clock: { now: () => NOW } });
  await h.registerCluster('usage', 10);
  for (const ref of ['usage-alpha', 'usage-beta', 'usage-gamma']) {
    const created = await h.createProject(ref);
    expect(created.statusCode, created.body).toBe(201);
  }
  await seed('usage-alpha', '2026112314', {
    requests: 10,
    rest: 8,
    auth: 2,
    '2xx': 7,
    '4xx': 3,
    rate_limited: 1,
    ingress_bytes: 500,
    egress_bytes: 9_000,
  });
  await seed('usage-alpha', '2026112312', { requests: 5, rest: 5, '2xx': 4, '5xx': 1, egress_bytes: 100 });
  // 25 hours before the current one: outside a 24-hour window.
  await seed('usage-alpha', '2026112213', { requests: 1000, rest: 1000, '2xx': 1000 });
  await seed('usage-beta', '2026112314', { requests: 3, storage: 3, '2xx': 3 });
  // The gateways' daily counts of the same traffic, and of a day three weeks back.
  await seed('usage-alpha', '20261123', { requests: 15, rest: 13, auth: 2, '2xx': 11, '4xx': 3, '5xx': 1 });
  await seed('usage-alpha', '20261122', { requests: 1000, rest: 1000, '2xx': 1000 });
  await seed('usage-alpha', '20261102', { requests: 7, rest: 7, '2xx': 7 });
  await seed('usage-beta', '20261123', { requests: 3, storage: 3, '2xx': 3 });
});

afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

describe('GET /v1/projects/:ref/usage', () => {
  it("answers the window's totals, the hours with traffic and the database's size and connections", async () => {
    const res = await get('/v1/projects/usage-alpha/usage');
    expect(res.statusCode, res.body).toBe(200);
    const usage = res.json();
    expect(usage).toMatchObject({
      ref: 'usage-alpha',
      from: '2026-11-22T15:00:00.000Z',
      to: NOW.toISOString(),
      granularity: 'hour',
      unavailable: [],
    });
    expect(usage.api).toEqual({
      requests: 15,
      by_service: { rest: 13, auth: 2 },
      by_status: { '2xx': 11, '4xx': 3, '5xx': 1 },
      rate_limited: 1,
      ingress_bytes: 500,
      egress_bytes: 9_100,
    });
    expect(usage.series.map((h: { start: string; requests: number }) => [h.start, h.requests])).toEqual([
      ['2026-11-23T12:00:00.000Z', 5],
      ['2026-11-23T14:00:00.000Z', 10],
    ]);
    expect(usage.database.size_bytes).toBeGreaterThan(1_000_000);
    expect(usage.database.connection_limit).toBe(60);
    expect(usage.database.connections).toBeGreaterThanOrEqual(0);
  });

  it('narrows to the last N hours and shows a project only its own counts', async () => {
    const recent = (await get('/v1/projects/usage-alpha/usage?hours=2')).json();
    expect(recent.from).toBe('2026-11-23T13:00:00.000Z');
    expect(recent.api.requests).toBe(10);
    const week = (await get('/v1/projects/usage-alpha/usage?hours=168')).json();
    expect(week.api.requests).toBe(1015);
    const days = (await get('/v1/projects/usage-alpha/usage?days=2')).json();
    expect(days).toMatchObject({ from: '2026-11-22T00:00:00.000Z', granularity: 'day' });
    expect(days.series.map((d: { start: string; requests: number }) => [d.start, d.requests])).toEqual([
      ['2026-11-22T00:00:00.000Z', 1000],
      ['2026-11-23T00:00:00.000Z', 15],
    ]);
    expect((await get('/v1/projects/usage-alpha/usage?days=31')).json().api.requests).toBe(1022);
    const beta = (await get('/v1/projects/usage-beta/usage')).json();
    expect(beta.api).toMatchObject({ requests: 3, by_service: { storage: 3 } });
    const quiet = (await get('/v1/projects/usage-gamma/usage')).json();
    expect(quiet.api).toEqual({
      requests: 0,
      by_service: {},
      by_status: {},
      rate_limited: 0,
      ingress_bytes: 0,
      egress_bytes: 0,
    });
    expect(quiet.series).toEqual([]);
  });

  it('refuses a bad window or ref, and answers 404 for an unknown project', async () => {
    for (const query of ['hours=0', 'hours=169', 'hours=x', 'hours=1.5', 'days=0', 'days=32']) {
      const res = await get(`/v1/projects/usage-alpha/usage?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().message).toMatch(/hours|days/);
      expect(res.json().code, query).toBe('validation_failed');
    }
    // the same code as the schema's refusals: a script tells a bad window from other 400s one way
    for (const url of ['/v1/projects/usage-alpha/usage?hours=2&days=2', '/v1/usage?hours=2&days=2']) {
      const both = await get(url);
      expect(both.statusCode).toBe(400);
      expect(both.json()).toEqual({ message: 'give hours or days, not both', code: 'validation_failed' });
    }
    expect((await get('/v1/projects/nope-nope-nope/usage')).statusCode).toBe(404);
    expect((await get('/v1/projects/BAD!/usage')).statusCode).toBe(400);
  });

  it('still answers the API counts when the database statistics cannot be read', async () => {
    const client = new pg.Client({ connectionString: pgUrl() });
    await client.connect();
    try {
      await client.query('DROP DATABASE "proj_usage-beta" WITH (FORCE)');
    } finally {
      await client.end();
    }
    const res = await get('/v1/projects/usage-beta/usage');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ database: null, unavailable: ['database'], api: { requests: 3 } });
  });
});

describe('GET /v1/usage', () => {
  it('ranks the busiest projects of the window with their names', async () => {
    const res = await get('/v1/usage');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().projects).toEqual([
      { ref: 'usage-alpha', name: 'usage-alpha', requests: 15 },
      { ref: 'usage-beta', name: 'usage-beta', requests: 3 },
    ]);
    expect((await get('/v1/usage?limit=1')).json().projects.map((p: { ref: string }) => p.ref)).toEqual([
      'usage-alpha',
    ]);
    expect((await get('/v1/usage?limit=0')).statusCode).toBe(400);
    const month = (await get('/v1/usage?days=31')).json();
    expect(month.granularity).toBe('day');
    expect(month.projects[0]).toEqual({ ref: 'usage-alpha', name: 'usage-alpha', requests: 1022 });
  });

  it('keeps a project named `top` apart from the ranking', async () => {
    const created = await h.createProject('top');
    expect(created.statusCode, created.body).toBe(201);
    await seed('top', '2026112314', { requests: 4, functions: 4, '2xx': 4 });
    const usage = (await get('/v1/projects/top/usage')).json();
    expect(usage).toMatchObject({ unavailable: [], api: { requests: 4, by_service: { functions: 4 } } });
    expect((await get('/v1/usage')).json().projects).toEqual([
      { ref: 'usage-alpha', name: 'usage-alpha', requests: 15 },
      { ref: 'top', name: 'top', requests: 4 },
      { ref: 'usage-beta', name: 'usage-beta', requests: 3 },
    ]);
  });
});

describe('with Redis down', () => {
  it('answers the database section alone, and 503 for the ranking, without a stack trace', async () => {
    await redis.server.stop();
    const res = await get('/v1/projects/usage-alpha/usage');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ api: null, series: null, unavailable: ['api'] });
    expect(res.json().database.size_bytes).toBeGreaterThan(0);
    const ranking = await get('/v1/usage');
    expect(ranking.statusCode).toBe(503);
    expect(ranking.json()).toEqual({
      message: 'usage counters are not readable now (Redis is unavailable)',
      code: 'usage_unavailable',
    });
  });
});
