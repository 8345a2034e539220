import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type HttpResult, rest, supabaseFor } from './support/clients.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';

// Storage is shared on a worker cluster, so the operator caps each project's database size. A project
// over its cap is made read-only: writes through the data API are refused (405, SQLSTATE 25006) while
// reads go on, another project on the cluster keeps writing, and raising the cap lifts it at once.

interface DatabaseUsage {
  size_bytes: number;
  size_limit_bytes: number | null;
  read_only: boolean;
}

let a: TestProject;
let b: TestProject;

const databaseOf = async (ref: string) => {
  const res = await admin('GET', `/v1/projects/${ref}/usage?hours=1`);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { database: DatabaseUsage }).database;
};

/** Inserts one row as the service role (right after a change, the connections the platform cut may take a retry). */
const insert = (p: TestProject, id: number) =>
  rest(p.ref, 'notes', { key: p.secretKey, method: 'POST', body: { id, body: `row ${id}` } });

beforeAll(async () => {
  [a, b] = await createProjects('sizecap-a', 'sizecap-b');
  const schema = `create table public.notes (id int primary key, body text);
    insert into public.notes values (1, 'first');`;
  await Promise.all([sql(a.ref, schema), sql(b.ref, schema)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('database size limit per project', () => {
  it('makes a project over its cap read-only, leaves its neighbour writable, and lifts at once when raised', async () => {
    expect((await insert(a, 2)).status).toBe(201);
    const capped = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { db_size_mb: 1 } });
    expect(capped.status, capped.text).toBe(200);
    expect((capped.json() as { limits: { db_size_mb: number } }).limits.db_size_mb).toBe(1);

    const database = await databaseOf(a.ref);
    expect(database).toMatchObject({ read_only: true, size_limit_bytes: 1024 * 1024 });
    expect(database.size_bytes).toBeGreaterThan(1024 * 1024);

    let refused: HttpResult | undefined;
    await eventually(
      async () => {
        refused = await insert(a, 3);
        return refused.status === 405;
      },
      10_000,
      100,
    );
    expect(refused!.json()).toMatchObject({ code: '25006' });
    const read = await supabaseFor(a.ref, a.secretKey).from('notes').select('id').order('id');
    expect(read.error).toBeNull();
    expect(read.data).toEqual([{ id: 1 }, { id: 2 }]);
    const viaSdk = await supabaseFor(a.ref, a.secretKey).from('notes').insert({ id: 4, body: 'sdk' });
    expect(viaSdk.error?.code).toBe('25006');
    expect(viaSdk.status).toBe(405);

    // The neighbour on the same cluster is not affected.
    expect((await insert(b, 2)).status).toBe(201);
    expect((await databaseOf(b.ref)).read_only).toBe(false);

    // Raising the cap makes the database writable again without waiting for the next check.
    const lifted = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { db_size_mb: null } });
    expect(lifted.status, lifted.text).toBe(200);
    expect((await databaseOf(a.ref)).read_only).toBe(false);
    await eventually(async () => (await insert(a, 5)).status === 201, 10_000, 100);
  });
});
