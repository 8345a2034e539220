import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rest, supabaseFor } from './support/clients.js';
import { expectJsonError, expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, sql, sqlRequest, type TestProject } from './support/projects.js';

// Tables created here have no RLS, so (as on Supabase) the publishable key reads and writes them; the
// secret key's supabase-js path is exercised in sdk-rls.test.ts.
let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('sql-a', 'sql-b');
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

/** The SQL endpoint's 400: JSON naming the Postgres error code, no stack trace. */
async function expectSqlError(query: string, sqlstate: string) {
  const res = await sqlRequest(a.ref, query);
  const body = expectJsonError(res, 400);
  expect(JSON.stringify(body), res.text).toContain(sqlstate);
  return body;
}

describe('SQL endpoint and tables', () => {
  it('creates a table that supabase-js can use at once', async () => {
    const created = await sql(
      a.ref,
      'create table public.notes (id int primary key, body text not null, n int)',
    );
    expect(created).toEqual([]);
    const client = supabaseFor(a.ref, a.publishableKey);
    const read = await client.from('notes').select('*');
    expect(read.error).toBeNull();
    expect(read.status).toBe(200);
    expect(read.data).toEqual([]);
    const inserted = await client.from('notes').insert({ id: 100, body: 'via sdk', n: 0 }).select();
    expect(inserted.error).toBeNull();
    expect(inserted.status).toBe(201);
    expect(inserted.data).toEqual([{ id: 100, body: 'via sdk', n: 0 }]);
  });

  it('inserts and selects through SQL, returning typed rows', async () => {
    const inserted = await sql(
      a.ref,
      "insert into public.notes (id, body, n) values (1, 'one', 10), (2, 'two', 20), (3, 'three', 30) returning id, body",
    );
    expect(inserted).toEqual([
      { id: 1, body: 'one' },
      { id: 2, body: 'two' },
      { id: 3, body: 'three' },
    ]);
    const rows = await sql(a.ref, 'select id, body, n from public.notes where id < 100 order by id');
    expect(rows).toEqual([
      { id: 1, body: 'one', n: 10 },
      { id: 2, body: 'two', n: 20 },
      { id: 3, body: 'three', n: 30 },
    ]);
    const sdk = await supabaseFor(a.ref, a.publishableKey)
      .from('notes')
      .select('id')
      .lt('id', 100)
      .order('id');
    expect(sdk.data).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it('updates and deletes through SQL, and supabase-js sees the result', async () => {
    expect(await sql(a.ref, "update public.notes set body = 'TWO' where id = 2 returning id, body")).toEqual([
      { id: 2, body: 'TWO' },
    ]);
    const deleted = await sql<{ id: number }>(
      a.ref,
      'delete from public.notes where id in (3, 100) returning id',
    );
    expect(deleted.map((r) => r.id).sort((x, y) => x - y)).toEqual([3, 100]);
    const { data, error } = await supabaseFor(a.ref, a.publishableKey)
      .from('notes')
      .select('id, body')
      .order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, body: 'one' },
      { id: 2, body: 'TWO' },
    ]);
  });

  it('an added column is visible to supabase-js at once', async () => {
    await sql(a.ref, "alter table public.notes add column tag text not null default 'untagged'");
    const { data, error } = await supabaseFor(a.ref, a.publishableKey)
      .from('notes')
      .select('id, tag')
      .eq('id', 1);
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 1, tag: 'untagged' }]);
  });

  it('answers 400 with the Postgres code for invalid SQL', async () => {
    await expectSqlError('selec 1', '42601');
    await expectSqlError('select * from public.no_such_table', '42P01');
    await expectSqlError("insert into public.notes (id, body) values (1, 'dup')", '23505');
    await expectSqlError('select 1/0', '22012');
    const empty = await sqlRequest(a.ref, '');
    expectJsonError(empty, 400);
    // A failed statement changes nothing.
    expect(await sql(a.ref, 'select count(*)::int as c from public.notes')).toEqual([{ c: 2 }]);
  });

  it('keeps tables per project: A’s table does not exist in B', async () => {
    const viaSdk = await supabaseFor(b.ref, b.publishableKey).from('notes').select('*');
    expect(viaSdk.status).toBe(404);
    expect(viaSdk.error?.code).toBe('PGRST205');
    const viaSql = await sqlRequest(b.ref, 'select * from public.notes');
    expect(JSON.stringify(expectJsonError(viaSql, 400))).toContain('42P01');
  });

  it('a dropped table gives PostgREST’s not-found error at once', async () => {
    await sql(a.ref, 'drop table public.notes');
    const { data, error, status } = await supabaseFor(a.ref, a.publishableKey).from('notes').select('*');
    expect(data).toBeNull();
    expect(status).toBe(404);
    expect(error).toMatchObject({
      code: 'PGRST205',
      message: "Could not find the table 'public.notes' in the schema cache",
    });
    const raw = await rest(a.ref, 'notes', { key: a.secretKey });
    expectPostgrestError(raw, 404, 'PGRST205');
    expect(await sql(a.ref, "select to_regclass('public.notes') as t")).toEqual([{ t: null }]);
  });
});
