import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

let t: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE p_tasks (id int PRIMARY KEY, grp text NOT NULL, rank int NOT NULL, state text NOT NULL DEFAULT 'new');
    INSERT INTO p_tasks SELECT i, CASE WHEN i <= 5 THEN 'a' ELSE 'b' END, 10 - i, 'new' FROM generate_series(1, 8) i;
    CREATE TABLE p_parted (id int, part int) PARTITION BY LIST (part);
    CREATE TABLE p_parted_1 PARTITION OF p_parted FOR VALUES IN (1);
    CREATE TABLE p_parted_2 PARTITION OF p_parted FOR VALUES IN (2);
    INSERT INTO p_parted VALUES (1, 1), (2, 2);
    CREATE TABLE p_twice_base (id int PRIMARY KEY);
    INSERT INTO p_twice_base VALUES (1), (2);
    CREATE VIEW p_twice AS SELECT id FROM p_twice_base UNION ALL SELECT id FROM p_twice_base;
    CREATE FUNCTION p_twice_delete() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN DELETE FROM p_twice_base WHERE id = OLD.id; RETURN OLD; END $$;
    CREATE TRIGGER p_twice_delete INSTEAD OF DELETE ON p_twice FOR EACH ROW EXECUTE FUNCTION p_twice_delete();
    CREATE TABLE p_times (id int PRIMARY KEY, at timestamptz NOT NULL);
    INSERT INTO p_times VALUES (1, '2024-01-01 12:00:00+00');
    CREATE TABLE p_people (id int PRIMARY KEY, name text NOT NULL, age int, tags text[]);
    CREATE VIEW p_people_v AS SELECT id AS person_id, name, age FROM p_people;
    CREATE FUNCTION p_greet(name text, punct text DEFAULT '!') RETURNS text LANGUAGE sql IMMUTABLE AS
      $$ SELECT 'hi ' || name || punct $$;
    CREATE FUNCTION p_join(sep text, VARIADIC parts text[]) RETURNS text LANGUAGE sql IMMUTABLE AS
      $$ SELECT array_to_string(parts, sep) $$;
    CREATE FUNCTION p_over(a int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'int' $$;
    CREATE FUNCTION p_over(a text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'text' $$;
    CREATE FUNCTION p_pick(a int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'a' $$;
    CREATE FUNCTION p_pick(a int, b int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'a,b' $$;
    CREATE FUNCTION p_pick(c text DEFAULT 'x') RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'c=' || c $$;
    CREATE FUNCTION p_close(g text) RETURNS SETOF p_tasks LANGUAGE sql VOLATILE AS
      $$ UPDATE p_tasks SET state = 'closed' WHERE grp = g RETURNING * $$;
    CREATE FUNCTION p_doc(doc jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT doc->>'k' $$;`);
  t = testEngine();
});
afterAll(() => t.close());

const states = async () =>
  (await adminQuery<{ id: number; state: string }>('SELECT id, state FROM p_tasks ORDER BY id')).map(
    (r) => `${r.id}:${r.state}`,
  );

describe('Prefer: max-affected', () => {
  it('fails PATCH/DELETE beyond the limit with PGRST124 under handling=strict and rolls back', async () => {
    const before = await states();
    const patch = await t.call('PATCH', '/p_tasks?grp=eq.a', {
      headers: { prefer: 'handling=strict, max-affected=3' },
      body: { state: 'x' },
    });
    expect(patch.status).toBe(400);
    expect(patch.json).toEqual({
      code: 'PGRST124',
      message: 'Query result exceeds max-affected preference constraint',
      details: 'The query affects 5 rows',
      hint: null,
    });
    const del = await t.call('DELETE', '/p_tasks?grp=eq.b', {
      headers: { prefer: 'handling=strict, max-affected=2, return=representation' },
    });
    expect(del.status).toBe(400);
    expect(del.json).toMatchObject({ code: 'PGRST124', details: 'The query affects 3 rows' });
    expect(await states()).toEqual(before);
  });

  it('applies writes within the limit, and ignores the preference when lenient', async () => {
    const ok = await t.call('PATCH', '/p_tasks?id=in.(1,2)', {
      headers: { prefer: 'handling=strict, max-affected=2' },
      body: { state: 'ok' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers['preference-applied']).toContain('max-affected=2');
    const lenient = await t.call('PATCH', '/p_tasks?id=in.(3,4,5)', {
      headers: { prefer: 'max-affected=1' },
      body: { state: 'len' },
    });
    expect(lenient.status).toBe(204);
    expect((await states()).slice(0, 5)).toEqual(['1:ok', '2:ok', '3:len', '4:len', '5:len']);
  });
});

describe('Prefer: max-affected on RPC', () => {
  it('counts the rows a set-returning function returns, rolls back beyond the limit, refuses scalars', async () => {
    const before = await states();
    const r = await t.call('POST', '/rpc/p_close', {
      headers: { prefer: 'handling=strict, max-affected=1' },
      body: { g: 'a' },
    });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'PGRST124', details: 'The query affects 5 rows' });
    expect(await states()).toEqual(before);
    const scalar = await t.call('POST', '/rpc/p_greet', {
      headers: { prefer: 'handling=strict, max-affected=1' },
      body: { name: 'x' },
    });
    // A function of one value counts as one row (PostgREST 12.2; PGRST128 is 13's).
    expect(scalar.status).toBe(200);
  });
});

describe('limited PATCH/DELETE', () => {
  it('requires an order (PGRST109)', async () => {
    const r = await t.call('PATCH', '/p_tasks?limit=1', { body: { state: 'z' } });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      code: 'PGRST109',
      message: "A 'limit' was applied without an explicit 'order'",
      details: null,
      hint: "Apply an 'order' using unique column(s)",
    });
    const d = await t.call('DELETE', '/p_tasks?offset=1');
    expect(d.json).toMatchObject({ code: 'PGRST109' });
  });

  it('updates and deletes only the ordered, limited rows among the filtered ones', async () => {
    // grp b: ids 6,7,8 with rank 4,3,2 → ordered by rank: 8, 7, 6.
    const patch = await t.call('PATCH', '/p_tasks?grp=eq.b&order=rank.asc&limit=2&select=id,state', {
      headers: { prefer: 'return=representation' },
      body: { state: 'lim' },
    });
    expect(patch.status).toBe(200);
    expect((patch.json as { id: number }[]).map((r) => r.id).sort()).toEqual([7, 8]);
    const del = await t.call('DELETE', '/p_tasks?grp=eq.b&order=id.desc&limit=1&offset=1', {
      headers: { prefer: 'return=representation' },
    });
    expect(del.json).toEqual([{ id: 7, grp: 'b', rank: 3, state: 'lim' }]);
    expect((await states()).slice(5)).toEqual(['6:new', '8:lim']);
  });
});

describe('limited PATCH/DELETE safety', () => {
  it('tells partitions apart, and refuses to change more rows than the limit (PGRST110)', async () => {
    const parted = await t.call('DELETE', '/p_parted?order=id&limit=1');
    expect(parted.status, parted.body.toString()).toBe(204);
    expect(await adminQuery('SELECT id FROM p_parted ORDER BY id')).toEqual([{ id: 2 }]);
    // The view repeats each row of its base table, so its inferred key is not unique.
    const twice = await t.call('DELETE', '/p_twice?order=id&limit=1');
    expect(twice.status).toBe(400);
    expect(twice.json).toEqual({
      code: 'PGRST110',
      message: 'The maximum number of rows allowed to change was surpassed',
      details: 'Results contain 2 rows changed but the maximum number allowed is 1',
      hint: null,
    });
    expect(await adminQuery('SELECT id FROM p_twice_base ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe('Prefer: timezone', () => {
  it('sets the session time zone for the request and reports it as applied', async () => {
    const r = await t.call('GET', '/p_times?select=at', {
      headers: { prefer: 'timezone=America/Los_Angeles' },
    });
    expect(r.json).toEqual([{ at: '2024-01-01T04:00:00-08:00' }]);
    expect(r.headers['preference-applied']).toBe('timezone=America/Los_Angeles');
    const utc = await t.call('GET', '/p_times?select=at', { headers: { prefer: 'timezone=UTC' } });
    expect(utc.json).toEqual([{ at: '2024-01-01T12:00:00+00:00' }]);
    // Reloads keep the time zones of the first load.
    await t.engine.reloadSchema();
    const tokyo = await t.call('GET', '/p_times?select=at', { headers: { prefer: 'timezone=Asia/Tokyo' } });
    expect(tokyo.json).toEqual([{ at: '2024-01-01T21:00:00+09:00' }]);
  });

  it('ignores an unknown time zone, or fails with PGRST122 under handling=strict', async () => {
    const tz = "UTC'; create table pwned_tz(); --";
    const lenient = await t.call('GET', '/p_times?select=at', { headers: { prefer: `timezone=${tz}` } });
    expect(lenient.status).toBe(200);
    expect(lenient.headers['preference-applied']).toBeUndefined();
    const strict = await t.call('GET', '/p_times?select=at', {
      headers: { prefer: 'handling=strict, timezone=Mars/Olympus' },
    });
    expect(strict.status).toBe(400);
    expect(strict.json).toEqual({
      code: 'PGRST122',
      message: 'Invalid preferences given with handling=strict',
      details: 'Invalid preferences: timezone=Mars/Olympus',
      hint: null,
    });
    expect(await adminQuery("SELECT 1 FROM pg_class WHERE relname = 'pwned_tz'")).toEqual([]);
  });
});

describe('CSV and form request bodies', () => {
  const csv = { 'content-type': 'text/csv', prefer: 'return=representation' };
  it('bulk-inserts CSV with the header row as columns and NULL as null', async () => {
    const body = 'id,name,age,tags\n1,Ann,30,"{a,b}"\n2,"Bob ""B"", Jr.",NULL,{}\r\n3,"multi\nline",7,NULL\n';
    const r = await t.call('POST', '/p_people', { headers: csv, body });
    expect(r.status, r.body.toString()).toBe(201);
    expect(await adminQuery('SELECT id, name, age, tags FROM p_people ORDER BY id')).toEqual([
      { id: 1, name: 'Ann', age: 30, tags: ['a', 'b'] },
      { id: 2, name: 'Bob "B", Jr.', age: null, tags: [] },
      { id: 3, name: 'multi\nline', age: 7, tags: null },
    ]);
    // A line shorter than the first has fewer keys (cassava zips it with the header): refused.
    const ragged = await t.call('POST', '/p_people', { headers: csv, body: 'id,name\n4,Dee\n5' });
    expect([ragged.status, ragged.json]).toEqual([
      400,
      { code: 'PGRST102', message: 'All lines must have same number of fields', details: null, hint: null },
    ]);
  });

  it('takes form-urlencoded bodies for POST, PATCH and RPC', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const post = await t.call('POST', '/p_people?select=id,name', {
      headers: { ...form, prefer: 'return=representation' },
      body: 'id=10&name=Zo%C3%AB+Q',
    });
    expect(post.status, post.body.toString()).toBe(201);
    expect(post.json).toEqual([{ id: 10, name: 'Zoë Q' }]);
    const patch = await t.call('PATCH', '/p_people?id=eq.10', { headers: form, body: 'age=41' });
    expect(patch.status).toBe(204);
    expect(await adminQuery('SELECT age FROM p_people WHERE id = 10')).toEqual([{ age: 41 }]);
    const rpc = await t.call('POST', '/rpc/p_greet', { headers: form, body: 'name=you&punct=%3F' });
    expect(rpc.json).toBe('hi you?');
  });

  it('treats CSV headers and form keys as identifiers checked against the schema cache', async () => {
    const pwn = 'create table pwned_body()';
    const headers = [`id;${pwn}`, `"name"");${pwn};--"`, `"name) VALUES (1,'x'); ${pwn}; --"`];
    for (const h of headers) {
      const r = await t.call('POST', '/p_people', { headers: csv, body: `${h}\n1` });
      expect(r.status, h).toBe(400);
      expect(r.json, h).toMatchObject({ code: 'PGRST204' });
    }
    const form = await t.call('PATCH', '/p_people?id=eq.1', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${encodeURIComponent(`age = 1; ${pwn}; --`)}=1`,
    });
    expect(form.status).toBe(400);
    expect(form.json).toMatchObject({ code: 'PGRST204' });
    const value = await t.call('POST', '/p_people?select=name', {
      headers: { ...csv },
      body: `id,name\n20,"'); ${pwn}; --"`,
    });
    expect(value.json).toEqual([{ name: `'); ${pwn}; --` }]);
    expect(await adminQuery("SELECT 1 FROM pg_class WHERE relname = 'pwned_body'")).toEqual([]);
  });
});

