import { randomUUID } from 'node:crypto';
import { freePort, type RunningPostgres, startPostgres } from '@supaplane/local-services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  expectLimitsRefused,
  type Harness,
  internal,
  queryOnce,
  startHarness,
  TEST_APP_CONFIG,
} from '../test/harness.js';
import { clusterPasswordAad } from './lib/cluster-pools.js';
import { SizeLimitEnforcer, sizeLimitAction } from './lib/db-size-limits.js';

// Database size limits. The worker cluster is a PostgreSQL of this file's own, so the sessions on a
// project database (which the enforcement ends) are this file's alone. Rounds run only when a test
// says so (`checkNow`), except in the last suite, which shows the background rounds on their own.

const MIB = 1024 * 1024;

let worker: RunningPostgres;
let h: Harness;

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const patchLimits = (ref: string, limits: object) => call('PATCH', `/v1/projects/${ref}`, { limits });
const usageOf = async (ref: string) => (await call('GET', `/v1/projects/${ref}/usage`)).json().database;
const flag = async (ref: string) =>
  (
    await h.db.query<{ db_read_only: boolean }>(
      `SELECT db_read_only FROM tm.projects WHERE ref = $1 AND status <> 'REMOVED'`,
      [ref],
    )
  ).rows[0]?.db_read_only;

/** Runs SQL through the operator's SQL endpoint (the project's owner role, a session of its own). */
const sql = (ref: string, query: string) =>
  call('POST', `/v1/projects/${ref}/database/query`, { query }) as Promise<{
    statusCode: number;
    json(): { code?: string } & unknown[];
    body: string;
  }>;

/** SQL as the worker cluster's superuser. */
const onWorker = <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
  queryOnce<T>(worker.url, sql, params);

/** A new session on the project database as its data-API login role (what the rest function opens). */
async function authenticator(ref: string): Promise<pg.Client> {
  const rest = (
    await h.tm.internalApp.inject({ url: `/internal/v1/projects/${ref}/rest-config`, headers: internal })
  ).json();
  const client = new pg.Client({
    host: rest.db.host,
    port: rest.db.port,
    database: rest.db.database,
    user: rest.db.user,
    password: rest.db.password,
  });
  client.on('error', () => {}); // a terminated idle session reports here
  await client.connect();
  await client.query('SET ROLE service_role');
  return client;
}

/** Whether a new session as the project's data-API role may insert; the SQLSTATE when it may not. */
async function insertAs(ref: string, id: number): Promise<'ok' | string> {
  const client = await authenticator(ref);
  try {
    await client.query('INSERT INTO public.notes VALUES ($1)', [id]);
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  } finally {
    await client.end();
  }
}

async function createProject(ref: string, limits?: object) {
  const response = await call('POST', '/v1/projects', { name: ref, ref, ...(limits ? { limits } : {}) });
  expect(response.statusCode, response.body).toBe(201);
  expect(response.json().status).toBe('ACTIVE_HEALTHY');
  const table = await sql(
    ref,
    'create table public.notes (id int primary key); grant all on public.notes to service_role; insert into public.notes values (1)',
  );
  expect(table.statusCode, table.body).toBe(201);
  return response.json();
}

beforeAll(async () => {
  worker = await startPostgres({ ephemeral: true });
  h = await startHarness({ config: TEST_APP_CONFIG, sizeLimits: { intervalMs: 0 } });
  const registered = await call('POST', '/v1/clusters', {
    name: 'sizes',
    host: worker.host,
    port: worker.port,
    admin_user: worker.user,
    admin_password: worker.password,
    capacity: 20,
  });
  expect(registered.statusCode, registered.body).toBe(201);
  await createProject('size-a', { db_size_mb: 1 }); // a fresh project database is ~7-8 MiB
  await createProject('size-b');
});
afterAll(async () => {
  await h?.close();
  await worker?.stop();
});

