import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { admin, type Harness, startHarness } from '../../test/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.registerCluster('lifecycle-reads', 10);
  expect((await h.createProject('pl-delete')).json().status).toBe('ACTIVE_HEALTHY');
});
afterAll(async () => {
  vi.restoreAllMocks();
  await h?.close();
});

const sqlOf = (args: unknown[]) => {
  const first = args[0] as string | { text?: string };
  return typeof first === 'string' ? first : (first?.text ?? '');
};

describe('deleting a project', () => {
  it("reads the project's key hashes once, and tells the gateways of every key before and after the teardown", async () => {
    const id = (await h.db.query(`SELECT id FROM tm.projects WHERE ref = 'pl-delete'`)).rows[0].id;
    const hashes = (await h.db.query('SELECT hash FROM tm.api_keys WHERE project_id = $1', [id])).rows
      .map((r) => r.hash)
      .sort();
    expect(hashes.length).toBeGreaterThan(0);
    const queries = vi.spyOn(pg.Client.prototype, 'query');
    const published = vi.spyOn(h.tm.ctx.invalidator, 'project');

    const deleted = await h.tm.publicApp.inject({
      method: 'DELETE',
      url: '/v1/projects/pl-delete',
      headers: admin,
    });

    expect(deleted.statusCode, deleted.body).toBe(200);
    const keyReads = queries.mock.calls
      .map(sqlOf)
      .filter((sql) => /^\s*SELECT\b.*\bFROM tm\.api_keys\b/s.test(sql));
    expect(keyReads).toHaveLength(1);
    const told = published.mock.calls.filter(([ref, reason]) => ref === 'pl-delete' && reason === 'deleted');
    expect(told.map(([, , keys]) => [...(keys ?? [])].sort())).toEqual([hashes, hashes]);
    expect((await h.db.query('SELECT 1 FROM tm.api_keys WHERE project_id = $1', [id])).rowCount).toBe(0);
  });
});

describe('what a deleted project leaves in the management database', () => {
  it('its row, as a record of what existed, without its sealed JWT secret and database passwords', async () => {
    expect((await h.createProject('pl-scrub')).json().status).toBe('ACTIVE_HEALTHY');
    const { id } = (await h.db.query(`SELECT id FROM tm.projects WHERE ref = 'pl-scrub'`)).rows[0];
    const deleted = await h.call('DELETE', '/v1/projects/pl-scrub');
    expect(deleted.statusCode, deleted.body).toBe(200);

    const { rows } = await h.db.query('SELECT * FROM tm.projects WHERE id = $1', [id]);
    expect(rows[0]).toMatchObject({ ref: 'pl-scrub', name: 'pl-scrub', status: 'REMOVED' });
    const sealed = Object.keys(rows[0]).filter((column) => column.endsWith('_enc'));
    expect(sealed.sort()).toEqual(['authenticator_password_enc', 'jwt_secret_enc', 'owner_password_enc']);
    expect(sealed.map((column) => [column, rows[0][column]])).toEqual(sealed.map((column) => [column, null]));
    for (const table of ['api_keys', 'project_secrets', 'signing_keys']) {
      const left = await h.db.query(`SELECT 1 FROM tm.${table} WHERE project_id = $1`, [id]);
      expect(left.rowCount, table).toBe(0);
    }
  });

  it('a live project cannot lose its secrets (only a removed one keeps none)', async () => {
    expect((await h.createProject('pl-keeps')).json().status).toBe('ACTIVE_HEALTHY');
    await expect(
      h.db.query(`UPDATE tm.projects SET jwt_secret_enc = NULL WHERE ref = 'pl-keeps'`),
    ).rejects.toThrow(/projects_secrets_check|null value/);
  });
});