describe('RPC arguments', () => {
  it('fills variadic arguments from repeated query parameters and JSON arrays', async () => {
    const get = await t.call('GET', '/rpc/p_join?sep=-&parts=a&parts=b&parts=c');
    expect(get.status, get.body.toString()).toBe(200);
    expect(get.json).toBe('a-b-c');
    const one = await t.call('GET', '/rpc/p_join?sep=-&parts=solo');
    expect(one.json).toBe('solo');
    const evil = `x}', 'y'); create table pwned_variadic(); --`;
    const injected = await t.call('GET', `/rpc/p_join?sep=,&parts=${encodeURIComponent(evil)}&parts={z}`);
    expect(injected.json).toBe(`${evil},{z}`);
    const badName = await t.call(
      'GET',
      `/rpc/p_join?sep=-&${encodeURIComponent('parts:=1); create table pwned_variadic(); --')}=1`,
    );
    expect(badName.status).toBe(404);
    expect(await adminQuery("SELECT 1 FROM pg_class WHERE relname = 'pwned_variadic'")).toEqual([]);
    const post = await t.call('POST', '/rpc/p_join', {
      body: { sep: '+', parts: ['x', "'); drop table p_people; --"] },
    });
    expect(post.json).toBe("x+'); drop table p_people; --");
    expect(await adminQuery("SELECT 1 FROM pg_class WHERE relname = 'p_people'")).toHaveLength(1);
  });

  it('omits defaulted arguments and chooses overloads by argument names', async () => {
    expect((await t.call('POST', '/rpc/p_greet', { body: { name: 'x' } })).json).toBe('hi x!');
    expect((await t.call('GET', '/rpc/p_pick?a=1')).json).toBe('a');
    expect((await t.call('GET', '/rpc/p_pick?a=1&b=2')).json).toBe('a,b');
    expect((await t.call('POST', '/rpc/p_pick', { body: { c: 'y' } })).json).toBe('c=y');
    expect((await t.call('GET', '/rpc/p_pick')).json).toBe('c=x');
  });

  it('answers PGRST203 when overloads cannot be told apart', async () => {
    const r = await t.call('POST', '/rpc/p_over', { body: { a: 1 } });
    expect(r.status).toBe(300);
    expect(r.json).toMatchObject({ code: 'PGRST203', details: null });
    const { message, hint } = r.json as { message: string; hint: string };
    expect(message).toMatch(
      /^Could not choose the best candidate function between: public\.p_over\(a => (integer|text)\), public\.p_over\(a => (integer|text)\)$/,
    );
    expect(hint).toBe(
      'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
    );
  });

  it('passes the whole body to a json/jsonb argument with Prefer: params=single-object', async () => {
    const r = await t.call('POST', '/rpc/p_doc', {
      headers: { prefer: 'params=single-object' },
      body: { k: 'v' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toBe('v');
    expect(r.headers['preference-applied']).toBe('params=single-object');
    const named = await t.call('POST', '/rpc/p_doc', { body: { doc: { k: 'named' } } });
    expect(named.json).toBe('named');
  });
});

describe('views over one table', () => {
  it('take the primary key of their base table: PUT, upsert, Location, limited DELETE', async () => {
    const put = await t.call('PUT', '/p_people_v?person_id=eq.50', {
      body: { person_id: 50, name: 'V', age: 1 },
    });
    expect(put.status, put.body.toString()).toBe(204);
    const again = await t.call('PUT', '/p_people_v?person_id=eq.50', {
      headers: { prefer: 'return=representation' },
      body: { person_id: 50, name: 'V2', age: 2 },
    });
    expect(again.json).toEqual([{ person_id: 50, name: 'V2', age: 2 }]);
    const upsert = await t.call('POST', '/p_people_v', {
      headers: { prefer: 'resolution=merge-duplicates' },
      body: [
        { person_id: 50, name: 'V3', age: 3 },
        { person_id: 51, name: 'W', age: 4 },
      ],
    });
    expect(upsert.status, upsert.body.toString()).toBe(201);
    const location = await t.call('POST', '/p_people_v', {
      headers: { prefer: 'return=headers-only' },
      body: { person_id: 52, name: 'L' },
    });
    expect(location.headers.location).toBe('/p_people_v?person_id=eq.52');
    const del = await t.call('DELETE', '/p_people_v?person_id=gte.50&order=person_id.desc&limit=1');
    expect(del.status).toBe(204);
    expect(await adminQuery('SELECT id, name, age FROM p_people WHERE id >= 50 ORDER BY id')).toEqual([
      { id: 50, name: 'V3', age: 3 },
      { id: 51, name: 'W', age: 4 },
    ]);
  });
});
