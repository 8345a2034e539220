import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The ninth PostgREST 12.2 sweep. Answers from PostgREST v12.2's source (named per test) and from
// Postgres itself.

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE s9_parents (id int PRIMARY KEY, name text);
    CREATE TABLE s9_kids (id int PRIMARY KEY, parent_id int REFERENCES s9_parents(id), name text, n int);
    CREATE TABLE s9_tags (id int PRIMARY KEY, label text);
    CREATE TABLE s9_kid_tags (kid_id int REFERENCES s9_kids(id), tag_id int REFERENCES s9_tags(id),
      PRIMARY KEY (kid_id, tag_id));
    INSERT INTO s9_parents VALUES (1, 'p1'), (2, 'p2');
    INSERT INTO s9_kids VALUES (1, 1, 'k1', 1), (2, 1, 'k2', 2), (3, 2, 'k3', 3);
    INSERT INTO s9_tags VALUES (1, 't1'), (2, 't2');
    INSERT INTO s9_kid_tags VALUES (1, 1), (1, 2), (2, 2);
    CREATE FUNCTION s9_kids_of(p int) RETURNS SETOF s9_kids LANGUAGE sql STABLE AS
      $$ SELECT * FROM s9_kids WHERE parent_id = p $$;
    CREATE FUNCTION s9_doc() RETURNS json LANGUAGE sql STABLE AS
      $$ SELECT '{"a":null,"b":{"c":null,"d":1},"e":[null,{"f":null}]}'::json $$;
    CREATE FUNCTION s9_docs() RETURNS SETOF jsonb LANGUAGE sql STABLE AS
      $$ VALUES ('{"a":null,"b":1}'::jsonb), ('null'::jsonb), (NULL) $$;
    CREATE FUNCTION s9_var(VARIADIC v int[]) RETURNS int[] LANGUAGE sql IMMUTABLE AS $$ SELECT v $$;
    CREATE FUNCTION s9_arr(a int[]) RETURNS int[] LANGUAGE sql IMMUTABLE AS $$ SELECT a $$;`);
  t = testEngine({ aggregatesEnabled: true });
});
afterAll(() => t.close());

const body = (r: { status: number; json: unknown }) => [r.status, r.json];
const grouping = (column: string) => ({
  code: '42803',
  message: `column "${column}" must appear in the GROUP BY clause or be used in an aggregate function`,
  details: null,
  hint: null,
});

describe("Postgres's messages name relations as PostgREST's query does", () => {
  // QueryBuilder.hs readPlanToQuery/fromF: the table unaliased, a function's rows `pgrst_source AS
  // "<function>"`, an embedded table `<table>_<depth>` (Plan.hs addRels), a many-to-many target unaliased.
  it('a grouping error (42803) names the table, not our alias', async () => {
    expect(body(await t.call('GET', '/s9_kids?select=n.sum()&order=id'))).toEqual([
      400,
      grouping('s9_kids.id'),
    ]);
    expect(body(await t.call('GET', '/rpc/s9_kids_of?p=1&select=n.sum()&order=id'))).toEqual([
      400,
      grouping('s9_kids_of.id'),
    ]);
  });

  it('in an embed it names `<table>_<depth>`, a many-to-many target by its own name', async () => {
    expect(body(await t.call('GET', '/s9_parents?select=name,s9_kids(n.sum())&s9_kids.order=id'))).toEqual([
      400,
      grouping('s9_kids_1.id'),
    ]);
    expect(
      body(
        await t.call(
          'GET',
          '/s9_parents?select=id,s9_kids(id,s9_tags(label.max()))&s9_kids.s9_tags.order=id',
        ),
      ),
    ).toEqual([400, grouping('s9_tags.id')]);
  });

  it('an unknown column of a many-to-many target (42703) is `<table>.<column>`', async () => {
    expect(body(await t.call('GET', '/s9_kids?select=id,s9_tags(nope)'))).toEqual([
      400,
      { code: '42703', message: 'column s9_tags.nope does not exist', details: null, hint: null },
    ]);
    // A one-to-many target keeps its depth.
    const oneToMany = await t.call('GET', '/s9_parents?select=id,s9_kids(nope)');
    expect((oneToMany.json as { message: string }).message).toBe('column s9_kids_1.nope does not exist');
  });
});

