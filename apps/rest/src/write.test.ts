import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminQuery,
  bearer,
  ownerQuery,
  type TestEngine,
  testEngine,
  USER_C,
  USER_B,
} from './test/helpers.js';

let t: TestEngine;
const service = { prefer: 'return=representation' };

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE w_parents (id int PRIMARY KEY, name text NOT NULL);
    INSERT INTO w_parents VALUES (1, 'p1'), (2, 'p2');
    CREATE TABLE w_items (
      id serial PRIMARY KEY,
      name text NOT NULL UNIQUE,
      qty int NOT NULL DEFAULT 1,
      note text,
      parent_id int REFERENCES w_parents(id)
    );`);
  t = testEngine({ txEnd: 'commit-allow-override' });
});
afterAll(() => t.close());

const rows = (where = 'true') =>
  adminQuery(`SELECT name, qty, note, parent_id FROM w_items WHERE ${where} ORDER BY id`);

describe('writes', () => {
  it('inserts one row with return=minimal and many with return=representation', async () => {
    const one = await t.call('POST', '/w_items', { body: { name: 'a', qty: 2 } });
    expect(one.status).toBe(201);
    expect(one.body).toBe('');
    expect(one.headers['content-range']).toBe('*/*');
    expect(await rows("name = 'a'")).toEqual([{ name: 'a', qty: 2, note: null, parent_id: null }]);
    const bulk = await t.call('POST', '/w_items?select=name,qty,parent:w_parents(name)', {
      headers: service,
      body: [
        { name: 'b', qty: 3, parent_id: 1 },
        { name: 'c', qty: 4, parent_id: 2 },
      ],
    });
    expect(bulk.status, bulk.body.toString()).toBe(201);
    expect(bulk.headers['preference-applied']).toBe('return=representation');
    expect(bulk.json).toEqual([
      { name: 'b', qty: 3, parent: { name: 'p1' } },
      { name: 'c', qty: 4, parent: { name: 'p2' } },
    ]);
  });

  it('honours columns=, missing=default, headers-only and rejects mismatched keys', async () => {
    const cols = await t.call('POST', '/w_items?columns=name,note', {
      body: [{ name: 'd', note: 'x', qty: 99 }, { name: 'e' }],
    });
    expect(cols.status).toBe(201);
    expect(await rows("name IN ('d','e')")).toEqual([
      { name: 'd', qty: 1, note: 'x', parent_id: null },
      { name: 'e', qty: 1, note: null, parent_id: null },
    ]);
    const mismatch = await t.call('POST', '/w_items', { body: [{ name: 'f' }, { name: 'g', qty: 1 }] });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toMatchObject({ code: 'PGRST102', message: 'All object keys must match' });
    const missing = await t.call('POST', '/w_items?select=name,qty', {
      headers: { prefer: 'return=representation, missing=default' },
      body: [{ name: 'f', qty: 7 }, { name: 'g' }],
    });
    expect(missing.json).toEqual([
      { name: 'f', qty: 7 },
      { name: 'g', qty: 1 },
    ]);
    expect(missing.headers['preference-applied']).toBe('missing=default, return=representation');
    const headersOnly = await t.call('POST', '/w_items', {
      headers: { prefer: 'return=headers-only' },
      body: { name: 'h' },
    });
    const [{ id }] = (await adminQuery<{ id: number }>(`SELECT id FROM w_items WHERE name = 'h'`)) as [
      { id: number },
    ];
    expect(headersOnly.status).toBe(201);
    expect(headersOnly.headers.location).toBe(`/w_items?id=eq.${id}`);
    expect(headersOnly.body).toBe('');
  });

  it('writes arrays, jsonb, ranges and dates from JSON like PostgREST', async () => {
    await ownerQuery(
      `CREATE TABLE w_types (id int PRIMARY KEY, tags text[], nums int[], doc jsonb, span int4range, day date, at timestamptz, ok boolean)`,
    );
    const body = {
      id: 1,
      tags: ['a', 'b,c', 'd"e'],
      nums: [1, 2, 3],
      doc: { nested: { list: [1, 'two', null] } },
      span: '[1,5)',
      day: '2026-11-22',
      at: '2026-11-22T10:00:00Z',
      ok: true,
    };
    const r = await t.call('POST', '/w_types', { headers: service, body });
    expect(r.status).toBe(201);
    expect(r.json).toEqual([{ ...body, at: '2026-11-22T10:00:00+00:00' }]);
    const filtered = await t.call(
      'GET',
      '/w_types?select=id&tags=cs.{"b,c"}&doc->nested->list->>1=eq.two&span=cs.[2,3]&ok=is.true',
    );
    expect(filtered.json).toEqual([{ id: 1 }]);
  });

  it('maps payload and constraint errors', async () => {
    const unknown = await t.call('POST', '/w_items', { body: { name: 'z', nope: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({
      code: 'PGRST204',
      message: "Could not find the 'nope' column of 'w_items' in the schema cache",
      details: null,
      hint: null,
    });
    const invalid = await t.call('POST', '/w_items', { body: '{"name":' });
    expect(invalid.json).toMatchObject({ code: 'PGRST102', message: 'Empty or invalid json' });
    const duplicate = await t.call('POST', '/w_items', { body: { name: 'a' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.json).toMatchObject({ code: '23505', details: 'Key (name)=(a) already exists.' });
    const fk = await t.call('POST', '/w_items', { body: { name: 'fk', parent_id: 99 } });
    expect(fk.status).toBe(409);
    expect(fk.json).toMatchObject({ code: '23503' });
    const notNull = await t.call('POST', '/w_items', { body: { qty: 1 } });
    expect(notNull.status).toBe(400);
    expect(notNull.json).toMatchObject({ code: '23502' });
    const badType = await t.call('POST', '/w_items', { body: { name: 'bt', qty: 'many' } });
    expect(badType.status).toBe(400);
    expect(badType.json).toMatchObject({ code: '22P02' });
  });

  it('upserts with merge-duplicates and ignore-duplicates on a chosen conflict target', async () => {
    const merged = await t.call('POST', '/w_items?on_conflict=name&select=name,qty', {
      headers: { prefer: 'resolution=merge-duplicates,return=representation' },
      body: [
        { name: 'a', qty: 50 },
        { name: 'up', qty: 5 },
      ],
    });
    expect(merged.status).toBe(201);
    expect(merged.json).toEqual([
      { name: 'a', qty: 50 },
      { name: 'up', qty: 5 },
    ]);
    expect(merged.headers['preference-applied']).toBe('resolution=merge-duplicates, return=representation');
    const ignored = await t.call('POST', '/w_items?on_conflict=name', {
      headers: { prefer: 'resolution=ignore-duplicates' },
      body: { name: 'a', qty: 1 },
    });
    expect(ignored.status).toBe(201);
    expect(await rows("name = 'a'")).toMatchObject([{ qty: 50 }]);
    // Nothing inserted, only merged: 200 (as supabase-js upsert() of existing rows sees it).
    const onlyMerged = await t.call('POST', '/w_items?on_conflict=name&select=name,qty', {
      headers: { prefer: 'resolution=merge-duplicates,return=representation' },
      body: [{ name: 'a', qty: 51 }],
    });
    expect(onlyMerged.status).toBe(200);
    expect(onlyMerged.json).toEqual([{ name: 'a', qty: 51 }]);
    const onlyMergedMinimal = await t.call('POST', '/w_items?on_conflict=name', {
      headers: { prefer: 'resolution=merge-duplicates' },
      body: [
        { name: 'a', qty: 52 },
        { name: 'up', qty: 6 },
      ],
    });
    expect(onlyMergedMinimal.status).toBe(200);
    expect(await rows("name IN ('a', 'up')")).toMatchObject([{ qty: 52 }, { qty: 6 }]);
    const someInserted = await t.call('POST', '/w_items?on_conflict=name', {
      headers: { prefer: 'resolution=merge-duplicates' },
      body: [
        { name: 'a', qty: 53 },
        { name: 'up2', qty: 7 },
      ],
    });
    expect(someInserted.status).toBe(201);
    // A table without a primary key has no conflict target: the resolution is ignored.
    await ownerQuery('CREATE TABLE w_log (at text, what text)');
    const noKey = await t.call('POST', '/w_log', {
      headers: { prefer: 'resolution=merge-duplicates,return=representation' },
      body: [{ at: 'now', what: 'x' }],
    });
    expect(noKey.status).toBe(201);
    expect(noKey.json).toEqual([{ at: 'now', what: 'x' }]);
    expect(noKey.headers['preference-applied']).toBe('return=representation');
  });

  it('updates and deletes with filters, singular checks roll back', async () => {
    // A list takes its first row, an empty one changes nothing (PostgREST's LIMIT 1 body).
    const listed = await t.call('PATCH', '/w_items?name=eq.b', {
      headers: service,
      body: [{ note: 'first' }, { note: 'second' }],
    });
    expect(listed.json).toMatchObject([{ name: 'b', note: 'first' }]);
    const emptyList = await t.call('PATCH', '/w_items?name=eq.b', { body: [] });
    expect(emptyList.status).toBe(204);
    expect(await rows("name = 'b'")).toMatchObject([{ note: 'first' }]);
    const patched = await t.call('PATCH', '/w_items?name=in.(b,c)', {
      headers: { prefer: 'count=exact' },
      body: { note: 'patched' },
    });
    expect(patched.status).toBe(204);
    expect(patched.headers['content-range']).toBe('0-1/2');
    expect(await rows("note = 'patched'")).toHaveLength(2);
    const repr = await t.call('PATCH', '/w_items?name=eq.b&select=name,note', {
      headers: service,
      body: { note: 'again' },
    });
    expect(repr.status).toBe(200);
    expect(repr.json).toEqual([{ name: 'b', note: 'again' }]);
    const single = await t.call('PATCH', '/w_items?name=in.(b,c)', {
      headers: { accept: 'application/vnd.pgrst.object+json', prefer: 'return=representation' },
      body: { note: 'never' },
    });
    expect(single.status).toBe(406);
    expect(single.json).toMatchObject({ code: 'PGRST116', details: 'The result contains 2 rows' });
    expect(await rows("note = 'never'")).toEqual([]);
    const deleted = await t.call('DELETE', '/w_items?name=eq.c&select=name', { headers: service });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual([{ name: 'c' }]);
    expect(deleted.headers['content-range']).toBe('*/*');
    const gone = await t.call('DELETE', '/w_items?name=eq.c');
    expect(gone.status).toBe(204);
    expect(await rows("name = 'c'")).toEqual([]);
  });

  it('PUTs by primary key and validates the filters and payload', async () => {
    const created = await t.call('PUT', '/w_items?id=eq.1000', {
      headers: service,
      body: { id: 1000, name: 'put', qty: 1 },
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject([{ id: 1000, name: 'put', qty: 1 }]);
    const replacedRepr = await t.call('PUT', '/w_items?id=eq.1000', {
      headers: service,
      body: { id: 1000, name: 'put1', qty: 1 },
    });
    expect(replacedRepr.status).toBe(200);
    const replaced = await t.call('PUT', '/w_items?id=eq.1000', { body: { id: 1000, name: 'put2', qty: 2 } });
    expect(replaced.status).toBe(204);
    expect(await rows('id = 1000')).toMatchObject([{ name: 'put2', qty: 2 }]);
    const wrongFilter = await t.call('PUT', '/w_items?name=eq.x', { body: { id: 1, name: 'x' } });
    expect(wrongFilter.status).toBe(405);
    expect(wrongFilter.json).toMatchObject({ code: 'PGRST105' });
    const mismatch = await t.call('PUT', '/w_items?id=eq.1000', { body: { id: 1001, name: 'x' } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toMatchObject({ code: 'PGRST115' });
    // As PostgREST: an array puts its first element; limit/offset are refused as such.
    const array = await t.call('PUT', '/w_items?id=eq.1000', {
      body: [
        { id: 1000, name: 'put3', qty: 3 },
        { id: 1001, name: 'never', qty: 4 },
      ],
    });
    expect(array.status).toBe(204);
    expect(await rows('id IN (1000, 1001)')).toMatchObject([{ name: 'put3', qty: 3 }]);
    const limited = await t.call('PUT', '/w_items?id=eq.1000&limit=1', { body: { id: 1000, name: 'x' } });
    expect(limited.status).toBe(400);
    expect(limited.json).toMatchObject({
      code: 'PGRST114',
      message: 'limit/offset querystring parameters are not allowed for PUT',
    });
  });

  it('rolls back with Prefer: tx=rollback only when the server allows it', async () => {
    const r = await t.call('POST', '/w_items?select=name', {
      headers: { prefer: 'tx=rollback, return=representation' },
      body: { name: 'rolled' },
    });
    expect(r.status).toBe(201);
    expect(r.json).toEqual([{ name: 'rolled' }]);
    expect(r.headers['preference-applied']).toBe('return=representation, tx=rollback');
    expect(await rows("name = 'rolled'")).toEqual([]);
    const strict = testEngine();
    const committed = await strict.call('POST', '/w_items', {
      headers: { prefer: 'tx=rollback' },
      body: { name: 'kept' },
    });
    expect(committed.headers['preference-applied']).toBeUndefined();
    expect(await rows("name = 'kept'")).toHaveLength(1);
    // Ignored there, tx is still a known preference: handling=strict (supabase-js maxAffected())
    // does not refuse it, and missing=null is one too.
    const strictTx = await strict.call('PATCH', '/w_items?name=eq.kept', {
      headers: { prefer: 'tx=rollback, handling=strict, max-affected=1, missing=null' },
      body: { qty: 3 },
    });
    expect(strictTx.status).toBe(204);
    expect(strictTx.headers['preference-applied']).toBe('missing=null, handling=strict, max-affected=1');
    expect(await rows("name = 'kept'")).toMatchObject([{ qty: 3 }]);
    await strict.close();
  });

  it('returns a single object for singular inserts and refuses unknown preferences with handling=strict', async () => {
    const one = await t.call('POST', '/w_items?select=name,qty', {
      headers: { accept: 'application/vnd.pgrst.object+json', prefer: 'return=representation' },
      body: { name: 'single', qty: 9 },
    });
    expect(one.status).toBe(201);
    expect(one.headers['content-type']).toBe('application/vnd.pgrst.object+json; charset=utf-8');
    expect(one.json).toEqual({ name: 'single', qty: 9 });
    const two = await t.call('POST', '/w_items', {
      headers: { accept: 'application/vnd.pgrst.object+json', prefer: 'return=representation' },
      body: [{ name: 's1' }, { name: 's2' }],
    });
    expect(two.status).toBe(406);
    expect(await rows("name IN ('s1','s2')")).toEqual([]);
    const strict = await t.call('POST', '/w_items', {
      headers: { prefer: 'handling=strict, return=everything' },
      body: { name: 'strict' },
    });
    expect(strict.status).toBe(400);
    expect(strict.json).toMatchObject({
      code: 'PGRST122',
      details: 'Invalid preferences: return=everything',
    });
    const lenient = await t.call('POST', '/w_items', {
      headers: { prefer: 'return=everything' },
      body: { name: 'lenient' },
    });
    expect(lenient.status).toBe(201);
  });

  it('enforces RLS on writes: own rows only, anon refused', async () => {
    const a = await bearer('authenticated', USER_C);
    const mine = await t.call('POST', '/todos', { headers: a, body: { task: 'a3' } });
    expect(mine.status).toBe(201);
    const theirs = await t.call('POST', '/todos', { headers: a, body: { task: 'x', user_id: USER_B } });
    expect(theirs.status).toBe(403);
    expect(theirs.json).toMatchObject({ code: '42501' });
    const anon = await t.call('POST', '/todos', { body: { task: 'anon', user_id: USER_C } });
    expect(anon.status).toBe(401);
    const patchOther = await t.call('PATCH', '/todos?task=eq.b1', { headers: a, body: { done: true } });
    expect(patchOther.status).toBe(204);
    expect(await adminQuery(`SELECT done FROM todos WHERE task = 'b1'`)).toEqual([{ done: false }]);
    const del = await t.call('DELETE', '/todos?task=eq.a3&select=task', {
      headers: { ...a, prefer: 'return=representation' },
    });
    expect(del.json).toEqual([{ task: 'a3' }]);
  });
});
