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
