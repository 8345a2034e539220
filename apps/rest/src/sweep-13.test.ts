import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The thirteenth PostgREST 12.2 sweep. Answers from PostgREST v12.2's source (named per test) and
// from Postgres itself, running the SQL PostgREST's QueryBuilder.hs writes for the request.

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE SEQUENCE s13_n;
    GRANT USAGE ON SEQUENCE s13_n TO anon, authenticated, service_role;
    CREATE TABLE s13_patch (id int PRIMARY KEY, n int DEFAULT nextval('s13_n'), name text, tag text DEFAULT 'd');
    INSERT INTO s13_patch VALUES (1, 100, 'a', 't'), (2, 200, 'b', 't'), (3, 300, 'c', 't');`);
  t = testEngine();
});
afterAll(() => t.close());

const body = (r: { status: number; json: unknown }) => [r.status, r.json];
const nextN = async () => Number((await ownerQuery(`SELECT nextval('s13_n') AS n`))[0].n);

describe('PATCH under missing=default draws every written column’s default once (SqlFragment.hs fromJsonBodyF, includeDefaults)', () => {
  const prefer = 'return=representation, missing=default';

  it('a column the body omits gets one value for every row updated', async () => {
    const before = await nextN();
    const r = await t.call('PATCH', '/s13_patch?columns=name,n&id=in.(1,2,3)&select=id,n,name,tag&order=id', {
      headers: { prefer },
      body: { name: 'x' },
    });
    const n = before + 1;
    expect(body(r)).toEqual([
      200,
      [
        { id: 1, n, name: 'x', tag: 't' },
        { id: 2, n, name: 'x', tag: 't' },
        { id: 3, n, name: 'x', tag: 't' },
      ],
    ]);
    expect(await nextN()).toBe(n + 1);
  });

  it('a column the body gives still draws its default (defaults || body)', async () => {
    const before = await nextN();
    const r = await t.call('PATCH', '/s13_patch?id=eq.1&select=id,n', {
      headers: { prefer },
      body: { n: 7, name: 'y' },
    });
    expect(body(r)).toEqual([200, [{ id: 1, n: 7 }]]);
    expect(await nextN()).toBe(before + 2);
    const plain = await t.call('PATCH', '/s13_patch?id=eq.1&select=id,n', {
      headers: { prefer: 'return=representation' },
      body: { n: 8 },
    });
    expect(body(plain)).toEqual([200, [{ id: 1, n: 8 }]]);
    expect(await nextN()).toBe(before + 3);
  });

  it('a limited update draws them once too', async () => {
    const before = await nextN();
    const r = await t.call('PATCH', '/s13_patch?columns=n&id=gt.1&order=id&limit=2&select=id,n', {
      headers: { prefer },
      body: {},
    });
    expect(body(r)).toEqual([
      200,
      [
        { id: 2, n: before + 1 },
        { id: 3, n: before + 1 },
      ],
    ]);
  });
});
