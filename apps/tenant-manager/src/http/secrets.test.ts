import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, eventually, type Harness, startHarness } from '../../test/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('secrets', 10);
  expect((await h.createProject('secrets-one')).statusCode).toBe(201);
});
afterAll(() => h?.close());

const post = (ref: string, payload: object) =>
  h.tm.publicApp.inject({ method: 'POST', url: `/v1/projects/${ref}/secrets`, headers: admin, payload });

const stored = async (ref: string) =>
  (
    await h.db.query<{ name: string; digest: string }>(
      `SELECT s.name, s.digest FROM tm.project_secrets s JOIN tm.projects p ON p.id = s.project_id
       WHERE p.ref = $1 ORDER BY s.name`,
      [ref],
    )
  ).rows;

describe('POST /v1/projects/:ref/secrets', () => {
  it('stores all of a request or none of it', async () => {
    expect((await post('secrets-one', [{ name: 'KEEP', value: 'old' }])).statusCode).toBe(201);
    const before = await stored('secrets-one');
    // A check the database enforces on one row of the request: the write fails part-way through.
    await h.db.query(`ALTER TABLE tm.project_secrets ADD CONSTRAINT refuse_poison CHECK (name <> 'POISON')`);
    try {
      const failed = await post('secrets-one', [
        { name: 'KEEP', value: 'new' },
        { name: 'FRESH', value: 'x' },
        { name: 'POISON', value: 'y' },
      ]);
      expect(failed.statusCode).toBe(500);
      expect(failed.body).not.toContain('refuse_poison');
      expect(await stored('secrets-one')).toEqual(before);
    } finally {
      await h.db.query('ALTER TABLE tm.project_secrets DROP CONSTRAINT refuse_poison');
    }
  });

  it.each(['GOING_DOWN', 'INIT_FAILED'])(
    'refuses a %s project like the API-key routes (409)',
    async (status) => {
      const ref = `secrets-${status.toLowerCase().replace('_', '-')}`;
      expect((await h.createProject(ref)).statusCode).toBe(201);
      await h.db.query('UPDATE tm.projects SET status = $2 WHERE ref = $1', [ref, status]);
      const refused = await post(ref, [{ name: 'LATE', value: 'x' }]);
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toEqual({ message: `project is ${status}`, code: 'invalid_status' });
      const key = await h.tm.publicApp.inject({
        method: 'POST',
        url: `/v1/projects/${ref}/api-keys`,
        headers: admin,
        payload: { type: 'secret', name: 'late' },
      });
      expect(key.json()).toEqual(refused.json());
      expect(await stored(ref)).toEqual([]);
    },
  );

  // Secrets, API keys and signing keys alike: each write looks at the status again under a share lock.
  it.each([
    { route: 'secrets', payload: [{ name: 'LATE', value: 'x' }], table: 'tm.project_secrets' },
    { route: 'api-keys', payload: { type: 'secret', name: 'late' }, table: 'tm.api_keys' },
    { route: 'signing-keys', payload: undefined, table: 'tm.signing_keys' },
  ])(
    'a delete that began after the status check is seen by POST …/$route: nothing is stored behind its teardown',
    async ({ route, payload, table }) => {
      const ref = `racing-${route}`;
      expect((await h.createProject(ref)).statusCode).toBe(201);
      const rows = async () =>
        (
          await h.db.query(
            `SELECT 1 FROM ${table} t JOIN tm.projects p ON p.id = t.project_id WHERE p.ref = $1`,
            [ref],
          )
        ).rowCount;
      const before = await rows();
      // A delete's first step, not yet committed when the request reads the project.
      const deleting = await h.db.connect();
      try {
        await deleting.query('BEGIN');
        await deleting.query(`UPDATE tm.projects SET status = 'GOING_DOWN' WHERE ref = $1`, [ref]);
        let answered = false;
        const pending = h.tm.publicApp
          .inject({ method: 'POST', url: `/v1/projects/${ref}/${route}`, headers: admin, payload })
          .finally(() => {
            answered = true;
          });
        // The write waits for the delete's row lock (one that does not look at the status answers at once).
        const waited = await eventually(async () => {
          if (answered) return 'answered without waiting';
          const { rows } = await h.db.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR SHARE%'`,
          );
          return rows[0] ? 'waited' : undefined;
        });
        expect(waited).toBe('waited');
        await deleting.query('COMMIT');
        const refused = await pending;
        expect(refused.statusCode).toBe(409);
        expect(refused.json()).toEqual({ message: 'project is GOING_DOWN', code: 'invalid_status' });
      } finally {
        deleting.release();
      }
      expect(await rows()).toBe(before);
    },
  );

  it('answers 404 for a removed project and stores nothing', async () => {
    expect((await h.createProject('secrets-gone')).statusCode).toBe(201);
    await h.db.query(`UPDATE tm.projects SET status = 'REMOVED' WHERE ref = 'secrets-gone'`);
    const refused = await post('secrets-gone', [{ name: 'LATE', value: 'x' }]);
    expect(refused.statusCode).toBe(404);
    expect(refused.json().code).toBe('not_found');
    expect(await stored('secrets-gone')).toEqual([]);
  });
});
