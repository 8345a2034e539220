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
    // Without columns= the keys are the columns, missing=default or not (PostgREST getPayload).
    const uneven = await t.call('POST', '/w_items', {
      headers: { prefer: 'missing=default' },
      body: [{ name: 'f', qty: 7 }, { name: 'g' }],
    });
    expect([uneven.status, uneven.json]).toEqual([
      400,
      { code: 'PGRST102', message: 'All object keys must match', details: null, hint: null },
    ]);
    // Rows with different keys are inserted (ids drawn) and returned in the order they were sent.
    const missing = await t.call('POST', '/w_items?columns=name,qty&select=id,name,qty', {
      headers: { prefer: 'return=representation, missing=default' },
      body: [{ name: 'f', qty: 7 }, { name: 'g' }, { name: 'g2', qty: 3 }],
    });
    const written = missing.json as { id: number; name: string; qty: number }[];
    expect(written.map(({ name, qty }) => ({ name, qty }))).toEqual([
      { name: 'f', qty: 7 },
      { name: 'g', qty: 1 },
      { name: 'g2', qty: 3 },
    ]);
    expect(written.map((r) => r.id)).toEqual([...written.map((r) => r.id)].sort((a, b) => a - b));
    await t.call('POST', '/w_items?columns=name,qty', {
      headers: { prefer: 'missing=default' },
      body: [{ name: 'm1', qty: 2 }, { name: 'm2' }, { name: 'm3', qty: 2 }],
    });
    expect(
      (await adminQuery(`SELECT name FROM w_items WHERE name LIKE 'm_' ORDER BY id`)).map((r) => r.name),
    ).toEqual(['m1', 'm2', 'm3']);
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
    // As PostgREST, a Location only when exactly one row was inserted.
    const two = await t.call('POST', '/w_items', {
      headers: { prefer: 'return=headers-only' },
      body: [{ name: 'h2' }, { name: 'h3' }],
    });
    expect(two.status).toBe(201);
    expect(two.headers.location).toBeUndefined();
  });

  it('gives rows missing a column under missing=default its default: identity, domain, not a view base column', async () => {
    await ownerQuery(`CREATE DOMAIN w_level AS int DEFAULT 3;
      CREATE TABLE w_defaults (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, code text UNIQUE,
        level w_level, tags text[] DEFAULT '{x}', note text);
      CREATE VIEW w_defaults_view AS SELECT id, code, level, tags FROM w_defaults;`);
    const body = [{ code: 'a' }, { code: 'b', id: 100, level: null }, { code: 'c', tags: ['y'] }];
    const table = await t.call('POST', '/w_defaults?columns=id,code,level,tags,note', {
      headers: { prefer: 'return=representation, missing=default' },
      body,
    });
    expect([table.status, table.json]).toEqual([
      201,
      [
        { id: 1, code: 'a', level: 3, tags: ['x'], note: null },
        { id: 100, code: 'b', level: null, tags: ['x'], note: null },
        // PostgREST evaluates each default for every row (jsonb_build_object(defaults) || row,
        // SqlFragment.hs fromJsonBodyF), so the row that gives its id takes an identity value too.
        { id: 3, code: 'c', level: 3, tags: ['y'], note: null },
      ],
    ]);
    const view = await t.call('POST', '/w_defaults_view?columns=code,level,tags', {
      headers: { prefer: 'return=representation, missing=default' },
      body: [{ code: 'v' }],
    });
    // A view column has no default but its own or its domain's (PostgREST's schema cache reads the
    // view's pg_attrdef only): `tags` is NULL, `level` its domain's 3, `id` left out the base's.
    expect([view.status, view.json]).toEqual([201, [{ id: 4, code: 'v', level: 3, tags: null }]]);
    // As in PostgREST, a merging upsert sets a missing column to its default on the existing row too.
    const merged = await t.call('POST', '/w_defaults?on_conflict=code&columns=code,tags', {
      headers: { prefer: 'return=representation, missing=default, resolution=merge-duplicates' },
      body: [{ code: 'c' }],
    });
    expect([merged.status, merged.json]).toEqual([
      200,
      [{ id: 3, code: 'c', level: 3, tags: ['x'], note: null }],
    ]);
    // PATCH too (UpdateSpec 'updates table using default values … when json keys are undefined'):
    // a column of columns= the body omits takes its default, one it sends as null is null.
    const patched = await t.call('PATCH', '/w_defaults?code=eq.b&columns=level,tags,note', {
      headers: { prefer: 'return=representation, missing=default' },
      body: { tags: ['z'], note: null },
    });
    expect([patched.status, patched.json]).toEqual([
      200,
      [{ id: 100, code: 'b', level: 3, tags: ['z'], note: null }],
    ]);
    const viewPatched = await t.call('PATCH', '/w_defaults_view?code=eq.b&columns=tags,level', {
      headers: { prefer: 'return=representation, missing=default' },
      body: { level: null },
    });
    // The view's `tags` has no default of its own: NULL, as in PostgREST.
    expect([viewPatched.status, viewPatched.json]).toEqual([
      200,
      [{ id: 100, code: 'b', level: null, tags: null }],
    ]);
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

  it('refuses an UPDATE or DELETE with no filter of its own, as pg-safeupdate does on hosted Supabase', async () => {
    const before = await rows();
    const service = await bearer('service_role');
    const update = await t.call('PATCH', '/w_items', { headers: service, body: { note: 'all' } });
    expect(update.status).toBe(400);
    expect(update.json).toEqual({
      code: '21000',
      details: null,
      hint: null,
      message: 'UPDATE requires a WHERE clause',
    });
    // Filters on an embed only shape the returned rows; the write itself is still unfiltered.
    const embedded = await t.call('DELETE', '/w_items?select=name,w_parents!inner(id)&w_parents.id=eq.1', {
      headers: { ...service, prefer: 'return=representation' },
    });
    expect(embedded.status).toBe(400);
    expect(embedded.json).toEqual({
      code: '21000',
      details: null,
      hint: null,
      message: 'DELETE requires a WHERE clause',
    });
    expect(await rows()).toEqual(before);
    // A limited write picks its rows with a WHERE of its own; an empty body changes nothing.
    const limited = await t.call('PATCH', '/w_items?order=id&limit=1', { body: { qty: 1 } });
    expect(limited.status).toBe(204);
    // Its order may be a related one only on a resource the select embeds (PGRST108).
    const related = await t.call('PATCH', '/w_items?order=w_parents(name),id&limit=1', { body: { qty: 1 } });
    expect([related.status, (related.json as { code: string }).code]).toEqual([400, 'PGRST108']);
    const embeddedOrder = await t.call(
      'PATCH',
      '/w_items?select=id,w_parents(name)&order=w_parents(name),id&limit=1',
      {
        body: { qty: 1 },
      },
    );
    expect(embeddedOrder.status, embeddedOrder.body.toString()).toBe(204);
    expect((await t.call('PATCH', '/w_items', { body: {} })).status).toBe(204);
    // It still answers like a PATCH of no row (Response.hs MutationUpdate): its count, its
    // Preference-Applied, and PGRST116 when one object was asked for.
    const counted = await t.call('PATCH', '/w_items?id=eq.1', {
      headers: { prefer: 'count=exact' },
      body: {},
    });
    expect([counted.status, counted.headers['content-range'], counted.headers['preference-applied']]).toEqual(
      [204, '*/0', 'count=exact'],
    );
    const single = await t.call('PATCH', '/w_items?id=eq.1', {
      headers: { prefer: 'return=representation', accept: 'application/vnd.pgrst.object+json' },
      body: {},
    });
    expect([single.status, (single.json as { code: string }).code]).toEqual([406, 'PGRST116']);
  });

  it('answers an empty list of rows as PostgREST: nothing inserted, 201 (200 for a merging upsert)', async () => {
    const before = await rows();
    const returned = await t.call('POST', '/w_items?select=id', { headers: service, body: [] });
    expect([returned.status, returned.json]).toEqual([201, []]);
    const minimal = await t.call('POST', '/w_items', { body: [] });
    expect([minimal.status, minimal.body.toString()]).toEqual([201, '']);
    const merged = await t.call('POST', '/w_items?select=id', {
      headers: { prefer: 'return=representation, resolution=merge-duplicates' },
      body: [],
    });
    expect([merged.status, merged.json]).toEqual([200, []]);
    const mergedMinimal = await t.call('POST', '/w_items?on_conflict=name', {
      headers: { prefer: 'resolution=merge-duplicates' },
      body: [],
    });
    expect(mergedMinimal.status).toBe(200);
    const ignored = await t.call('POST', '/w_items?select=id', {
      headers: { prefer: 'return=representation, resolution=ignore-duplicates' },
      body: [],
    });
    expect([ignored.status, ignored.json]).toEqual([201, []]);
    expect(await rows()).toEqual(before);
    // Objects without keys are rows of defaults.
    await ownerQuery(`CREATE TABLE w_blank (id serial PRIMARY KEY, v text NOT NULL DEFAULT 'd')`);
    const one = await t.call('POST', '/w_blank', { body: {} });
    const two = await t.call('POST', '/w_blank?select=v', { headers: service, body: [{}, {}] });
    expect([one.status, two.status, two.json]).toEqual([201, 201, [{ v: 'd' }, { v: 'd' }]]);
  });

  it('reads a POST body as PostgREST 12 (payloadAttributes): a list of non-objects is refused, a JSON scalar is no row', async () => {
    // InsertSpec "rejects json array that isn't exclusivily composed of objects".
    const mixed = await t.call('POST', '/w_items', { body: [{ name: 'mixed' }, 123, 'xxxx'] });
    expect([mixed.status, mixed.json]).toEqual([
      400,
      { code: 'PGRST102', message: 'All object keys must match', details: null, hint: null },
    ]);
    const first = await t.call('POST', '/w_items', { body: [123] });
    expect([first.status, (first.json as { message: string }).message]).toEqual([
      400,
      'All object keys must match',
    ]);
    // Anything but an object or a list is truncated to an empty list: nothing inserted.
    for (const body of ['123', '"text"', 'true', 'null']) {
      const scalar = await t.call('POST', '/w_items', { headers: service, body });
      expect([body, scalar.status, scalar.json]).toEqual([body, 201, []]);
    }
    expect(await rows("name = 'mixed'")).toEqual([]);
    // PATCH reads its body the same way (without columns=): a scalar changes nothing.
    const before = await rows();
    const patchMixed = await t.call('PATCH', '/w_items?id=gt.0', { body: [{ qty: 5 }, { note: 'x' }] });
    expect([patchMixed.status, (patchMixed.json as { message: string }).message]).toEqual([
      400,
      'All object keys must match',
    ]);
    const patchList = await t.call('PATCH', '/w_items?id=gt.0', { body: [1] });
    expect((patchList.json as { message: string }).message).toBe('All object keys must match');
    const patchScalar = await t.call('PATCH', '/w_items?id=gt.0', { body: '123' });
    expect([patchScalar.status, patchScalar.body.toString()]).toEqual([204, '']);
    expect(await rows()).toEqual(before);
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
    // As PostgREST: of an array only the row of the filters' key is put; limit/offset are refused.
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

  it('PUTs the rows of an array body whose key the filters name, as PostgREST 12 (an INSERT over the whole body)', async () => {
    // UpsertSpec "succeeds if the payload has more than one row, but it only puts the first element":
    // the other rows are left out by the WHERE on the filters' key, whichever comes first.
    const second = await t.call('PUT', '/w_items?id=eq.1102', {
      headers: service,
      body: [
        { id: 1101, name: 'never', qty: 1 },
        { id: 1102, name: 'second', qty: 2 },
      ],
    });
    expect([second.status, second.json]).toEqual([
      201,
      [expect.objectContaining({ id: 1102, name: 'second' })],
    ]);
    expect(await rows('id IN (1101, 1102)')).toMatchObject([{ name: 'second', qty: 2 }]);
    // The key is compared as its type: 01 is 1 (the body's text of it too).
    const typed = await t.call('PUT', '/w_items?id=eq.01102', {
      body: [{ id: '1102', name: 'typed', qty: 3 }],
    });
    expect(typed.status, typed.body.toString()).toBe(204);
    expect(await rows('id = 1102')).toMatchObject([{ name: 'typed', qty: 3 }]);
    // Two rows of that key: Postgres refuses to update one row twice (21000, 500), nothing written.
    const twice = await t.call('PUT', '/w_items?id=eq.1102', {
      body: [
        { id: 1102, name: 'put-twice-a', qty: 1 },
        { id: 1102, name: 'put-twice-b', qty: 1 },
      ],
    });
    expect([twice.status, twice.json]).toEqual([
      500,
      {
        code: '21000',
        message: 'ON CONFLICT DO UPDATE command cannot affect row a second time',
        details: null,
        hint: 'Ensure that no rows proposed for insertion within the same command have duplicate constrained values.',
      },
    ]);
    // No row of that key: PGRST115, nothing written.
    const none = await t.call('PUT', '/w_items?id=eq.1103', {
      body: [{ id: 1101, name: 'put-none', qty: 1 }],
    });
    expect([none.status, none.json]).toEqual([
      400,
      {
        code: 'PGRST115',
        message: 'Payload values do not match URL in primary key column(s)',
        details: null,
        hint: null,
      },
    ]);
    // Rows must have the same keys (ApiRequest payloadAttributes).
    const uneven = await t.call('PUT', '/w_items?id=eq.1102', {
      body: [{ id: 1102, name: 'put-uneven', qty: 1 }, { id: 1102 }],
    });
    expect([uneven.status, uneven.json]).toMatchObject([
      400,
      { code: 'PGRST102', message: 'All object keys must match' },
    ]);
    // A body without the key's column (an empty list or object too) has no such column to compare.
    for (const body of [[], {}, { name: 'put-missing', qty: 1 }]) {
      const missing = await t.call('PUT', '/w_items?id=eq.1102', { body });
      expect([JSON.stringify(body), missing.status, missing.json]).toEqual([
        JSON.stringify(body),
        400,
        { code: '42703', message: 'column pgrst_body.id does not exist', details: null, hint: null },
      ]);
    }
    expect(await rows('id IN (1101, 1102, 1103)')).toMatchObject([{ name: 'typed', qty: 3 }]);
    // return=headers-only is answered as return=minimal: 204, no Location (Response.hs).
    const headersOnly = await t.call('PUT', '/w_items?id=eq.1104', {
      headers: { prefer: 'return=headers-only' },
      body: { id: 1104, name: 'put-headers-only', qty: 1 },
    });
    expect([headersOnly.status, headersOnly.headers.location]).toEqual([204, undefined]);
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

  it('returns only the columns asked for (and the key), so column privileges allow it, as PostgREST', async () => {
    await ownerQuery(`
      CREATE TABLE w_cols (id int PRIMARY KEY, pub text, secret text, parent_id int REFERENCES w_parents(id));
      REVOKE ALL ON w_cols FROM authenticated;
      GRANT SELECT (id, pub, parent_id), INSERT, UPDATE, DELETE ON w_cols TO authenticated;`);
    const user = { ...(await bearer('authenticated', USER_C)), prefer: 'return=representation' };
    const inserted = await t.call('POST', '/w_cols?select=pub', {
      headers: user,
      body: { id: 1, pub: 'p', secret: 's', parent_id: 1 },
    });
    expect(inserted.status, inserted.body.toString()).toBe(201);
    expect(inserted.json).toEqual([{ pub: 'p' }]);
    const embedded = await t.call('POST', '/w_cols?select=id,parent:w_parents(name)', {
      headers: user,
      body: { id: 2, secret: 's', parent_id: 2 },
    });
    expect(embedded.status, embedded.body.toString()).toBe(201);
    expect(embedded.json).toEqual([{ id: 2, parent: { name: 'p2' } }]);
    const located = await t.call('POST', '/w_cols', {
      headers: { ...user, prefer: 'return=headers-only' },
      body: { id: 3, secret: 's' },
    });
    expect(located.status).toBe(201);
    expect(located.headers.location).toBe('/w_cols?id=eq.3');
    const merged = await t.call('POST', '/w_cols?select=id,pub', {
      headers: { ...user, prefer: 'return=representation,resolution=merge-duplicates' },
      body: [{ id: 3, pub: 'm' }],
    });
    expect(merged.status, merged.body.toString()).toBe(200);
    expect(merged.json).toEqual([{ id: 3, pub: 'm' }]);
    const patched = await t.call('PATCH', '/w_cols?id=eq.1&select=pub', {
      headers: user,
      body: { secret: 't' },
    });
    expect(patched.status, patched.body.toString()).toBe(200);
    expect(patched.json).toEqual([{ pub: 'p' }]);
    const deleted = await t.call('DELETE', '/w_cols?id=eq.2&select=id', { headers: user });
    expect(deleted.json).toEqual([{ id: 2 }]);
    // every column (select=*, or none given) still needs SELECT on every column
    const all = await t.call('POST', '/w_cols', { headers: user, body: { id: 4 } });
    expect(all.status).toBe(403);
    expect(all.json).toMatchObject({ code: '42501', message: 'permission denied for table w_cols' });
    expect(await adminQuery('SELECT id, pub, secret FROM w_cols ORDER BY id')).toEqual([
      { id: 1, pub: 'p', secret: 't' },
      { id: 3, pub: 'm', secret: 's' },
    ]);
  });
});

describe('write bodies as PostgREST 12.2 reads them (InsertSpec)', () => {
  it('reads a missing=default body as jsonb: a repeated key keeps its last value', async () => {
    await ownerQuery('CREATE TABLE w_json (id int PRIMARY KEY, data json)');
    const dup = '{ "data": { "a": 1, "a": 2 }, "id": 1 }';
    const plain = await t.call('POST', '/w_json?columns=id,data', { headers: service, body: dup });
    // Without it, json keeps the text sent.
    expect([plain.status, plain.body.toString()]).toEqual([201, '[{"id":1,"data":{ "a": 1, "a": 2 }}]']);
    const defaulted = await t.call('POST', '/w_json?columns=id,data', {
      headers: { prefer: 'return=representation, missing=default' },
      body: dup.replace('"id": 1', '"id": 2'),
    });
    expect([defaulted.status, defaulted.json]).toEqual([201, [{ id: 2, data: { a: 2 } }]]);
    const patched = await t.call('PATCH', '/w_json?id=eq.1&columns=data', {
      headers: { prefer: 'return=representation, missing=default' },
      body: '{ "data": { "b": 1, "b": 3 } }',
    });
    expect([patched.status, patched.json]).toEqual([200, [{ id: 1, data: { b: 3 } }]]);
  });

  it('an empty columns= expects a field name as PostgREST words it', async () => {
    const r = await t.call('POST', '/w_json?columns=', { body: [{ id: 3 }] });
    expect([r.status, r.json]).toEqual([
      400,
      {
        code: 'PGRST100',
        message: '"failed to parse columns parameter ()" (line 1, column 1)',
        details: 'unexpected end of input expecting field name (* or [a..z0..9_$])',
        hint: null,
      },
    ]);
  });
});