describe('sizeLimitAction', () => {
  const size = (mib: number, readOnly = false) => ({ sizeBytes: mib * MIB, readOnly });
  it.each([
    [{ db_size_mb: null, db_read_only: false }, size(8), null],
    [{ db_size_mb: 8, db_read_only: false }, size(8), null],
    [{ db_size_mb: 7, db_read_only: false }, size(8), 'read-only'],
    [{ db_size_mb: 7, db_read_only: true }, size(8, true), null],
    [{ db_size_mb: 7, db_read_only: true }, size(8), 'read-only'], // the setting was removed by hand
    [{ db_size_mb: 9, db_read_only: true }, size(8, true), 'writable'],
    [{ db_size_mb: null, db_read_only: true }, size(8, true), 'writable'],
    [{ db_size_mb: 9, db_read_only: false }, size(8, true), null], // read-only, but not the platform's doing
  ] as const)('%j at %j: %s', (limits, at, action) => {
    expect(
      sizeLimitAction({ db_size_limit_mb: limits.db_size_mb, db_read_only: limits.db_read_only }, at),
    ).toBe(action);
  });
});

describe('a project past its database size limit', () => {
  it('shows the limit, and is writable until a check', async () => {
    expect((await call('GET', '/v1/projects/size-a')).json().limits).toEqual({
      db_connections: 60,
      requests_per_second: null,
      burst: null,
      db_size_mb: 1,
    });
    expect((await call('GET', '/v1/projects/size-b')).json().limits.db_size_mb).toBeNull();
    expect(await insertAs('size-a', 2)).toBe('ok');
    expect(await usageOf('size-a')).toMatchObject({ size_limit_bytes: MIB, read_only: false });
  });

  it('is made read-only by a round: new sessions read but cannot write, open sessions are ended', async () => {
    const before = await authenticator('size-a');
    const neighbour = await authenticator('size-b');
    // Not the project's: the platform's own (or the cloud's superuser) session on its database.
    const platform = new pg.Client({
      host: worker.host,
      port: worker.port,
      user: worker.user,
      password: worker.password,
      database: 'proj_size-a',
    });
    platform.on('error', () => {});
    await platform.connect();
    try {
      const summary = await h.tm.sizeLimits.checkNow();
      expect(summary).toEqual({
        checked: 1, // size-b has no limit: its size is not even read
        madeReadOnly: ['size-a'],
        madeWritable: [],
        failed: [],
        unreachableClusters: [],
      });
      await expect(before.query('SELECT 1')).rejects.toThrow();
      // Only the project's own sessions are ended (on RDS, ending another's, autovacuum's, fails them all).
      expect((await platform.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // The neighbour's sessions and writes go on.
      await neighbour.query('INSERT INTO public.notes VALUES (2)');
    } finally {
      await before.end().catch(() => {});
      await platform.end().catch(() => {});
      await neighbour.end();
    }
    expect(await insertAs('size-a', 3)).toBe('25006');
    expect(await insertAs('size-b', 3)).toBe('ok');
    const reader = await authenticator('size-a');
    try {
      expect((await reader.query('SELECT id FROM public.notes ORDER BY id')).rows).toEqual([
        { id: 1 },
        { id: 2 },
      ]);
    } finally {
      await reader.end();
    }
    // The owner's SQL endpoint too: reads work, a plain write is refused.
    expect((await sql('size-a', 'select count(*)::int as n from public.notes')).json()).toEqual([{ n: 2 }]);
    const write = await sql('size-a', 'insert into public.notes values (4)');
    expect(write.statusCode).toBe(400);
    expect(write.json().code).toBe('25006');

    expect(await flag('size-a')).toBe(true);
    expect(await flag('size-b')).toBe(false);
    const usage = await usageOf('size-a');
    expect(usage).toMatchObject({ size_limit_bytes: MIB, read_only: true });
    expect(usage.size_bytes).toBeGreaterThan(MIB);
    expect(await usageOf('size-b')).toMatchObject({ size_limit_bytes: null, read_only: false });
  });

  it('is left alone by the next round (its sessions stay open); a setting removed by hand is put back', async () => {
    const session = await authenticator('size-a');
    try {
      expect(await h.tm.sizeLimits.checkNow()).toMatchObject({ checked: 1, madeReadOnly: [] });
      expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await session.end();
    }
    await onWorker('ALTER DATABASE "proj_size-a" RESET default_transaction_read_only');
    expect(await insertAs('size-a', 5)).toBe('ok');
    expect(await h.tm.sizeLimits.checkNow()).toMatchObject({ madeReadOnly: ['size-a'] });
    expect(await insertAs('size-a', 6)).toBe('25006');
  });

  it('ends, each round, sessions older than the read-only setting that an earlier ending missed', async () => {
    const since = (await h.db.query(`SELECT db_read_only_since FROM tm.projects WHERE ref = 'size-a'`))
      .rows[0].db_read_only_since as Date;
    expect(since).toBeInstanceOf(Date);
    const missed = await authenticator('size-a');
    const later = await authenticator('size-a');
    try {
      // As if `missed` had started before the setting and its ending had failed: it is older than `since`.
      const [row] = await onWorker<{ started: Date }>(
        `SELECT backend_start AS started FROM pg_stat_activity WHERE pid = $1`,
        [(await missed.query('SELECT pg_backend_pid() AS pid')).rows[0].pid],
      );
      await h.db.query(`UPDATE tm.projects SET db_read_only_since = $1 WHERE ref = 'size-a'`, [
        new Date(row!.started.getTime() + 1),
      ]);
      expect(await h.tm.sizeLimits.checkNow()).toMatchObject({ madeReadOnly: [], failed: [] });
      await expect(missed.query('SELECT 1')).rejects.toThrow();
      expect((await later.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await h.db.query(`UPDATE tm.projects SET db_read_only_since = $1 WHERE ref = 'size-a'`, [since]);
      await Promise.allSettled([missed.end(), later.end()]);
    }
  });

  it('lets the SQL endpoint clean up in a read-write transaction of its own', async () => {
    // One request is one transaction: a new default comes too late for it.
    const tooLate = await sql(
      'size-a',
      'set default_transaction_read_only = off; delete from public.notes where id = 5',
    );
    expect(tooLate.json().code).toBe('25006');
    const cleanup = await sql(
      'size-a',
      'set transaction_read_only = off; delete from public.notes where id = 5',
    );
    expect(cleanup.statusCode, cleanup.body).toBe(201);
    const explicit = await sql('size-a', 'begin read write; delete from public.notes where id = 2; commit');
    expect(explicit.statusCode, explicit.body).toBe(201);
    expect((await sql('size-a', 'select count(*)::int as n from public.notes')).json()).toEqual([{ n: 1 }]);
    // VACUUM (which gives the space back) only changes storage: it runs in a read-only session as is.
    const vacuum = await sql('size-a', 'vacuum full public.notes');
    expect(vacuum.statusCode, vacuum.body).toBe(201);
    expect(await insertAs('size-a', 7)).toBe('25006'); // other sessions are still read-only
  });

  it('stays read-only through a pause and a restore (even when the setting was removed meanwhile)', async () => {
    expect((await call('POST', '/v1/projects/size-a/pause')).json().status).toBe('INACTIVE');
    await onWorker('ALTER DATABASE "proj_size-a" RESET default_transaction_read_only');
    expect((await call('POST', '/v1/projects/size-a/restore')).json().status).toBe('ACTIVE_HEALTHY');
    expect(await insertAs('size-a', 8)).toBe('25006');
    expect(await flag('size-a')).toBe(true);
  });
});

describe('PATCH limits.db_size_mb', () => {
  it('raising the limit makes the database writable at once, without a round', async () => {
    const patched = await patchLimits('size-a', { db_size_mb: 10_000 });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ ref: 'size-a', id: expect.any(Number) });
    expect(patched.json().limits).toEqual({
      db_connections: 60,
      requests_per_second: null,
      burst: null,
      db_size_mb: 10_000,
    });
    expect(await flag('size-a')).toBe(false);
    expect(await insertAs('size-a', 10)).toBe('ok');
    expect(await usageOf('size-a')).toMatchObject({ size_limit_bytes: 10_000 * MIB, read_only: false });
  });

  it('lowering it below the size makes the database read-only at once; null removes the limit', async () => {
    expect((await patchLimits('size-a', { db_size_mb: 1 })).statusCode).toBe(200);
    expect(await flag('size-a')).toBe(true);
    expect(await insertAs('size-a', 11)).toBe('25006');

    const removed = await patchLimits('size-a', { db_size_mb: null });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(removed.json().limits.db_size_mb).toBeNull();
    expect(await flag('size-a')).toBe(false);
    expect(await insertAs('size-a', 12)).toBe('ok');
    expect(await usageOf('size-a')).toMatchObject({ size_limit_bytes: null, read_only: false });
  });

  it('other limits leave it as it is; a create may set it', async () => {
    await patchLimits('size-a', { db_size_mb: 500 });
    const patched = await patchLimits('size-a', { db_connections: 30 });
    expect(patched.json().limits).toMatchObject({ db_connections: 30, db_size_mb: 500 });
  });

  it.each([
    [{ db_size_mb: 0 }, 'body/limits/db_size_mb must be >= 1'],
    [{ db_size_mb: 10_000_001 }, 'body/limits/db_size_mb must be <= 10000000'],
    [{ db_size_mb: 'big' }, 'body/limits/db_size_mb must be integer'],
    [{ db_size_mb: 1.5 }, 'body/limits/db_size_mb must be integer'],
  ])('refuses %j with 400 validation_failed, changing nothing', async (limits, message) => {
    await expectLimitsRefused(h, { create: 'size-bad', patch: 'size-a' }, limits, {
      message,
      code: 'validation_failed',
    });
    expect((await call('GET', '/v1/projects/size-bad')).statusCode).toBe(404);
    expect((await call('GET', '/v1/projects/size-a')).json().limits.db_size_mb).toBe(500);
  });
});

describe('a round with an unreachable cluster', () => {
  it('skips that cluster and still enforces on the others', async () => {
    const clusterId = randomUUID();
    const now = new Date();
    await h.db.query(
      `INSERT INTO tm.clusters (id, name, host, port, admin_user, admin_password_enc, capacity, region,
         status, created_at, updated_at)
       VALUES ($1, 'gone', '127.0.0.1', $2, 'postgres', $3, 10, 'local', 'active', $4, $4)`,
      [clusterId, await freePort(), h.tm.ctx.box.seal('pw', clusterPasswordAad(clusterId)), now],
    );
    await h.db.query(
      `INSERT INTO tm.projects (ref, name, status, step, cluster_id, owner_password_enc,
         authenticator_password_enc, jwt_secret_enc, db_connection_limit, db_size_limit_mb, created_at, updated_at)
       VALUES ('size-gone', 'gone', 'ACTIVE_HEALTHY', 'activate', $1, 'x', 'x', 'x', 60, 1, $2, $2)`,
      [clusterId, now],
    );
    try {
      await h.db.query(`UPDATE tm.projects SET db_size_limit_mb = 1 WHERE ref = 'size-b'`);
      const summary = await h.tm.sizeLimits.checkNow();
      expect(summary).toMatchObject({
        madeReadOnly: ['size-b'],
        failed: [],
        unreachableClusters: [clusterId],
      });
      expect(await insertAs('size-b', 20)).toBe('25006');
    } finally {
      await h.db.query(`DELETE FROM tm.projects WHERE ref = 'size-gone'`);
      await h.db.query('DELETE FROM tm.clusters WHERE id = $1', [clusterId]);
      await h.tm.ctx.clusters.evict(clusterId);
    }
    expect((await patchLimits('size-b', { db_size_mb: null })).statusCode).toBe(200);
    expect(await insertAs('size-b', 21)).toBe('ok');
  });
});

describe('a round where one project fails', () => {
  it('still enforces on the others; the failed one is settled by the next round', async () => {
    await h.db.query(`UPDATE tm.projects SET db_size_limit_mb = 1 WHERE ref IN ('size-a', 'size-b')`);
    await h.db.query(`
CREATE FUNCTION public.refuse_size_a() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'management database refused'; END $$;
CREATE TRIGGER refuse_size_a BEFORE UPDATE OF db_read_only ON tm.projects
  FOR EACH ROW WHEN (NEW.ref = 'size-a') EXECUTE FUNCTION public.refuse_size_a();`);
    try {
      expect(await h.tm.sizeLimits.checkNow()).toMatchObject({
        madeReadOnly: ['size-b'],
        failed: ['size-a'],
        unreachableClusters: [],
      });
      expect(await insertAs('size-a', 30)).toBe('ok'); // nothing was changed for it
      expect(await insertAs('size-b', 30)).toBe('25006');
    } finally {
      await h.db.query('DROP FUNCTION public.refuse_size_a() CASCADE');
    }
    expect(await h.tm.sizeLimits.checkNow()).toMatchObject({ madeReadOnly: ['size-a'], failed: [] });
    expect(await insertAs('size-a', 31)).toBe('25006');
    for (const ref of ['size-a', 'size-b']) {
      expect((await patchLimits(ref, { db_size_mb: null })).statusCode).toBe(200);
      expect(await insertAs(ref, 32)).toBe('ok');
    }
  });
});

describe('a cluster that stops answering mid-round', () => {
  it('fails that project after the cluster timeout, releasing the round and the project lock', async () => {
    // The size query is answered; the read-only change then never is (a failover, a black hole).
    const pools = h.tm.ctx.clusters;
    const get = pools.get;
    pools.get = async (id) => {
      const handle = await get.call(pools, id);
      const query = (text: string, params?: unknown[]) =>
        text.startsWith('ALTER DATABASE') ? new Promise(() => {}) : handle.admin.query(text, params);
      return { ...handle, admin: { query } as unknown as pg.Pool };
    };
    const stalled = new SizeLimitEnforcer(h.tm.ctx, { intervalMs: 0, clusterTimeoutMs: 200 });
    await h.db.query(`UPDATE tm.projects SET db_size_limit_mb = 1 WHERE ref = 'size-a'`);
    try {
      expect(await stalled.checkNow()).toMatchObject({ madeReadOnly: [], failed: ['size-a'] });
      expect(await stalled.checkProject('size-a')).toBeNull(); // a PATCH's re-check answers too
    } finally {
      pools.get = get;
      await stalled.close();
    }
    // Flagged before the change that never came: the next round (its lock free again) makes it.
    expect(await flag('size-a')).toBe(true);
    expect(await h.tm.sizeLimits.checkNow()).toMatchObject({ madeReadOnly: ['size-a'], failed: [] });
    expect(await insertAs('size-a', 40)).toBe('25006');
    expect((await patchLimits('size-a', { db_size_mb: null })).statusCode).toBe(200);
    expect(await insertAs('size-a', 41)).toBe('ok');
  });
});

describe('PROJECT_DB_SIZE_LIMIT_MB and the background rounds', () => {
  it('gives new projects the default limit; rounds on their own make them read-only', async () => {
    const second = await startHarness({
      managementUrl: h.managementUrl,
      config: { ...TEST_APP_CONFIG, projectDbSizeLimitMb: 2 },
      sizeLimits: { intervalMs: 50 },
      resume: false,
      reconcileFunctions: false,
    });
    try {
      const created = await second.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: admin,
        payload: { name: 'size-env', ref: 'size-env' },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json().limits.db_size_mb).toBe(2);
      await eventually(async () => ((await flag('size-env')) ? true : undefined));
      // A create that says otherwise wins.
      const own = await second.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: admin,
        payload: { name: 'size-own', ref: 'size-own', limits: { db_size_mb: null } },
      });
      expect(own.json().limits.db_size_mb).toBeNull();
    } finally {
      await second.close();
    }
    expect((await onWorker('SELECT 1 FROM pg_database WHERE datname = $1', ['proj_size-env'])).length).toBe(
      1,
    );
  });
});
