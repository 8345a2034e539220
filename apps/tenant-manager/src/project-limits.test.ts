import { freePort, type RunningPostgres, startPostgres } from '@supaplane/local-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  expectLimitsRefused,
  type Harness,
  type InvalidationListener,
  internal,
  queryOnce,
  startHarness,
  startInvalidationListener,
  TEST_APP_CONFIG,
} from '../test/harness.js';
import { projectCacheKey } from './lib/invalidation.js';
import { refillSpares } from './lib/project-db.js';

// Per-project limits. The worker cluster is a PostgreSQL of this file's own: which databases exist on
// it (spares above all, which any create on the shared test server may claim) is this file's alone,
// so the template-copy and spare-rename paths are each taken for certain.

let worker: RunningPostgres;
let redis: InvalidationListener;
let h: Harness;
let clusterId: string;

const config = { ...TEST_APP_CONFIG, projectDbConnectionLimit: 7 };

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const gatewayConfig = async (ref: string) =>
  (await h.tm.internalApp.inject({ url: `/internal/v1/projects/${ref}/config`, headers: internal })).json();

/** SQL as the worker cluster's superuser. */
const onWorker = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
  queryOnce<T>(worker.url, sql, params);

async function database(ref: string) {
  const rows = await onWorker<{ oid: number; datconnlimit: number; datallowconn: boolean }>(
    'SELECT oid::int, datconnlimit, datallowconn FROM pg_database WHERE datname = $1',
    [`proj_${ref}`],
  );
  return rows[0];
}

const spareOids = async () =>
  (
    await onWorker<{ oid: number }>(
      `SELECT oid::int FROM pg_database WHERE datname LIKE 'supaplane\\_spare\\_%'`,
    )
  ).map((r) => r.oid);

const published = (ref: string, reason: string) =>
  redis.messages.filter((m) => m.kind === 'project' && m.ref === ref && m.reason === reason).length;

async function createProject(ref: string, limits?: object) {
  const response = await call('POST', '/v1/projects', { name: ref, ref, ...(limits ? { limits } : {}) });
  expect(response.statusCode, response.body).toBe(201);
  expect(response.json().status).toBe('ACTIVE_HEALTHY');
  return response.json();
}

beforeAll(async () => {
  worker = await startPostgres({ ephemeral: true });
  redis = await startInvalidationListener();
  h = await startHarness({ redis: redis.publisher, config });
  const registered = await call('POST', '/v1/clusters', {
    name: 'limits',
    host: worker.host,
    port: worker.port,
    admin_user: worker.user,
    admin_password: worker.password,
    capacity: 20,
  });
  expect(registered.statusCode, registered.body).toBe(201);
  clusterId = registered.json().id;
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
  await worker?.stop();
});

describe('database connection limit on create', () => {
  it('copies the template with PROJECT_DB_CONNECTION_LIMIT; the project shows its limits, the gateway no rate', async () => {
    expect(await spareOids()).toEqual([]); // so the database can only be a fresh template copy
    const project = await createProject('lim-default');
    expect(project.limits).toEqual({
      db_connections: 7,
      requests_per_second: null,
      burst: null,
      db_size_mb: null,
    });
    expect(await database('lim-default')).toMatchObject({ datconnlimit: 7, datallowconn: true });
    expect((await gatewayConfig('lim-default')).rateLimit).toBeNull();
    expect((await call('GET', '/v1/projects/lim-default')).json().limits).toEqual(project.limits);
  });

  it('takes limits from the create body; a rate without burst gets burst = rate', async () => {
    const project = await createProject('lim-body', { db_connections: 3, requests_per_second: 100 });
    expect(project.limits).toEqual({
      db_connections: 3,
      requests_per_second: 100,
      burst: 100,
      db_size_mb: null,
    });
    expect((await database('lim-body'))?.datconnlimit).toBe(3);
    expect((await gatewayConfig('lim-body')).rateLimit).toEqual({ requestsPerSecond: 100, burst: 100 });
  });

  it('sets the limit on a renamed spare too', async () => {
    const { admin: pool, conn } = await h.tm.ctx.clusters.get(clusterId);
    await refillSpares(pool, conn, 1, () => false);
    const spares = await spareOids();
    expect(spares).toHaveLength(1);
    await createProject('lim-spare', { db_connections: 4 });
    const db = await database('lim-spare');
    expect(spares).toContain(db?.oid); // the spare itself, renamed
    expect(db?.datconnlimit).toBe(4);
  });

  it('is what Postgres enforces for the project roles', async () => {
    await createProject('lim-one', { db_connections: 1 });
    const rest = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/lim-one/rest-config', headers: internal })
    ).json();
    const login = () =>
      new pg.Client({
        host: rest.db.host,
        port: rest.db.port,
        database: rest.db.database,
        user: rest.db.user,
        password: rest.db.password,
      });
    const first = login();
    await first.connect();
    try {
      const second = login();
      second.on('error', () => {});
      await expect(second.connect()).rejects.toMatchObject({ code: '53300' });
      // The operator's SQL endpoint says why, rather than calling the database unreachable.
      const query = await h.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects/lim-one/database/query',
        headers: admin,
        payload: { query: 'select 1' },
      });
      expect(query.statusCode).toBe(503);
      expect(query.json()).toMatchObject({ code: 'connection_limit_reached' });
      expect(query.json().message).toMatch(/connection limit reached/);
    } finally {
      await first.end();
    }
  });
});