describe('nulls=stripped on a function returning JSON values', () => {
  // SqlFragment.hs asJsonF/asJsonSingleF: json_strip_nulls over the aggregated scalars too.
  const stripped = { accept: 'application/vnd.pgrst.array+json;nulls=stripped' };

  it("strips a scalar's null fields at every depth (array elements stay)", async () => {
    expect(body(await t.call('GET', '/rpc/s9_doc', { headers: stripped }))).toEqual([
      200,
      { b: { d: 1 }, e: [null, {}] },
    ]);
    const object = await t.call('GET', '/rpc/s9_doc', {
      headers: { accept: 'application/vnd.pgrst.object+json;nulls=stripped' },
    });
    expect(object.json).toEqual({ b: { d: 1 }, e: [null, {}] });
    // Without it, the nulls are kept.
    expect((await t.call('GET', '/rpc/s9_doc')).json).toEqual({
      a: null,
      b: { c: null, d: 1 },
      e: [null, { f: null }],
    });
  });

  it("strips each value's of a SETOF, keeping null values", async () => {
    expect(body(await t.call('GET', '/rpc/s9_docs', { headers: stripped }))).toEqual([
      200,
      [{ b: 1 }, null, null],
    ]);
  });
});

describe('a related order reads the column the embed shows', () => {
  // QueryBuilder.hs pgFmtOrderTerm: `order=rel(col)` is `"<table>_<rel>_<depth>"."col"`, a column of
  // the embed's lateral join, which selects what the embed's select names (Plan.hs addRelatedOrders).
  it('orders by an aliased column by its alias; a column the embed leaves out is 42703', async () => {
    const aliased = await t.call('GET', '/s9_kids?select=id,s9_parents(n:name)&order=s9_parents(n).desc,id');
    expect(body(aliased)).toEqual([
      200,
      [
        { id: 3, s9_parents: { n: 'p2' } },
        { id: 1, s9_parents: { n: 'p1' } },
        { id: 2, s9_parents: { n: 'p1' } },
      ],
    ]);
    expect(body(await t.call('GET', '/s9_kids?select=id,s9_parents(id)&order=s9_parents(name)'))).toEqual([
      400,
      {
        code: '42703',
        message: 'column s9_kids_s9_parents_1.name does not exist',
        details: null,
        hint: null,
      },
    ]);
    // Postgres's hint looks at the join by its name, as in PostgREST's query (not at `s9_kids`).
    expect(body(await t.call('GET', '/s9_kids?select=id,s9_parents(name)&order=s9_parents(nam)'))).toEqual([
      400,
      {
        code: '42703',
        message: 'column s9_kids_s9_parents_1.nam does not exist',
        details: null,
        hint: 'Perhaps you meant to reference the column "s9_kids_s9_parents_1.name".',
      },
    ]);
  });

  it("answers a column the embed lacks as Postgres answers PostgREST's own query", async () => {
    // QueryBuilder.hs readPlanToQuery/getJoin for `/s9_kids?select=id,s9_parents(name)&order=s9_parents(nope)`.
    const postgrest = `SELECT "public"."s9_kids"."id", row_to_json("s9_kids_s9_parents_1".*)::jsonb AS "s9_parents"
      FROM "public"."s9_kids" LEFT JOIN LATERAL (SELECT "s9_parents_1"."name" FROM "public"."s9_parents" AS "s9_parents_1"
      WHERE "s9_parents_1"."id" = "public"."s9_kids"."parent_id") AS "s9_kids_s9_parents_1" ON TRUE
      ORDER BY "s9_kids_s9_parents_1"."nope"`;
    const expected = await ownerQuery(postgrest).then(
      () => undefined,
      (e: { code: string; message: string; hint?: string }) => ({
        code: e.code,
        message: e.message,
        hint: e.hint,
      }),
    );
    expect(expected).toEqual({
      code: '42703',
      message: 'column s9_kids_s9_parents_1.nope does not exist',
      hint: 'Perhaps you meant to reference the column "s9_kids_s9_parents_1.name".',
    });
    const ours = await t.call('GET', '/s9_kids?select=id,s9_parents(name)&order=s9_parents(nope)');
    expect(body(ours)).toEqual([400, { ...expected, details: null }]);
  });

  it("orders aggregates by a spread's grouped column (AggregateFunctionsSpec)", async () => {
    const r = await t.call('GET', '/s9_kids?select=n.sum(),...s9_parents(name)&order=s9_parents(name).desc');
    expect(body(r)).toEqual([
      200,
      [
        { sum: 3, name: 'p2' },
        { sum: 3, name: 'p1' },
      ],
    ]);
  });
});

