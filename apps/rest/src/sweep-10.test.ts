import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The tenth PostgREST 12.2 sweep. Answers from PostgREST v12.2's source (named per test) and from
// Postgres itself, running the SQL PostgREST's QueryBuilder.hs writes for the same request.

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE s10_p (id int PRIMARY KEY, title text, name1 text, name2 text);
    CREATE TABLE s10_k (id int PRIMARY KEY, p_id int REFERENCES s10_p(id), label text);
    INSERT INTO s10_p VALUES (1, 'a', 'x', 'y');
    INSERT INTO s10_k VALUES (1, 1, 'k');
    CREATE FUNCTION s10_ks() RETURNS SETOF s10_k LANGUAGE sql STABLE AS $$ SELECT * FROM s10_k $$;
    CREATE TABLE s10_tg (id int PRIMARY KEY, label text);
    CREATE TABLE s10_tgx (k_id int REFERENCES s10_k(id), tg_id int REFERENCES s10_tg(id), PRIMARY KEY (k_id, tg_id));
    CREATE TABLE s10_w (id int PRIMARY KEY, g text, n int);
    INSERT INTO s10_w VALUES (1, 'a', 0), (2, 'a', 0), (3, 'b', 0);
    CREATE FUNCTION s10_bump() RETURNS int LANGUAGE sql AS $$ UPDATE s10_w SET n = n + 1 RETURNING 1 $$;
    CREATE FUNCTION s10_touch() RETURNS void LANGUAGE sql AS $$ UPDATE s10_w SET n = n + 1 $$;`);
  t = testEngine();
});
afterAll(() => t.close());

const body = (r: { status: number; json: unknown }) => [r.status, r.json];

/** What Postgres answers to PostgREST's own statement: the error's code, message and hint. */
const postgres = (sql: string) =>
  ownerQuery(sql).then(
    () => undefined,
    (e: { code: string; message: string; hint?: string }) => ({
      code: e.code,
      message: e.message,
      details: null,
      hint: e.hint ?? null,
    }),
  );

describe("a column the relation lacks is Postgres's 42703, with Postgres's hint", () => {
  // PostgREST 12.2 checks no column of a read (Plan.hs only resolves relationships): Postgres raises
  // the 42703 on QueryBuilder.hs's statement, where the root table is unaliased and its columns
  // qualified (`"public"."s10_p"."nam"`).
  it('in the select, a filter and the order of the root, with the one close column', async () => {
    const expected = await postgres(`SELECT "public"."s10_p"."titl" FROM "public"."s10_p"`);
    expect(expected).toEqual({
      code: '42703',
      message: 'column s10_p.titl does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "s10_p.title".',
    });
    expect(body(await t.call('GET', '/s10_p?select=titl'))).toEqual([400, expected]);
    expect(body(await t.call('GET', '/s10_p?titl=eq.a'))).toEqual([400, expected]);
    expect(body(await t.call('GET', '/s10_p?order=titl'))).toEqual([400, expected]);
  });

  it('names both columns when two are as close', async () => {
    const expected = await postgres(`SELECT "public"."s10_p"."name" FROM "public"."s10_p"`);
    expect(expected?.hint).toBe(
      'Perhaps you meant to reference the column "s10_p.name1" or the column "s10_p.name2".',
    );
    expect(body(await t.call('GET', '/s10_p?select=id&name=eq.x'))).toEqual([400, expected]);
  });

  it("in an embed, looking at the root table by PostgREST's names for both", async () => {
    // `s10_k_1` (Plan.hs addRels) is within 3 edits of `s10_p`, so Postgres suggests the root's
    // exact column; our old `pgrst_t1`/`pgrst_t0` were within 1.
    const expected = await postgres(
      `SELECT "public"."s10_p"."id", COALESCE("s10_p_s10_k_1"."s10_p_s10_k_1", '[]') AS "s10_k"
       FROM "public"."s10_p" LEFT JOIN LATERAL (SELECT json_agg("s10_p_s10_k_1")::jsonb AS "s10_p_s10_k_1"
       FROM (SELECT "s10_k_1"."title" FROM "public"."s10_k" AS "s10_k_1"
       WHERE "s10_k_1"."p_id" = "public"."s10_p"."id") AS "s10_p_s10_k_1") AS "s10_p_s10_k_1" ON TRUE`,
    );
    expect(expected).toEqual({
      code: '42703',
      message: 'column s10_k_1.title does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "s10_p.title".',
    });
    expect(body(await t.call('GET', '/s10_p?select=id,s10_k(title)'))).toEqual([400, expected]);
    expect(body(await t.call('GET', '/s10_p?select=id,s10_k(id)&s10_k.title=eq.a'))).toEqual([400, expected]);
  });

  it('in a many-to-many embed, whose junction PostgREST leaves unaliased (QueryBuilder.hs fromF)', async () => {
    const expected = await postgres(
      `SELECT "public"."s10_k"."id", COALESCE("s10_k_s10_tg_1"."s10_k_s10_tg_1", '[]') AS "s10_tg"
       FROM "public"."s10_k" LEFT JOIN LATERAL (SELECT json_agg("s10_k_s10_tg_1")::jsonb AS "s10_k_s10_tg_1"
       FROM (SELECT "s10_tg"."tg_i" FROM "public"."s10_tg", "public"."s10_tgx"
       WHERE "s10_tgx"."tg_id" = "s10_tg"."id" AND "s10_tgx"."k_id" = "public"."s10_k"."id") AS "s10_k_s10_tg_1")
       AS "s10_k_s10_tg_1" ON TRUE`,
    );
    expect(expected).toEqual({
      code: '42703',
      message: 'column s10_tg.tg_i does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "s10_tgx.tg_id".',
    });
    expect(body(await t.call('GET', '/s10_k?select=id,s10_tg(tg_i)'))).toEqual([400, expected]);
  });

  it('in the rows a write returns and on a function’s rows', async () => {
    // A write's rows are read `FROM "pgrst_source" AS "s10_k"`, a function's as `AS "s10_ks"`.
    const write = await postgres(
      `WITH pgrst_source AS (SELECT * FROM "public"."s10_k" WHERE false) SELECT "s10_k"."labl" FROM "pgrst_source" AS "s10_k"`,
    );
    expect(write?.hint).toBe('Perhaps you meant to reference the column "s10_k.label".');
    const posted = await t.call('POST', '/s10_k?select=labl', {
      body: { id: 2, p_id: 1, label: 'x' },
      headers: { prefer: 'return=representation' },
    });
    expect(body(posted)).toEqual([400, write]);
    // A call selects only the select's columns (QueryBuilder.hs callPlanToQuery, Plan.hs
    // inferColsEmbedNeeds), in sorted order: the 42703 is raised there.
    const call = await postgres(
      `WITH pgrst_source AS (SELECT "pgrst_call"."id", "pgrst_call"."labl", "pgrst_call"."lbl" FROM "public"."s10_ks"() pgrst_call)
       SELECT "s10_ks"."lbl", "s10_ks"."labl", "s10_ks"."id" FROM "pgrst_source" AS "s10_ks"`,
    );
    expect(call).toEqual({
      code: '42703',
      message: 'column pgrst_call.labl does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "pgrst_call.label".',
    });
    expect(body(await t.call('GET', '/rpc/s10_ks?select=lbl,labl,id'))).toEqual([400, call]);
    // Without a select list, the call's rows are all columns: a filter's column is the function's.
    const filter = await postgres(
      `WITH pgrst_source AS (SELECT * FROM "public"."s10_ks"() pgrst_call) SELECT * FROM "pgrst_source" AS "s10_ks" WHERE "s10_ks"."labl" = 'k'`,
    );
    expect(filter?.hint).toBe('Perhaps you meant to reference the column "s10_ks.label".');
    expect(body(await t.call('GET', '/rpc/s10_ks?labl=eq.k'))).toEqual([400, filter]);
  });

  it('in the filter of a PATCH or DELETE', async () => {
    const expected = await postgres(`DELETE FROM "public"."s10_k" WHERE "public"."s10_k"."labl" = 'x'`);
    expect(expected?.hint).toBe('Perhaps you meant to reference the column "s10_k.label".');
    expect(body(await t.call('DELETE', '/s10_k?labl=eq.x'))).toEqual([400, expected]);
    expect(body(await t.call('PATCH', '/s10_k?labl=eq.x', { body: { label: 'y' } }))).toEqual([
      400,
      expected,
    ]);
  });
});

describe('max-affected with handling=strict (Query.hs, PostgREST 12.2)', () => {
  const strict = (n: number, extra: Record<string, string> = {}) => ({
    headers: { prefer: `handling=strict, max-affected=${n}`, ...extra },
  });
  const counts = async () => (await ownerQuery('SELECT sum(n)::int AS s FROM s10_w'))[0].s as number;

  it("counts a function of one value (or none) as one row: PGRST128 is PostgREST 13's", async () => {
    // Statements.hs prepareCall: page_total is 1 when funcReturnsSingle; failExceedsMaxAffectedPref
    // compares it (12.2 has no PGRST128).
    const before = await counts();
    const one = await t.call('POST', '/rpc/s10_bump', strict(1));
    expect([one.status, one.json, one.headers['preference-applied']]).toEqual([
      200,
      1,
      'handling=strict, max-affected=1',
    ]);
    const exceeded = {
      code: 'PGRST124',
      message: 'Query result exceeds max-affected preference constraint',
      details: 'The query affects 1 rows',
      hint: null,
    };
    expect(body(await t.call('POST', '/rpc/s10_bump', strict(0)))).toEqual([400, exceeded]);
    expect(body(await t.call('POST', '/rpc/s10_touch', strict(0)))).toEqual([400, exceeded]);
    // Rolled back: only the first call's update stayed.
    expect(await counts()).toBe(before + 3);
    expect((await t.call('POST', '/rpc/s10_touch', strict(1))).status).toBe(204);
  });

  it('a singular answer is checked first, then max-affected, then a limit (failNotSingular, …)', async () => {
    const object = { accept: 'application/vnd.pgrst.object+json' };
    const singular = await t.call('PATCH', '/s10_w?g=eq.a', { ...strict(1, object), body: { n: 5 } });
    expect([singular.status, (singular.json as { code: string }).code]).toEqual([406, 'PGRST116']);
    const limited = await t.call('DELETE', '/s10_w?order=g&limit=1', strict(1));
    expect(body(limited)).toEqual([
      400,
      {
        code: 'PGRST124',
        message: 'Query result exceeds max-affected preference constraint',
        details: 'The query affects 2 rows',
        hint: null,
      },
    ]);
    const both = await t.call('DELETE', '/s10_w?order=g&limit=1', { headers: object });
    expect([both.status, (both.json as { code: string }).code]).toEqual([406, 'PGRST116']);
    expect((await ownerQuery('SELECT count(*)::int AS c FROM s10_w'))[0].c).toBe(3);
  });
});

describe("a write's RETURNING names the select's columns, as PostgREST's (Plan.hs inferColsEmbedNeeds)", () => {
  const representation = { prefer: 'return=representation' };

  it('so an unknown column is the first of them in sorted order, qualified by the table', async () => {
    const expected = await postgres(
      `INSERT INTO "public"."s10_k"("id") SELECT 9 WHERE false RETURNING "public"."s10_k"."id", "public"."s10_k"."labl", "public"."s10_k"."zz"`,
    );
    expect(expected).toEqual({
      code: '42703',
      message: 'column s10_k.labl does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "s10_k.label".',
    });
    const posted = await t.call('POST', '/s10_k?select=zz,labl', {
      body: { id: 9, p_id: 1, label: 'x' },
      headers: representation,
    });
    expect(body(posted)).toEqual([400, expected]);
    const patched = await t.call('PATCH', '/s10_k?id=eq.1&select=zz,labl', {
      body: { label: 'x' },
      headers: representation,
    });
    expect(body(patched)).toEqual([400, expected]);
  });

  it('so a system column comes back (RETURNING ctid)', async () => {
    const r = await t.call('PATCH', '/s10_k?id=eq.1&select=id,tableoid', {
      body: { label: 'k' },
      headers: representation,
    });
    const oid = (await ownerQuery("SELECT 's10_k'::regclass::oid::text AS o"))[0].o as string;
    // to_json writes an oid as a string.
    expect(body(r)).toEqual([200, [{ id: 1, tableoid: oid }]]);
  });
});

describe("pg-safeupdate refuses after Postgres's parse analysis (post_parse_analyze_hook)", () => {
  it("so a column the statement lacks is Postgres's 42703 first; else 21000, nothing changed", async () => {
    const representation = { prefer: 'return=representation' };
    const missing = await t.call('DELETE', '/s10_k?select=labl', { headers: representation });
    expect(body(missing)).toEqual([
      400,
      {
        code: '42703',
        message: 'column s10_k.labl does not exist',
        details: null,
        hint: 'Perhaps you meant to reference the column "s10_k.label".',
      },
    ]);
    const refused = { code: '21000', message: 'DELETE requires a WHERE clause', details: null, hint: null };
    expect(body(await t.call('DELETE', '/s10_k', { headers: representation }))).toEqual([400, refused]);
    expect(body(await t.call('PATCH', '/s10_k', { body: { label: 'z' } }))).toEqual([
      400,
      { ...refused, message: 'UPDATE requires a WHERE clause' },
    ]);
    expect(await ownerQuery("SELECT count(*)::int AS c FROM s10_k WHERE label = 'z'")).toEqual([{ c: 0 }]);
    expect((await ownerQuery('SELECT count(*)::int AS c FROM s10_k'))[0].c).toBeGreaterThan(0);
  });
});

describe('a Range header and limit/offset with no row in common (ApiRequest.hs getRanges)', () => {
  it('is a 416, unless the limit is 0', async () => {
    const invalid = [
      416,
      {
        code: 'PGRST103',
        message: 'Requested range not satisfiable',
        details: 'Limit should be greater than or equal to zero.',
        hint: null,
      },
    ];
    expect(body(await t.call('GET', '/s10_w?select=id&limit=1', { headers: { range: '1-2' } }))).toEqual(
      invalid,
    );
    expect(body(await t.call('GET', '/s10_w?select=id&offset=2', { headers: { range: '0-1' } }))).toEqual(
      invalid,
    );
    expect(body(await t.call('GET', '/rpc/s10_ks?select=id&limit=1', { headers: { range: '1-' } }))).toEqual(
      invalid,
    );
    // limit=0 is the one empty range allowed; rows in common are read.
    expect(body(await t.call('GET', '/s10_w?select=id&limit=0', { headers: { range: '1-2' } }))).toEqual([
      200,
      [],
    ]);
    expect(
      body(await t.call('GET', '/s10_w?select=id&order=id&offset=1', { headers: { range: '0-1' } })),
    ).toEqual([200, [{ id: 2 }]]);
  });
});
