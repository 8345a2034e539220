import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The twelfth PostgREST 12.2 sweep. Answers from PostgREST v12.2's source (named per test), from
// wai-extra's parseHttpAccept, which PostgREST's ApiRequest.hs reads Accept with, and from Postgres
// itself, running the SQL PostgREST's QueryBuilder.hs writes for the request.

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE s12_dir (id int PRIMARY KEY, last_name text, pgrst_ob int);
    CREATE TABLE s12_film (id int PRIMARY KEY, title text, dir_id int REFERENCES s12_dir);
    INSERT INTO s12_dir VALUES (5, 'name', 1), (6, NULL, NULL);
    INSERT INTO s12_film VALUES (1, 'title', 5), (2, 'other', 6), (3, 'none', NULL);
    CREATE TABLE s12_seq (id serial PRIMARY KEY, name text, n text);`);
  t = testEngine();
});
afterAll(() => t.close());

const body = (r: { status: number; json: unknown }) => [r.status, r.json];
/** The answer's text as parsed, keys in the order sent. */
const text = (r: { json: unknown }) => JSON.stringify(r.json);

describe('Accept q-values as wai-extra reads them (Haskell reads :: ReadS Double, 1 when none)', () => {
  const served = async (accept: string) =>
    (await t.call('GET', '/s12_film?select=id&id=eq.1', { headers: { accept } })).headers['content-type'];
  const CSV = 'text/csv; charset=utf-8';
  const JSON_TYPE = 'application/json; charset=utf-8';

  it('a negative q ranks below q=0.9, a hex or octal one is its integer', async () => {
    expect(await served('text/csv;q=-1, application/json;q=0.9')).toBe(JSON_TYPE);
    expect(await served('text/csv;q=0x1, application/json;q=0.9')).toBe(CSV);
    expect(await served('text/csv;q=0o7, application/json;q=6')).toBe(CSV);
  });

  it('Infinity ranks above 1; parentheses are read through', async () => {
    expect(await served('application/json, text/csv;q=Infinity')).toBe(CSV);
    expect(await served('text/csv;q=(0.5), application/json;q=0.9')).toBe(JSON_TYPE);
    expect(await served('text/csv;q=-(1), application/json;q=0.9')).toBe(CSV);
  });

  it('1e0 is 1, .5 and an empty q are no number (1), a number is read up to what follows it', async () => {
    expect(await served('application/json;q=0.9, text/csv;q=1e0')).toBe(CSV);
    expect(await served('application/json;q=0.9, text/csv;q=.5')).toBe(CSV);
    expect(await served('application/json;q=0.9, text/csv;q=')).toBe(CSV);
    expect(await served('application/json;q=0.9, text/csv;q=0.5x')).toBe(JSON_TYPE);
    expect(await served('application/json;q=0.9, text/csv;q=0.5;q=1')).toBe(JSON_TYPE);
  });
});

describe('embedded resources as PostgREST 12.2 selects them (QueryBuilder.hs getJoinSelects, getJoin)', () => {
  it('are jsonb (keys shortest first), after the columns of their level', async () => {
    const toOne = await t.call('GET', '/s12_film?select=s12_dir(last_name,id),title&id=eq.1');
    expect(text(toOne)).toBe('[{"title":"title","s12_dir":{"id":5,"last_name":"name"}}]');
    const toMany = await t.call('GET', '/s12_dir?select=s12_film(title,id),id&id=eq.5');
    expect(text(toMany)).toBe('[{"id":5,"s12_film":[{"id":1,"title":"title"}]}]');
    const spread = await t.call('GET', '/s12_film?select=...s12_dir(last_name,id),title&id=eq.1');
    expect(text(spread)).toBe('[{"title":"title","last_name":"name","id":5}]');
  });

  it("a to-one embed's join has only the embed's columns, as Postgres answers PostgREST's query", async () => {
    // PostgREST's SQL for /s12_film?select=title,s12_dir(last_name)&order=s12_dir(pgrst_obj).
    const postgrest = `SELECT "public"."s12_film"."title", row_to_json("s12_film_s12_dir_1".*)::jsonb AS "s12_dir"
      FROM "public"."s12_film" LEFT JOIN LATERAL (SELECT "s12_dir_1"."last_name", "s12_dir_1"."pgrst_ob"
      FROM "public"."s12_dir" AS "s12_dir_1" WHERE "s12_dir_1"."id" = "public"."s12_film"."dir_id")
      AS "s12_film_s12_dir_1" ON TRUE ORDER BY "s12_film_s12_dir_1"."pgrst_obj"`;
    const expected = await ownerQuery(postgrest).then(
      () => undefined,
      (e: { code: string; message: string; hint?: string }) => ({
        code: e.code,
        message: e.message,
        details: null,
        hint: e.hint ?? null,
      }),
    );
    expect(expected).toEqual({
      code: '42703',
      message: 'column s12_film_s12_dir_1.pgrst_obj does not exist',
      details: null,
      hint: 'Perhaps you meant to reference the column "s12_film_s12_dir_1.pgrst_ob".',
    });
    const r = await t.call(
      'GET',
      '/s12_film?select=title,s12_dir(last_name,pgrst_ob)&order=s12_dir(pgrst_obj)',
    );
    expect(body(r)).toEqual([400, expected]);
  });

  it('a to-one embed is null when no row is related, a row of nulls when one is (pgFmtFilter: IS DISTINCT FROM NULL)', async () => {
    const all = await t.call('GET', '/s12_film?select=id,s12_dir(last_name)&order=id');
    expect(body(all)).toEqual([
      200,
      [
        { id: 1, s12_dir: { last_name: 'name' } },
        { id: 2, s12_dir: { last_name: null } },
        { id: 3, s12_dir: null },
      ],
    ]);
    const related = await t.call(
      'GET',
      '/s12_film?select=id,s12_dir(last_name)&s12_dir=not.is.null&order=id',
    );
    expect(body(related)).toEqual([
      200,
      [
        { id: 1, s12_dir: { last_name: 'name' } },
        { id: 2, s12_dir: { last_name: null } },
      ],
    ]);
    const none = await t.call('GET', '/s12_film?select=id,s12_dir(last_name)&s12_dir=is.null');
    expect(body(none)).toEqual([200, [{ id: 3, s12_dir: null }]]);
    const ordered = await t.call(
      'GET',
      '/s12_film?select=id,s12_dir(last_name)&order=s12_dir(last_name).desc.nullslast,id',
    );
    expect((ordered.json as { id: number }[]).map((f) => f.id)).toEqual([1, 2, 3]);
  });
});

describe('missing=default reads the body as jsonb (SqlFragment.hs fromJsonBodyF with includeDefaults)', () => {
  const prefer = 'return=representation, missing=default';
  const reset = () => ownerQuery(`TRUNCATE s12_seq RESTART IDENTITY`);

  it('so a list of non-objects is jsonb_to_recordset’s error', async () => {
    const r = await t.call('POST', '/s12_seq?columns=id,name', { headers: { prefer }, body: [1] });
    expect(body(r)).toEqual([
      400,
      {
        code: '22023',
        message: 'argument of jsonb_to_recordset must be an array of objects',
        details: null,
        hint: null,
      },
    ]);
  });

  it('so numbers and objects reach a text column as jsonb prints them', async () => {
    await reset();
    const posted = await t.call('POST', '/s12_seq?select=n', {
      headers: { prefer },
      body: '[{"name":"a","n":1E2}, {"name":"b","n":{"b" :  1, "a": [1.50]}}]',
    });
    expect(body(posted)).toEqual([201, [{ n: '100' }, { n: '{"a": [1.50], "b": 1}' }]]);
    const plain = await t.call('POST', '/s12_seq?select=n', {
      headers: { prefer: 'return=representation' },
      body: '[{"name":"c","n":1E2}]',
    });
    expect(body(plain)).toEqual([201, [{ n: '1E2' }]]);
    const patched = await t.call('PATCH', '/s12_seq?id=eq.1&select=n', {
      headers: { prefer },
      body: '{"name":"x","n":2E1}',
    });
    expect(body(patched)).toEqual([200, [{ n: '20' }]]);
  });

  it('evaluates a default for every row, one that gives the column too (defaults || row)', async () => {
    await reset();
    const given = await t.call('POST', '/s12_seq?select=id', {
      headers: { prefer },
      body: [{ id: 10, name: 'x' }],
    });
    expect(body(given)).toEqual([201, [{ id: 10 }]]);
    const next = await t.call('POST', '/s12_seq?select=id', { headers: { prefer }, body: [{ name: 'y' }] });
    expect(body(next)).toEqual([201, [{ id: 2 }]]);
  });
});
