import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// PostgREST 12.2 reads a write's JSON body with json_to_record(set) typed with the `columns` it
// writes (given by `?columns=`, else the body's keys), in code point order: keys naming other
// columns, or none, are never read (SqlFragment.hs fromJsonBodyF, Plan.hs mutatePlan).

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE wc_t (id int PRIMARY KEY, a int, b text, c date, d varchar(3) DEFAULT 'dd');`);
  t = testEngine({ txEnd: 'commit-allow-override' });
});
afterAll(() => t.close());

const row = async (id: number) =>
  (await adminQuery(`SELECT id, a, b, c::text, d FROM wc_t WHERE id = $1`, [id]))[0];
const error = (r: { status: number; json?: unknown }) => [r.status, (r.json as { code?: string })?.code];

describe('?columns= reads only the keys it names', () => {
  it('an insert ignores a bad value (or a key naming no column) outside columns=, one row or many', async () => {
    const one = await t.call('POST', '/wc_t?columns=id,a,b', {
      body: { id: 1, a: 1, b: 'x', c: 'not-a-date', d: 'too long', nope: { x: 1 } },
    });
    expect(one.status, one.body.toString()).toBe(201);
    expect(await row(1)).toEqual({ id: 1, a: 1, b: 'x', c: null, d: 'dd' });
    const bulk = await t.call('POST', '/wc_t?columns=id,a,b', {
      body: [
        { id: 2, a: 2, c: 'bad' },
        { id: 3, b: 'y', d: 'too long', nope: 1 },
      ],
    });
    expect(bulk.status, bulk.body.toString()).toBe(201);
    expect(await row(2)).toEqual({ id: 2, a: 2, b: null, c: null, d: 'dd' });
    expect(await row(3)).toEqual({ id: 3, a: null, b: 'y', c: null, d: 'dd' });
  });

  it('missing=default fills only the named columns the row omits, reading no other key', async () => {
    const r = await t.call('POST', '/wc_t?columns=id,b,d', {
      headers: { prefer: 'missing=default' },
      body: [
        { id: 4, c: 'bad', a: 'nan' },
        { id: 5, d: 'e', c: 'bad' },
      ],
    });
    expect(r.status, r.body.toString()).toBe(201);
    expect(await row(4)).toEqual({ id: 4, a: null, b: null, c: null, d: 'dd' });
    expect(await row(5)).toEqual({ id: 5, a: null, b: null, c: null, d: 'e' });
  });

  it('an upsert, merging or ignoring duplicates, reads only columns=', async () => {
    await t.call('POST', '/wc_t', { body: { id: 6, a: 6, b: 'six' } });
    const merged = await t.call('POST', '/wc_t?columns=id,b&on_conflict=id', {
      headers: { prefer: 'resolution=merge-duplicates' },
      body: [{ id: 6, b: 'merged', a: 'nan', c: 'bad' }],
    });
    expect(merged.status, merged.body.toString()).toBe(200);
    expect(await row(6)).toEqual({ id: 6, a: 6, b: 'merged', c: null, d: 'dd' });
    const ignored = await t.call('POST', '/wc_t?columns=id,b', {
      headers: { prefer: 'resolution=ignore-duplicates' },
      body: [
        { id: 6, b: 'ignored', c: 'bad' },
        { id: 7, b: 'seven', c: 'bad' },
      ],
    });
    expect(ignored.status, ignored.body.toString()).toBe(201);
    expect(await row(6)).toMatchObject({ b: 'merged' });
    expect(await row(7)).toEqual({ id: 7, a: null, b: 'seven', c: null, d: 'dd' });
  });

  it('a PATCH sets and reads only columns=', async () => {
    const r = await t.call('PATCH', '/wc_t?id=eq.1&columns=a', {
      body: { a: 10, b: 'not set', c: 'bad', nope: [] },
    });
    expect(r.status, r.body.toString()).toBe(204);
    expect(await row(1)).toEqual({ id: 1, a: 10, b: 'x', c: null, d: 'dd' });
    // A column of columns= the body lacks is set to NULL.
    const lacking = await t.call('PATCH', '/wc_t?id=eq.1&columns=a,b', { body: { c: 'bad' } });
    expect(lacking.status, lacking.body.toString()).toBe(204);
    expect(await row(1)).toEqual({ id: 1, a: null, b: null, c: null, d: 'dd' });
  });

  it('a named column still fails on a bad value, and an unknown one is PGRST204', async () => {
    const bad = await t.call('POST', '/wc_t?columns=id,c', { body: { id: 9, c: 'bad' } });
    expect(error(bad)).toEqual([400, '22007']);
    const unknown = await t.call('POST', '/wc_t?columns=id,zz,yy', { body: { id: 9 } });
    expect([unknown.status, unknown.json]).toEqual([
      400,
      {
        code: 'PGRST204',
        message: "Could not find the 'yy' column of 'wc_t' in the schema cache",
        details: null,
        hint: null,
      },
    ]);
    // Repeated names are one column.
    const twice = await t.call('POST', '/wc_t?columns=id,b,id', { body: { id: 9, b: 'nine' } });
    expect(twice.status, twice.body.toString()).toBe(201);
    expect(await row(9)).toMatchObject({ b: 'nine' });
  });
});

describe('without ?columns= the body keys are the columns', () => {
  it('a key naming no column is PGRST204, a bad value fails, the values read in name order', async () => {
    const none = await t.call('POST', '/wc_t', { body: { id: 20, nope: 1 } });
    expect([none.status, none.json]).toMatchObject([
      400,
      { code: 'PGRST204', message: "Could not find the 'nope' column of 'wc_t' in the schema cache" },
    ]);
    const patch = await t.call('PATCH', '/wc_t?id=eq.1', { body: { nope: 1 } });
    expect(error(patch)).toEqual([400, 'PGRST204']);
    const bad = await t.call('POST', '/wc_t', { body: { id: 20, c: 'not-a-date' } });
    expect([bad.status, bad.json]).toMatchObject([
      400,
      { code: '22007', message: 'invalid input syntax for type date: "not-a-date"' },
    ]);
    // `c` is read before `id`, as PostgREST's json_to_record lists them (not the table's order).
    const both = await t.call('POST', '/wc_t', { body: { id: 'x', c: 'bad' } });
    expect([both.status, both.json]).toMatchObject([
      400,
      { code: '22007', message: 'invalid input syntax for type date: "bad"' },
    ]);
    // A value too long for varchar(3) fails as the column's type does.
    const long = await t.call('POST', '/wc_t', { body: { id: 21, d: 'too long' } });
    expect(error(long)).toEqual([400, '22001']);
  });

  it('PUT ignores columns=: every key is a column', async () => {
    const r = await t.call('PUT', '/wc_t?id=eq.30&columns=id,a', { body: { id: 30, a: 1, b: 'put' } });
    expect(r.status, r.body.toString()).toBe(204);
    expect(await row(30)).toEqual({ id: 30, a: 1, b: 'put', c: null, d: 'dd' });
    const bad = await t.call('PUT', '/wc_t?id=eq.30&columns=id,a', { body: { id: 30, c: 'bad' } });
    expect(error(bad)).toEqual([400, '22007']);
  });
});