describe('PATCH /v1/projects/:ref limits', () => {
  it('applies db_connections on the cluster, stores it, bumps the version and invalidates (limits-updated)', async () => {
    const { version } = await gatewayConfig('lim-default');
    await redis.publisher.set(projectCacheKey('lim-default'), '{"cached":true}');
    const patched = await call('PATCH', '/v1/projects/lim-default', { limits: { db_connections: 12 } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({
      name: 'lim-default',
      limits: { db_connections: 12, requests_per_second: null, burst: null },
    });
    expect((await database('lim-default'))?.datconnlimit).toBe(12);
    expect((await gatewayConfig('lim-default')).version).toBe(version + 1);
    await eventually(async () => (published('lim-default', 'limits-updated') === 1 ? true : undefined));
    expect(await redis.publisher.exists(projectCacheKey('lim-default'))).toBe(0);
    expect((await database('lim-body'))?.datconnlimit).toBe(3); // the other project is untouched
  });

  it('changes only the fields present; the rate reaches the internal config', async () => {
    const steps: [object, object, object | null][] = [
      [
        { requests_per_second: 50, burst: 80 },
        { requests_per_second: 50, burst: 80 },
        { requestsPerSecond: 50, burst: 80 },
      ],
      [{ burst: 120 }, { requests_per_second: 50, burst: 120 }, { requestsPerSecond: 50, burst: 120 }],
      [
        { requests_per_second: 60 },
        { requests_per_second: 60, burst: 60 },
        { requestsPerSecond: 60, burst: 60 },
      ],
      [{ requests_per_second: null }, { requests_per_second: null, burst: null }, null],
    ];
    const before = published('lim-default', 'limits-updated');
    for (const [limits, shown, rateLimit] of steps) {
      const patched = await call('PATCH', '/v1/projects/lim-default', { limits });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json().limits).toEqual({ db_connections: 12, db_size_mb: null, ...shown });
      expect((await gatewayConfig('lim-default')).rateLimit).toEqual(rateLimit);
    }
    await eventually(async () =>
      published('lim-default', 'limits-updated') === before + steps.length ? true : undefined,
    );
    expect((await database('lim-default'))?.datconnlimit).toBe(12);
  });

  it('renames and changes limits in one PATCH; a name alone still works', async () => {
    const both = await call('PATCH', '/v1/projects/lim-body', {
      name: 'Body',
      limits: { db_connections: 5 },
    });
    expect(both.json()).toMatchObject({
      name: 'Body',
      limits: { db_connections: 5, requests_per_second: 100 },
    });
    expect((await database('lim-body'))?.datconnlimit).toBe(5);
    await eventually(async () => (published('lim-body', 'renamed') === 1 ? true : undefined));
    const named = await call('PATCH', '/v1/projects/lim-body', { name: 'Body 2' });
    expect(named.json()).toMatchObject({ name: 'Body 2', limits: { db_connections: 5 } });
  });

  it("works while paused without letting the project's roles log in; restore re-applies the stored limit", async () => {
    const logins = async () =>
      (
        await onWorker<{ login: boolean }>(
          'SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = ANY ($1) ORDER BY rolname',
          [['owner_lim-spare', 'authenticator_lim-spare']],
        )
      ).map((r) => r.login);
    expect((await call('POST', '/v1/projects/lim-spare/pause')).json().status).toBe('INACTIVE');
    expect(await database('lim-spare')).toMatchObject({ datconnlimit: 4 });
    expect(await logins()).toEqual([false, false]);
    const patched = await call('PATCH', '/v1/projects/lim-spare', { limits: { db_connections: 9 } });
    expect(patched.statusCode, patched.body).toBe(200);
    // Supabase's {id, ref, name}, and the limits in force; still paused
    expect(patched.json()).toEqual({
      id: expect.any(Number),
      ref: 'lim-spare',
      name: 'lim-spare',
      limits: expect.objectContaining({ db_connections: 9 }),
    });
    expect((await call('GET', '/v1/projects/lim-spare')).json().status).toBe('INACTIVE');
    expect(await database('lim-spare')).toMatchObject({ datconnlimit: 9 });
    expect(await logins()).toEqual([false, false]);

    // Changed by hand meanwhile: restore puts the stored limit back before connections are allowed.
    await onWorker('ALTER DATABASE "proj_lim-spare" CONNECTION LIMIT -1');
    expect((await call('POST', '/v1/projects/lim-spare/restore')).json().status).toBe('ACTIVE_HEALTHY');
    expect(await database('lim-spare')).toMatchObject({ datconnlimit: 9, datallowconn: true });
    expect(await logins()).toEqual([true, true]);
  });

  it('answers 409 outside ACTIVE_HEALTHY and INACTIVE, changing nothing', async () => {
    await h.db.query(`UPDATE tm.projects SET status = 'RESTORING' WHERE ref = 'lim-body'`);
    try {
      const refused = await call('PATCH', '/v1/projects/lim-body', { limits: { db_connections: 2 } });
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toEqual({
        message: 'project is RESTORING; expected ACTIVE_HEALTHY or INACTIVE',
        code: 'invalid_status',
      });
    } finally {
      await h.db.query(`UPDATE tm.projects SET status = 'ACTIVE_HEALTHY' WHERE ref = 'lim-body'`);
    }
    expect((await database('lim-body'))?.datconnlimit).toBe(5);
    expect((await call('GET', '/v1/projects/lim-body')).json().limits.db_connections).toBe(5);
  });

  it('answers 503 and stores nothing while the cluster is unreachable', async () => {
    const { rows } = await h.db.query('SELECT port FROM tm.clusters WHERE id = $1', [clusterId]);
    const closedPort = await freePort(); // nothing listens there: connection refused
    await h.db.query('UPDATE tm.clusters SET port = $2 WHERE id = $1', [clusterId, closedPort]);
    await h.tm.ctx.clusters.evict(clusterId);
    const before = (await call('GET', '/v1/projects/lim-default')).json();
    const messages = redis.messages.length;
    try {
      const refused = await call('PATCH', '/v1/projects/lim-default', {
        name: 'never',
        limits: { db_connections: 20, requests_per_second: 5 },
      });
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toEqual({
        message: "the project's database cluster is not reachable; the limits were not changed",
        code: 'database_unreachable',
      });
      expect(refused.body).not.toContain(String(closedPort));
      expect((await call('GET', '/v1/projects/lim-default')).json()).toEqual(before);
      expect((await gatewayConfig('lim-default')).rateLimit).toBeNull();
      // A rate alone needs no cluster.
      const rateOnly = await call('PATCH', '/v1/projects/lim-default', {
        limits: { requests_per_second: 5 },
      });
      expect(rateOnly.statusCode, rateOnly.body).toBe(200);
    } finally {
      await h.db.query('UPDATE tm.clusters SET port = $2 WHERE id = $1', [clusterId, rows[0].port]);
      await h.tm.ctx.clusters.evict(clusterId);
    }
    expect((await database('lim-default'))?.datconnlimit).toBe(12);
    expect(redis.messages.slice(messages).map((m) => m.reason)).toEqual(['limits-updated']);
  });
});

describe('limits validation', () => {
  it.each([
    [{ db_connections: 0 }, 'body/limits/db_connections must be >= 1'],
    [{ db_connections: 10_001 }, 'body/limits/db_connections must be <= 10000'],
    [{ db_connections: 1.5 }, 'body/limits/db_connections must be integer'],
    [{ requests_per_second: 0 }, 'body/limits/requests_per_second must be >= 1'],
    [{ requests_per_second: 1_000_001 }, 'body/limits/requests_per_second must be <= 1000000'],
    [{ requests_per_second: 10, burst: 10_000_001 }, 'body/limits/burst must be <= 10000000'],
  ])('refuses %j with 400 validation_failed', async (limits, message) => {
    await expectLimitsRefused(h, { create: 'lim-bad', patch: 'lim-default' }, limits, {
      message,
      code: 'validation_failed',
    });
  });

  it.each([
    [{ requests_per_second: 100, burst: 50 }, 'limits.burst (50) must be at least requests_per_second (100)'],
    [
      { requests_per_second: null, burst: 10 },
      'limits.burst must be null when the project has no requests_per_second',
    ],
  ])('refuses %j with 400 invalid_limits', async (limits, message) => {
    await expectLimitsRefused(h, { create: 'lim-bad', patch: 'lim-one' }, limits, {
      message,
      code: 'invalid_limits',
    });
  });

  it('refuses a burst for a project without a rate, and an empty PATCH; nothing is created or changed', async () => {
    const burstOnly = await call('PATCH', '/v1/projects/lim-one', { limits: { burst: 10 } });
    expect(burstOnly.statusCode).toBe(400);
    expect(burstOnly.json().code).toBe('invalid_limits');
    const empty = await call('PATCH', '/v1/projects/lim-one', {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('validation_failed');
    expect((await call('GET', '/v1/projects/lim-bad')).statusCode).toBe(404);
    expect((await call('GET', '/v1/projects/lim-one')).json().limits).toEqual({
      db_connections: 1,
      requests_per_second: null,
      burst: null,
      db_size_mb: null,
    });
  });
});

describe('start-up', () => {
  it('re-applies every active project’s stored limit to its database (older projects, hand edits)', async () => {
    await onWorker('ALTER DATABASE "proj_lim-body" CONNECTION LIMIT -1');
    const second = await startHarness({ managementUrl: h.managementUrl, config, resume: false });
    try {
      await second.tm.functionsReconciled;
      expect((await database('lim-body'))?.datconnlimit).toBe(5);
    } finally {
      await second.close();
    }
  });
});
