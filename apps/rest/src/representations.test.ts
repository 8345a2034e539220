import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// PostgREST's domain representations (docs: Domain Representations; v12.2 SchemaCache.hs
// dataRepresentations, Plan.hs withTransformer, SqlFragment.hs; cases after test/spec QuerySpec,
// InsertSpec and UpdateSpec "Data representations"): implicit casts with a function make a domain's
// columns be written in JSON answers (domain AS json), read from JSON bodies (json AS domain) and
// from filter values (text AS domain).

const t: TestEngine = testEngine({ schemaCheckIntervalMs: 0 });
afterAll(() => t.close());

beforeAll(async () => {
  await ownerQuery(`
    DROP TABLE IF EXISTS rep_next, rep_todos CASCADE;
    DROP DOMAIN IF EXISTS "Rep ""color""", rep_isodate, rep_plain CASCADE;
    -- An integer shown as '#RRGGBB'; a name that needs quoting, and functions that need quoting too.
    CREATE DOMAIN "Rep ""color""" AS integer CHECK (VALUE >= 0 AND VALUE <= 16777215);
    CREATE FUNCTION public."Rep Color"(text) RETURNS "Rep ""color""" LANGUAGE sql IMMUTABLE AS
      $$ SELECT (('x' || lpad(ltrim($1, '#'), 8, '0'))::bit(32)::int)::"Rep ""color""" $$;
    CREATE FUNCTION public."Rep Color"(json) RETURNS "Rep ""color""" LANGUAGE sql IMMUTABLE AS
      $$ SELECT public."Rep Color"($1 #>> '{}') $$;
    CREATE FUNCTION public.json("Rep ""color""") RETURNS json LANGUAGE sql IMMUTABLE AS
      $$ SELECT CASE WHEN $1 IS NULL THEN to_json(''::text) ELSE to_json('#' || lpad(upper(to_hex($1)), 6, '0')) END $$;
    CREATE CAST ("Rep ""color""" AS json) WITH FUNCTION public.json("Rep ""color""") AS IMPLICIT;
    CREATE CAST (json AS "Rep ""color""") WITH FUNCTION public."Rep Color"(json) AS IMPLICIT;
    CREATE CAST (text AS "Rep ""color""") WITH FUNCTION public."Rep Color"(text) AS IMPLICIT;
    -- A timestamptz written with a Z, read from JSON with one; no text cast: filters read it natively.
    CREATE DOMAIN rep_isodate AS timestamptz;
    CREATE FUNCTION rep_isodate(json) RETURNS rep_isodate LANGUAGE sql IMMUTABLE AS
      $$ SELECT replace($1 #>> '{}', 'Z', '+00:00')::timestamptz::rep_isodate $$;
    CREATE FUNCTION json(rep_isodate) RETURNS json LANGUAGE sql IMMUTABLE AS
      $$ SELECT to_json(replace(to_json($1::timestamptz AT TIME ZONE 'UTC') #>> '{}', '+00:00', '') || 'Z') $$;
    CREATE CAST (rep_isodate AS json) WITH FUNCTION json(rep_isodate) AS IMPLICIT;
    CREATE CAST (json AS rep_isodate) WITH FUNCTION rep_isodate(json) AS IMPLICIT;
    -- Not IMPLICIT: PostgREST ignores it.
    CREATE DOMAIN rep_plain AS text;
    CREATE FUNCTION json(rep_plain) RETURNS json LANGUAGE sql IMMUTABLE AS $$ SELECT to_json(upper($1)) $$;
    CREATE CAST (rep_plain AS json) WITH FUNCTION json(rep_plain);
    CREATE TABLE rep_todos (id int PRIMARY KEY, name text, label_color "Rep ""color""" DEFAULT 0,
      due_at rep_isodate, note rep_plain);
    CREATE TABLE rep_next (id int PRIMARY KEY, item_id int REFERENCES rep_todos(id), name text);
    INSERT INTO rep_todos VALUES (1, 'Report', 0, '2018-01-02', 'a'), (2, 'Essay', 256, '2018-01-03 10:00+00', 'b'),
      (3, 'Algebra', 123456, NULL, NULL), (4, 'Opus', NULL, NULL, NULL);
    INSERT INTO rep_next VALUES (1, 2, 'first'), (2, 1, 'second');
  `);
});

const get = async (url: string) => {
  const res = await t.call('GET', url);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json;
};