describe("a variadic argument of a JSON or CSV body is the key's value as it is", () => {
  // CallPlan.hs jsonRpcParams makes lists of a query's or form's values only; a body's arguments
  // are read by json_to_record (QueryBuilder.hs callPlanToQuery), VARIADIC passing the array.
  const json = { 'content-type': 'application/json' };
  const expectedArray = (key: string) => ({
    code: '22P02',
    message: 'expected JSON array',
    details: null,
    hint: `See the value of key "${key}".`,
  });

  it('an array literal string is the array, a number 22P02 (as for any array argument); lists fill it', async () => {
    expect(body(await t.call('POST', '/rpc/s9_var', { headers: json, body: { v: '{1,2}' } }))).toEqual([
      200,
      [1, 2],
    ]);
    expect(body(await t.call('POST', '/rpc/s9_var', { headers: json, body: { v: 1 } }))).toEqual([
      400,
      expectedArray('v'),
    ]);
    expect(body(await t.call('POST', '/rpc/s9_arr', { headers: json, body: { a: 1 } }))).toEqual([
      400,
      expectedArray('a'),
    ]);
    const csv = await t.call('POST', '/rpc/s9_var', {
      headers: { 'content-type': 'text/csv' },
      body: 'v\n"{3,4}"',
    });
    expect(body(csv)).toEqual([200, [3, 4]]);
    // A JSON array, and a query's or form's values, still fill it.
    expect((await t.call('POST', '/rpc/s9_var', { headers: json, body: { v: [5, 6] } })).json).toEqual([
      5, 6,
    ]);
    expect((await t.call('GET', '/rpc/s9_var?v=7&v=8')).json).toEqual([7, 8]);
    expect((await t.call('GET', '/rpc/s9_var?v=9')).json).toEqual([9]);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await t.call('POST', '/rpc/s9_var', { headers: form, body: 'v=1&v=2' })).json).toEqual([1, 2]);
  });
});

describe('an embed of only empty embeds is left out', () => {
  // Plan.hs generateRelSelectField (12.2.2, #3093): rsEmptyEmbed when the embed selects no column and
  // its embeds are empty too; it still filters (QuerySpec "empty embed").
  it('at any depth, to-one and to-many, while !inner still filters', async () => {
    expect(body(await t.call('GET', '/s9_parents?select=id,s9_kids(s9_tags())&order=id'))).toEqual([
      200,
      [{ id: 1 }, { id: 2 }],
    ]);
    expect(
      body(await t.call('GET', '/s9_kids?select=id,s9_parents(s9_kids(s9_tags()))&order=id&limit=1')),
    ).toEqual([200, [{ id: 1 }]]);
    const inner = await t.call(
      'GET',
      '/s9_parents?select=*,s9_kids!inner(s9_tags!inner())&s9_kids.s9_tags.label=eq.t1&order=id',
    );
    expect(body(inner)).toEqual([200, [{ id: 1, name: 'p1' }]]);
    // A column beside an empty embed keeps the embed.
    const shown = await t.call('GET', '/s9_parents?select=id,s9_kids(name,s9_tags())&id=eq.2');
    expect(shown.json).toEqual([{ id: 2, s9_kids: [{ name: 'k3' }] }]);
  });
});
