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
