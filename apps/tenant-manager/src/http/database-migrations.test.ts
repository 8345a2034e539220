import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextVersion } from '../lib/database-migrations.js';
import { type Harness, startHarness } from '../../test/harness.js';

// `GET/POST /v1/projects/:ref/database/migrations`, what Supabase's MCP server's list_migrations and
// apply_migration call: one transaction per migration, recorded where the Supabase CLI records its own.

let h: Harness;
const url = '/v1/projects/mig-one/database/migrations';
const sql = async (query: string) =>
  (await h.call('POST', '/v1/projects/mig-one/database/query', { query })).json();
const exists = async (table: string) => (await sql(`select to_regclass('public.${table}')::text as t`))[0].t;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('migrations', 10);
  expect((await h.createProject('mig-one')).statusCode).toBe(201);
});
afterAll(() => h?.close());

describe('database migrations', () => {
  it('lists none before the first, then applies one, records it and lists it', async () => {
    expect((await h.call('GET', url)).json()).toEqual([]);
    const query = `create table todos (id int primary key, task text);
      create function todo_count() returns int language plpgsql as $$ begin return (select count(*) from todos); end; $$;
      insert into todos values (1, 'ship') -- a last line that is a comment, without a newline`;
    const applied = await h.call('POST', url, { name: 'create_todos', query });
    expect(applied.statusCode, applied.body).toBe(200);
    const { version } = applied.json();
    expect(applied.json()).toEqual({ version: expect.stringMatching(/^\d{14}$/), name: 'create_todos' });
    expect((await h.call('GET', url)).json()).toEqual([{ version, name: 'create_todos' }]);
    expect(await sql('select todo_count() as n')).toEqual([{ n: 1 }]);
    // The ledger as the Supabase CLI reads it: version, the statements, the name.
    expect(await sql('select version, statements, name from supabase_migrations.schema_migrations')).toEqual([
      { version, statements: [query], name: 'create_todos' },
    ]);
  });

  it('keeps nothing of a migration that fails, nor of one that tries to commit half way', async () => {
    const before = (await h.call('GET', url)).json();
    const failing = await h.call('POST', url, {
      name: 'broken',
      query: 'create table half (id int); select 1/0',
    });
    expect(failing.statusCode).toBe(400);
    expect(failing.json()).toEqual({ message: 'division by zero', code: '22012' });
    const committing = await h.call('POST', url, {
      query: 'create table early (id int); commit; create table late (id int)',
    });
    expect(committing.statusCode).toBe(400);
    expect(committing.json().code).toBe('0A000');
    expect([await exists('half'), await exists('early'), await exists('late')]).toEqual([null, null, null]);
    expect((await h.call('GET', url)).json()).toEqual(before);
  });

  it('gives migrations applied at once distinct versions, in order', async () => {
    const results = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        h.call('POST', url, { name: `add_${n}`, query: `create table t_${n} (id int)` }),
      ),
    );
    for (const r of results) expect(r.statusCode, r.body).toBe(200);
    const versions = results.map((r) => r.json().version as string);
    expect(new Set(versions).size).toBe(3);
    const listed = (await h.call('GET', url)).json() as { version: string }[];
    expect(listed.map((m) => m.version)).toEqual([...listed.map((m) => m.version)].sort());
    expect(
      listed
        .slice(-3)
        .map((m) => m.version)
        .sort(),
    ).toEqual([...versions].sort());
  });

  it('refuses an empty query, a name with control characters, and unknown projects', async () => {
    expect((await h.call('POST', url, { query: '  ' })).json()).toEqual({
      message: 'query is empty',
      code: 'invalid_query',
    });
    expect((await h.call('POST', url, { query: 'select 1', name: 'a\nb' })).json().code).toBe('invalid_name');
    expect((await h.call('POST', url, { name: 'x' })).statusCode).toBe(400);
    expect((await h.call('GET', '/v1/projects/mig-none/database/migrations')).statusCode).toBe(404);
  });

  it('names a version by the time, one past the newest when the clock is behind it', () => {
    const at = new Date('2026-11-23T16:30:05.900Z');
    expect(nextVersion(at, null)).toBe('20261123163005');
    expect(nextVersion(at, '20261123163004')).toBe('20261123163005');
    expect(nextVersion(at, '20261123163005')).toBe('20261123163006');
    expect(nextVersion(at, '20991231000000')).toBe('20991231000001');
    expect(nextVersion(at, 'not-a-number')).toBe('20261123163005');
  });
});
