import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The eleventh PostgREST 12.2 sweep: write bodies. Answers from PostgREST v12.2's source (named per
// test) and from Postgres itself, running the SQL PostgREST's QueryBuilder.hs writes for the request.

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE s11_t (id int PRIMARY KEY, name text DEFAULT 'dflt', n int);
    CREATE TABLE s11_d (id int DEFAULT 1 PRIMARY KEY, v text DEFAULT 'new');
    INSERT INTO s11_d VALUES (1, 'old');`);
  t = testEngine();
});
afterAll(() => t.close());

const body = (r: { status: number; json: unknown }) => [r.status, r.json];
const reset = () => ownerQuery(`TRUNCATE s11_t; INSERT INTO s11_t VALUES (1, 'a', 1), (2, 'b', 2);`);
const rows = () => ownerQuery('SELECT * FROM s11_t ORDER BY id');
const JSON_REP = { prefer: 'return=representation' };
const error = (code: string, message: string, details: string | null = null) => [
  400,
  { code, message, details, hint: null },
];

describe('a PATCH with columns= and an empty list (QueryBuilder.hs: UPDATE … FROM json_to_recordset)', () => {
  it('changes no row, missing=default or not', async () => {
    await reset();
    for (const prefer of ['return=representation', 'return=representation, missing=default']) {
      const r = await t.call('PATCH', '/s11_t?id=eq.1&columns=name', { headers: { prefer }, body: [] });
      expect([r.status, r.json, r.headers['content-range']]).toEqual([200, [], '*/*']);
    }
    expect(await rows()).toEqual([
      { id: 1, name: 'a', n: 1 },
      { id: 2, name: 'b', n: 2 },
    ]);
  });

  it('a limited one sets NULL, its values being a subquery of no row (no default either)', async () => {
    await reset();
    const r = await t.call('PATCH', '/s11_t?columns=name&order=id&limit=1', {
      headers: { prefer: 'return=representation, missing=default' },
      body: [],
    });
    expect(body(r)).toEqual([200, [{ id: 1, name: null, n: 1 }]]);
  });
});

describe('with columns= the JSON body goes to Postgres unread (ApiRequest.hs getPayload: RawJSON)', () => {
  it('so a scalar, a list of non-objects and malformed JSON are Postgres errors, not PGRST102', async () => {
    await reset();
    const post = (text: string, prefer = 'return=representation') =>
      t.call('POST', '/s11_t?columns=id,name', { headers: { prefer }, body: text }).then(body);
    const patch = (text: string, query = '') =>
      t.call('PATCH', `/s11_t?id=eq.1&columns=name${query}`, { headers: JSON_REP, body: text }).then(body);
    const scalar = error('22023', 'cannot call json_to_recordset on a scalar');
    const notObjects = error('22023', 'argument of json_to_recordset must be an array of objects');
    const ended = error(
      '22P02',
      'invalid input syntax for type json',
      'The input string ended unexpectedly.',
    );
    expect(await post('5')).toEqual(scalar);
    expect(await post('null')).toEqual(scalar);
    expect(await post('[{"id":3},4]')).toEqual(notObjects);
    expect(await post('{')).toEqual(ended);
    expect(await post('')).toEqual(ended);
    expect(await post('{"id":3}}')).toEqual(
      error('22P02', 'invalid input syntax for type json', 'Expected end of input, but found "}".'),
    );
    // missing=default reads it with jsonb_array_elements first (SqlFragment.hs fromJsonBodyF).
    expect(await post('5', 'return=representation, missing=default')).toEqual(
      error('22023', 'cannot extract elements from a scalar'),
    );
    expect(await patch('5')).toEqual(scalar);
    expect(await patch('[{"name":"x"},2]')).toEqual(notObjects);
    expect(await patch('5', '&order=id&limit=1')).toEqual(scalar);
    expect(await patch('nope')).toEqual(
      error('22P02', 'invalid input syntax for type json', 'Token "nope" is invalid.'),
    );
    expect(await rows()).toHaveLength(2);
    // Without columns= PostgREST reads the body itself, as before.
    expect(body(await t.call('POST', '/s11_t', { headers: JSON_REP, body: '{' }))).toEqual(
      error('PGRST102', 'Empty or invalid json'),
    );
    expect(body(await t.call('POST', '/s11_t', { headers: JSON_REP, body: '5' }))).toEqual([201, []]);
  });
});

describe('an upsert of rows without columns (QueryBuilder.hs: ON CONFLICT … DO NOTHING when iCols is empty)', () => {
  it('leaves a row whose default key exists alone, and counts each row sent as inserted', async () => {
    const upsert = (resolution: string, payload: unknown, ret = 'representation') =>
      t.call('POST', '/s11_d', {
        headers: { prefer: `return=${ret}, resolution=${resolution}` },
        body: payload,
      });
    // merge-duplicates: pgrst.inserted is raised for each row proposed, never lowered (no DO UPDATE).
    expect(body(await upsert('merge-duplicates', {}))).toEqual([201, []]);
    expect((await upsert('merge-duplicates', [{}, {}], 'minimal')).status).toBe(201);
    expect(body(await upsert('ignore-duplicates', [{}]))).toEqual([201, []]);
    // No row at all is still 200 (UpsertSpec "succeeds when the payload has no elements").
    expect(body(await upsert('merge-duplicates', []))).toEqual([200, []]);
    expect(await ownerQuery('SELECT * FROM s11_d')).toEqual([{ id: 1, v: 'old' }]);
    await ownerQuery('DELETE FROM s11_d');
    expect(body(await upsert('merge-duplicates', {}))).toEqual([201, [{ id: 1, v: 'new' }]]);
  });
});

describe('a form body read whole as http-types parseSimpleQuery reads it', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' };

  it('keeps trailing spaces and newlines, drops one leading ?, and splits on ; too', async () => {
    await reset();
    const r = await t.call('POST', '/s11_t', { headers: form, body: '?id=3&n=4;name=x%0A \n' });
    expect(body(r)).toEqual([201, [{ id: 3, name: 'x\n \n', n: 4 }]]);
    // A separator at the end is no empty key.
    const ok = await t.call('POST', '/s11_t', { headers: form, body: 'id=4&name=y&' });
    expect(body(ok)).toEqual([201, [{ id: 4, name: 'y', n: null }]]);
  });

  it('reads an empty piece as the empty key: PGRST204 for the column named ""', async () => {
    const r = await t.call('POST', '/s11_t', { headers: form, body: 'id=5&&name=y' });
    expect(body(r)).toEqual(error('PGRST204', "Could not find the '' column of 's11_t' in the schema cache"));
  });
});

describe('columns= names the columns of a JSON body only (ApiRequest.hs getPayload: ProcessedJSON keys)', () => {
  it('a CSV or form body writes its own keys, an unknown one PGRST204, on POST and PATCH', async () => {
    await reset();
    const csv = { 'content-type': 'text/csv', prefer: 'return=representation' };
    const form = { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' };
    expect(body(await t.call('POST', '/s11_t?columns=id', { headers: csv, body: 'id,n\n3,30' }))).toEqual([
      201,
      [{ id: 3, name: 'dflt', n: 30 }],
    ]);
    expect(body(await t.call('POST', '/s11_t?columns=id', { headers: csv, body: 'id,nope\n4,1' }))).toEqual(
      error('PGRST204', "Could not find the 'nope' column of 's11_t' in the schema cache"),
    );
    expect(body(await t.call('POST', '/s11_t?columns=id', { headers: form, body: 'id=4&n=40' }))).toEqual([
      201,
      [{ id: 4, name: 'dflt', n: 40 }],
    ]);
    const patched = await t.call('PATCH', '/s11_t?id=eq.1&columns=name', {
      headers: form,
      body: 'name=z&n=9',
    });
    expect(body(patched)).toEqual([200, [{ id: 1, name: 'z', n: 9 }]]);
    const csvPatch = await t.call('PATCH', '/s11_t?id=eq.2&columns=name', {
      headers: csv,
      body: 'name,n\ny,8',
    });
    expect(body(csvPatch)).toEqual([200, [{ id: 2, name: 'y', n: 8 }]]);
  });
});

describe('POST /rpc with columns= reads the arguments from the body unread too (CallPlan.hs, fromJsonBodyF)', () => {
  beforeAll(() =>
    ownerQuery(
      `CREATE FUNCTION s11_add(a int, b int DEFAULT 100) RETURNS int LANGUAGE sql AS $$ SELECT a + b $$`,
    ),
  );

  it('a scalar, a list of non-objects, malformed or no JSON are Postgres errors; rows still work', async () => {
    const call = (text: string) =>
      t.call('POST', '/rpc/s11_add?columns=a', {
        headers: { 'content-type': 'application/json' },
        body: text,
      });
    expect(body(await call('5'))).toEqual(error('22023', 'cannot call json_to_recordset on a scalar'));
    expect(body(await call('[1]'))).toEqual(
      error('22023', 'argument of json_to_recordset must be an array of objects'),
    );
    const ended = error(
      '22P02',
      'invalid input syntax for type json',
      'The input string ended unexpectedly.',
    );
    expect(body(await call('{'))).toEqual(ended);
    expect(body(await call(''))).toEqual(ended);
    expect(body(await call('{"a":1,"b":2}'))).toEqual([200, 101]);
    expect(body(await call('[{"a":2}]'))).toEqual([200, 102]);
  });
});

describe("Accept's media type parameters as MediaType.hs tokenizeMediaType reads them", () => {
  it('a quoted nulls="stripped" strips; reading stops at a parameter that is none', async () => {
    await ownerQuery(`TRUNCATE s11_t; INSERT INTO s11_t VALUES (1, NULL, 1)`);
    const read = (accept: string) =>
      t
        .call('GET', '/s11_t?id=eq.1', { headers: { accept } })
        .then((r) => [r.headers['content-type'], r.json]);
    expect(await read('application/vnd.pgrst.object+json;nulls="stripped"')).toEqual([
      'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8',
      { id: 1, n: 1 },
    ]);
    expect(await read('application/vnd.pgrst.array+json; NULLS="stripped"')).toEqual([
      'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8',
      [{ id: 1, n: 1 }],
    ]);
    expect(await read('application/vnd.pgrst.array+json;x=!;nulls=stripped')).toEqual([
      'application/json; charset=utf-8',
      [{ id: 1, name: null, n: 1 }],
    ]);
    expect(await read('application/vnd.pgrst.array+json;nulls=stripped;nulls=no')).toEqual([
      'application/json; charset=utf-8',
      [{ id: 1, name: null, n: 1 }],
    ]);
  });
});

describe("missing=default on a view (SchemaCache.hs: a column's default is read from the view's own pg_attrdef)", () => {
  it("takes the view's own default, never its base column's: NULL is written", async () => {
    await ownerQuery(`
      CREATE TABLE s11_base (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text DEFAULT 'base', tag text DEFAULT 'base');
      CREATE VIEW s11_view AS SELECT * FROM s11_base;
      ALTER VIEW s11_view ALTER COLUMN tag SET DEFAULT 'view';`);
    const post = (columns: string) =>
      t.call('POST', `/s11_view?columns=${columns}`, {
        headers: { prefer: 'return=representation, missing=default' },
        body: [{}],
      });
    expect(body(await post('name,tag'))).toEqual([201, [{ id: 1, name: null, tag: 'view' }]]);
    // Left out of columns= the base default applies, as Postgres fills the column itself.
    expect(body(await post('tag'))).toEqual([201, [{ id: 2, name: 'base', tag: 'view' }]]);
    const r = await post('id');
    expect([r.status, (r.json as { code: string }).code]).toEqual([400, '23502']);
  });
});