describe('domain representations in answers', () => {
  it('formats selected, aliased, cast, starred and embedded columns; order and filters use the stored value', async () => {
    expect(await get('/rep_todos?select=id,label_color&id=lt.4&order=id')).toEqual([
      { id: 1, label_color: '#000000' },
      { id: 2, label_color: '#000100' },
      { id: 3, label_color: '#01E240' },
    ]);
    // The function sees NULL too (it answers '' for it); a non-implicit cast is not used.
    expect(await get('/rep_todos?select=id,clr:label_color,due_at,note&id=gt.2&order=id')).toEqual([
      { id: 3, clr: '#01E240', due_at: null, note: null },
      { id: 4, clr: '', due_at: null, note: null },
    ]);
    expect(await get('/rep_todos?select=clr:label_color::text&id=eq.2')).toEqual([{ clr: '"#000100"' }]);
    expect(await get('/rep_todos?id=eq.2')).toEqual([
      { id: 2, name: 'Essay', label_color: '#000100', due_at: '2018-01-03T10:00:00Z', note: 'b' },
    ]);
    expect(await get('/rep_todos?select=due_at,*&id=eq.1')).toEqual([
      { id: 1, name: 'Report', label_color: '#000000', due_at: '2018-01-02T00:00:00Z', note: 'a' },
    ]);
    expect(await get('/rep_next?select=id,item:rep_todos(label_color)&order=id')).toEqual([
      { id: 1, item: { label_color: '#000100' } },
      { id: 2, item: { label_color: '#000000' } },
    ]);
    // Ordered by the integer, not by its text: #01E240 (123456) after #000100 (256).
    expect(await get('/rep_todos?select=label_color&id=lt.4&order=label_color.desc')).toEqual([
      { label_color: '#01E240' },
      { label_color: '#000100' },
      { label_color: '#000000' },
    ]);
  });

  it('reads filter values with the text cast (eq, in, not.in, quantified, on embeds), not with the JSON one', async () => {
    expect(await get('/rep_todos?select=id&label_color=eq.000100')).toEqual([{ id: 2 }]);
    expect(await get('/rep_todos?select=id&label_color=gte.%23000100&order=id')).toEqual([
      { id: 2 },
      { id: 3 },
    ]);
    expect(await get('/rep_todos?select=id&label_color=in.(000100,01E240)&order=id')).toEqual([
      { id: 2 },
      { id: 3 },
    ]);
    expect(await get('/rep_todos?select=id&label_color=not.in.(000000,01E240)')).toEqual([{ id: 2 }]);
    expect(await get('/rep_todos?select=id&label_color=in.()')).toEqual([]);
    expect(await get('/rep_todos?select=id&label_color=eq(any).{000100,01E240}&order=id')).toEqual([
      { id: 2 },
      { id: 3 },
    ]);
    expect(await get('/rep_todos?select=id&or=(label_color.eq.01E240,id.eq.1)&order=id')).toEqual([
      { id: 1 },
      { id: 3 },
    ]);
    expect(
      await get('/rep_next?select=id,rep_todos(label_color)&rep_todos.label_color=neq.000100&order=id'),
    ).toEqual([
      { id: 1, rep_todos: null },
      { id: 2, rep_todos: { label_color: '#000000' } },
    ]);
    // No text cast for rep_isodate: the value is read as a timestamptz, so 'Z' alone is Postgres's 22007.
    const res = await t.call('GET', '/rep_todos?select=id&due_at=eq.Z');
    expect([res.status, (res.json as { code: string }).code]).toEqual([400, '22007']);
  });
});

describe('domain representations of function results', () => {
  it("format the rows of a function returning a table's rows, and read filters on them", async () => {
    await ownerQuery(`CREATE OR REPLACE FUNCTION rep_all() RETURNS SETOF rep_todos LANGUAGE sql STABLE AS
        $$ SELECT * FROM rep_todos WHERE id < 4 ORDER BY id $$;
      CREATE OR REPLACE FUNCTION rep_one_color() RETURNS "Rep ""color""" LANGUAGE sql STABLE AS $$ SELECT 256 $$;`);
    expect(await get('/rpc/rep_all?select=id,label_color&label_color=eq.01E240')).toEqual([
      { id: 3, label_color: '#01E240' },
    ]);
    expect(await get('/rpc/rep_all?select=*&id=eq.1')).toEqual([
      { id: 1, name: 'Report', label_color: '#000000', due_at: '2018-01-02T00:00:00Z', note: 'a' },
    ]);
    // A scalar result is no column of a table: as in PostgREST, shown as it is.
    expect(await get('/rpc/rep_one_color')).toBe(256);
  });
});

