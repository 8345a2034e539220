import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, clusterObjects, type Harness, startHarness } from '../../test/harness.js';

let h: Harness;
let raced = false;
/** Holds the provisioning of `slow-create` before create_database until released. */
let releaseSlow: () => void = () => {};
const slow = new Promise<void>((resolve) => {
  releaseSlow = resolve;
});
let slowReached: () => void = () => {};
const slowStarted = new Promise<void>((resolve) => {
  slowReached = resolve;
});

beforeAll(async () => {
  h = await startHarness({
    faults: {
      // Once the first project is active but before its create answers, the project is removed and
      // a second one takes its ref (what a delete and a create of the same ref in between leave).
      beforeStep: async (step, ref) => {
        if (ref !== 'slow-create' || step !== 'create_database') return;
        slowReached();
        await slow;
      },
      afterStep: async (step, ref) => {
        if (step !== 'activate' || ref !== 'race-ref' || raced) return;
        raced = true;
        await h.db.query(`UPDATE tm.projects SET status = 'REMOVED' WHERE ref = 'race-ref'`);
        const second = await h.createProject('race-ref');
        expect(second.statusCode).toBe(201);
      },
    },
  });
  await h.registerCluster('create-race', 10);
});
afterAll(() => h?.close());

describe('a create that races a delete and a create of the same ref', () => {
  it('answers the project it created, not the one that took its ref since', async () => {
    const response = await h.createProject('race-ref');
    expect(response.statusCode).toBe(201);
    const { rows } = await h.db.query<{ created_at: Date; status: string }>(
      `SELECT created_at, status FROM tm.projects WHERE ref = 'race-ref' ORDER BY created_at`,
    );
    expect(rows).toHaveLength(2);
    // Both have the ref as their (Supabase) id: their creation times tell them apart.
    expect(response.json()).toMatchObject({
      created_at: rows[0]!.created_at.toISOString(),
      ref: 'race-ref',
      status: 'REMOVED',
    });
    const other = await h.tm.publicApp.inject({ url: '/v1/projects/race-ref', headers: admin });
    expect(other.json().created_at).toBe(rows[1]!.created_at.toISOString());
  });
});

describe('calls that meet on one project', () => {
  const call = (method: 'GET' | 'POST' | 'DELETE', url: string) =>
    h.tm.publicApp.inject({ method, url, headers: admin });

  it('a delete during a create waits for the provisioning step, then removes everything', async () => {
    const create = h.createProject('slow-create');
    await slowStarted;
    const deleting = call('DELETE', '/v1/projects/slow-create');
    releaseSlow();
    const [created, deleted] = await Promise.all([create, deleting]);
    expect(created.statusCode).toBe(201);
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ ref: 'slow-create', name: 'slow-create' });
    expect((await call('GET', '/v1/projects/slow-create')).statusCode).toBe(404);
    expect(h.functions.live.has('slow-create')).toBe(false);
    expect(await clusterObjects('slow-create')).toEqual([]);
  });

  it('a pause and a delete at once: the delete wins either way, nothing answers 5xx', async () => {
    expect((await h.createProject('pause-delete')).json().status).toBe('ACTIVE_HEALTHY');
    const [paused, deleted] = await Promise.all([
      call('POST', '/v1/projects/pause-delete/pause'),
      call('DELETE', '/v1/projects/pause-delete'),
    ]);
    expect([200, 404]).toContain(paused.statusCode);
    expect(deleted.statusCode).toBe(200);
    expect((await call('GET', '/v1/projects/pause-delete')).statusCode).toBe(404);
    expect((await call('POST', '/v1/projects/pause-delete/restore')).statusCode).toBe(404);
  });

  it('a restore of a project that is not paused: 200 when active, 409 while it comes up', async () => {
    expect((await h.createProject('not-paused')).json().status).toBe('ACTIVE_HEALTHY');
    const restored = await call('POST', '/v1/projects/not-paused/restore');
    expect(restored.statusCode).toBe(200);
    expect(restored.json().status).toBe('ACTIVE_HEALTHY');
    await h.db.query(`UPDATE tm.projects SET status = 'COMING_UP' WHERE ref = 'not-paused'`);
    const coming = await call('POST', '/v1/projects/not-paused/restore');
    expect(coming.statusCode).toBe(409);
    expect(coming.json().code).toBe('invalid_status');
  });

  it('calls queued on a busy project leave the connection pool to everyone else', async () => {
    expect((await h.createProject('busy-one')).json().status).toBe('ACTIVE_HEALTHY');
    expect((await h.createProject('busy-other')).json().status).toBe('ACTIVE_HEALTHY');
    const { rows } = await h.db.query<{ id: string }>(`SELECT id FROM tm.projects WHERE ref = 'busy-one'`);
    // A long step holds the project's lock (the harness pool has 20 connections).
    const holder = new pg.Client({ connectionString: h.managementUrl });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(hashtext($1))', [`supaplane.project:${rows[0]!.id}`]);
      const queued = Array.from({ length: 25 }, (_, i) =>
        h.tm.publicApp.inject({
          method: 'PATCH',
          url: '/v1/projects/busy-one',
          headers: admin,
          payload: { limits: { requests_per_second: 100 + i } },
        }),
      );
      await new Promise((r) => setTimeout(r, 300)); // let them all queue
      const elsewhere = await Promise.race([
        call('GET', '/v1/projects/busy-other'),
        new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 5_000)),
      ]);
      expect(elsewhere === 'stuck' ? 'stuck' : elsewhere.statusCode).toBe(200);
      await holder.query('SELECT pg_advisory_unlock(hashtext($1))', [`supaplane.project:${rows[0]!.id}`]);
      expect((await Promise.all(queued)).map((r) => r.statusCode)).toEqual(Array(25).fill(200));
    } finally {
      await holder.end();
    }
  });
});