describe('domain representations in bodies', () => {
  it('reads inserted, upserted and updated values with the JSON cast and answers formatted', async () => {
    const created = await t.call('POST', '/rep_todos?select=id,label_color,due_at', {
      headers: { prefer: 'return=representation' },
      body: [
        { id: 10, name: 'party', label_color: '#001100', due_at: '2018-01-03T11:00:00Z' },
        { id: 11, name: 'nulls', label_color: null, due_at: null },
      ],
    });
    expect([created.status, created.json]).toEqual([
      201,
      [
        { id: 10, label_color: '#001100', due_at: '2018-01-03T11:00:00Z' },
        { id: 11, label_color: '', due_at: null },
      ],
    ]);
    expect(
      await ownerQuery('SELECT id, label_color, due_at FROM rep_todos WHERE id >= 10 ORDER BY id'),
    ).toEqual([
      { id: 10, label_color: 0x1100, due_at: new Date('2018-01-03T11:00:00Z') },
      { id: 11, label_color: null, due_at: null },
    ]);
    const patched = await t.call('PATCH', '/rep_todos?label_color=eq.001100&select=id,label_color', {
      headers: { prefer: 'return=representation' },
      body: { label_color: '#221100' },
    });
    expect([patched.status, patched.json]).toEqual([200, [{ id: 10, label_color: '#221100' }]]);
    const upserted = await t.call('POST', '/rep_todos?select=id,name,label_color', {
      headers: { prefer: 'return=representation,resolution=merge-duplicates' },
      body: [{ id: 10, name: 'again', label_color: '#000001' }],
    });
    expect([upserted.status, upserted.json]).toEqual([
      200,
      [{ id: 10, name: 'again', label_color: '#000001' }],
    ]);
    const put = await t.call('PUT', '/rep_todos?id=eq.11&select=id,label_color', {
      headers: { prefer: 'return=representation' },
      body: { id: 11, name: 'put', label_color: '#0000FF', due_at: null, note: null },
    });
    expect([put.status, put.json]).toEqual([200, [{ id: 11, label_color: '#0000FF' }]]);
    // ?columns: keys it does not name are not read at all.
    const columns = await t.call('POST', '/rep_todos?columns=id,label_color&select=id,name,label_color', {
      headers: { prefer: 'return=representation' },
      body: { id: 12, name: 'ignored', label_color: '#000002', due_at: 'not a date' },
    });
    expect([columns.status, columns.json]).toEqual([201, [{ id: 12, name: null, label_color: '#000002' }]]);
    const deleted = await t.call('DELETE', '/rep_todos?label_color=in.(000001,0000FF,000002)&select=id', {
      headers: { prefer: 'return=representation' },
    });
    expect(deleted.json).toEqual([{ id: 10 }, { id: 11 }, { id: 12 }]);
  });
});

describe('domain representations over time', () => {
  it('uses a cast created after the cache was loaded, and stops using a dropped one', async () => {
    await ownerQuery(`DROP TABLE IF EXISTS rep_later; DROP DOMAIN IF EXISTS rep_upper CASCADE;
      CREATE DOMAIN rep_upper AS text;
      CREATE TABLE rep_later (id int PRIMARY KEY, v rep_upper); INSERT INTO rep_later VALUES (1, 'abc');`);
    expect(await get('/rep_later?select=v')).toEqual([{ v: 'abc' }]);
    await ownerQuery(`CREATE FUNCTION rep_upper_json(rep_upper) RETURNS json LANGUAGE sql IMMUTABLE AS $$ SELECT to_json(upper($1)) $$;
      CREATE CAST (rep_upper AS json) WITH FUNCTION rep_upper_json(rep_upper) AS IMPLICIT;`);
    expect(await get('/rep_later?select=v')).toEqual([{ v: 'ABC' }]);
    expect(await get('/rep_later')).toEqual([{ id: 1, v: 'ABC' }]);
    await ownerQuery('DROP CAST (rep_upper AS json)');
    expect(await get('/rep_later')).toEqual([{ id: 1, v: 'abc' }]);
    // As PostgREST: only with a function the login role may execute.
    await ownerQuery(`REVOKE EXECUTE ON FUNCTION rep_upper_json(rep_upper) FROM PUBLIC;
      CREATE CAST (rep_upper AS json) WITH FUNCTION rep_upper_json(rep_upper) AS IMPLICIT;`);
    expect(await get('/rep_later')).toEqual([{ id: 1, v: 'abc' }]);
    await ownerQuery('GRANT EXECUTE ON FUNCTION rep_upper_json(rep_upper) TO PUBLIC');
    expect(await get('/rep_later')).toEqual([{ id: 1, v: 'ABC' }]);
  });
});
