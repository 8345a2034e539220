import { describe, expect, it } from 'vitest';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

const SCHEMA = `
create table public.items (id int primary key, name text not null, tags text[] not null default '{}');
insert into public.items values (1, 'red apple', '{fruit,red}'), (2, 'green apple', '{fruit,green}'),
  (3, 'red car', '{vehicle,red}'), (4, 'blue, "quoted" (car)', '{vehicle}'), (5, 'Élan', '{}');
create table public.notes (id int primary key, item_id int not null references public.items (id), body text not null);
insert into public.notes values (1, 1, 'crisp'), (2, 1, 'sweet'), (3, 3, 'fast'), (4, 2, 'sour');
create table public.counters (id int primary key, n int not null default 0);
insert into public.counters values (1, 1), (2, 2), (3, 3);
create table public.auto (id int generated always as identity primary key, v text);
create table public.people (id int primary key, name text not null);
insert into public.people values (1, 'ann'), (2, 'bob');
create table public.msgs (
  id int primary key,
  sender_id int not null references public.people (id),
  receiver_id int not null references public.people (id)
);
insert into public.msgs values (1, 1, 2);
create view public.red_items as select * from public.items where 'red' = any (tags);
create table public."données" (id int primary key, "clé" text);
insert into public."données" values (1, 'été');
create function public.nothing() returns void language sql as $$ select $$;
create function public.bump() returns int language sql volatile
  as $$ update public.counters set n = n + 1 where id = 1 returning n $$;
create function public.minmax(out lo int, out hi int) language sql stable
  as $$ select min(id), max(id) from public.items $$;
create function public.numbers() returns setof int language sql stable as $$ select generate_series(1, 3) $$;
create function public.echo_json(json) returns json language sql immutable as $$ select $1 $$;
create function public.dup(a int) returns text language sql immutable as $$ select 'int' $$;
create table public.docs (id int primary key, body text not null);
insert into public.docs values (1, 'The quick brown fox'), (2, 'A lazy dog'), (3, 'Foxes are clever');
create table public.jsons (id int primary key, meta jsonb not null);
insert into public.jsons values (1, '{"w":3}'), (2, '{"w":1}');
create function public.dup(a text) returns text language sql immutable as $$ select 'text' $$;
`;

const project = exploreProjects('probe', SCHEMA);

const ids = (rows: { id: number }[] | null) => rows?.map((r) => r.id);

describe('PostgREST 12 answers an app meets at the edges', () => {
  it('aggregates disabled → 400 PGRST123', async () => {
    const { error, status } = await project.service.from('items').select('id.sum()');
    expect(status).toBe(400);
    expect(error).toEqual({
      code: 'PGRST123',
      details: null,
      hint: null,
      message: 'Use of aggregate functions is not allowed',
    });
    const counted = await project.service.from('items').select('count()');
    expect(counted.status).toBe(400);
    expect(counted.error?.code).toBe('PGRST123');
  });

  it('ambiguous embed → 300 PGRST201; a hint picks one', async () => {
    const { error, status } = await project.service.from('people').select('id, msgs(id)');
    expect(status).toBe(300);
    expect(error?.code).toBe('PGRST201');
    expect(error?.message).toBe(
      "Could not embed because more than one relationship was found for 'people' and 'msgs'",
    );
    expect(error?.details).toEqual(
      expect.arrayContaining([
        {
          cardinality: 'one-to-many',
          embedding: 'people with msgs',
          relationship: 'msgs_sender_id_fkey using people(id) and msgs(sender_id)',
        },
        {
          cardinality: 'one-to-many',
          embedding: 'people with msgs',
          relationship: 'msgs_receiver_id_fkey using people(id) and msgs(receiver_id)',
        },
      ]),
    );
    expect(error?.hint).toMatch(/^Try changing 'msgs' to one of the following: 'msgs!msgs_/);
    const sent = await project.service.from('people').select('id, msgs!msgs_sender_id_fkey(id)').order('id');
    expect(sent.data).toEqual([
      { id: 1, msgs: [{ id: 1 }] },
      { id: 2, msgs: [] },
    ]);
    const received = await project.service.from('msgs').select('id, receiver:people!receiver_id(name)');
    expect(received.data).toEqual([{ id: 1, receiver: { name: 'bob' } }]);
  });

  it('void function → 204, data null', async () => {
    const { data, error, status } = await project.service.rpc('nothing');
    expect(error).toBeNull();
    expect(status).toBe(204);
    expect(data).toBeNull();
  });

  it('update with order+limit touches one row; limit without order → 400 PGRST109', async () => {
    const one = await project.service
      .from('counters')
      .update({ n: 50 })
      .gte('id', 1)
      .order('id')
      .limit(1)
      .select('id');
    expect(one.error).toBeNull();
    expect(one.data).toEqual([{ id: 1 }]);
    expect(await sql(project.a.ref, 'select id, n from public.counters order by id')).toEqual([
      { id: 1, n: 50 },
      { id: 2, n: 2 },
      { id: 3, n: 3 },
    ]);
    const unordered = await project.service.from('counters').update({ n: 60 }).gte('id', 1).limit(1);
    expect(unordered.status).toBe(400);
    expect(unordered.error).toEqual({
      code: 'PGRST109',
      details: null,
      hint: "Apply an 'order' using unique column(s)",
      message: "A 'limit' was applied without an explicit 'order'",
    });
  });

  it('in() with an empty list → no rows', async () => {
    const { data, error } = await project.service.from('items').select('id').in('id', []);
    expect(error).toBeNull();
    expect(data).toEqual([]);
  });

  it('upsert onConflict on a column without a unique constraint → 400 42P10', async () => {
    const { error, status } = await project.service
      .from('items')
      .upsert({ id: 9, name: 'x' }, { onConflict: 'name' });
    expect(status).toBe(400);
    expect(error).toEqual({
      code: '42P10',
      details: null,
      hint: null,
      message: 'there is no unique or exclusion constraint matching the ON CONFLICT specification',
    });
  });

  it('insert into GENERATED ALWAYS identity → 400 428C9', async () => {
    const { error, status } = await project.service.from('auto').insert({ id: 5, v: 'x' });
    expect(status).toBe(400);
    expect(error).toEqual({
      code: '428C9',
      details: 'Column "id" is an identity column defined as GENERATED ALWAYS.',
      hint: 'Use OVERRIDING SYSTEM VALUE to override.',
      message: 'cannot insert a non-DEFAULT value into column "id"',
    });
  });

  it('order by a to-one embedded column; on a to-many → 400 PGRST118', async () => {
    const { data, error } = await project.service
      .from('notes')
      .select('id, items(name)')
      .order('items(name)')
      .order('id');
    expect(error).toBeNull();
    expect(ids(data as { id: number }[])).toEqual([4, 1, 2, 3]);
    const toMany = await project.service.from('items').select('id, notes(body)').order('notes(body)');
    expect(toMany.status).toBe(400);
    expect(toMany.error).toEqual({
      code: 'PGRST118',
      details: "'items' and 'notes' do not form a many-to-one or one-to-one relationship",
      hint: null,
      message: "A related order on 'notes' is not possible",
    });
  });

  it('rpc with OUT params → one object; setof scalar → array', async () => {
    expect((await project.service.rpc('minmax')).data).toEqual({ lo: 1, hi: 5 });
    expect((await project.service.rpc('numbers')).data).toEqual([1, 2, 3]);
  });

  it('overloaded function with the same argument names → 300 PGRST203', async () => {
    const { error, status } = await project.service.rpc('dup', { a: 1 });
    expect(status).toBe(300);
    expect(error?.code).toBe('PGRST203');
    expect(error?.message).toMatch(
      /^Could not choose the best candidate function between: public\.dup\(a => /,
    );
  });

  it('a table and column with non-ASCII names', async () => {
    const { data, error } = await project.service.from('données').select('id, clé').eq('clé', 'été');
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 1, clé: 'été' }]);
  });

  it('or() with cs braces, in lists and quoted values', async () => {
    const q = () => project.service.from('items').select('id').order('id');
    expect(ids((await q().or('tags.cs.{fruit,red},id.eq.4')).data)).toEqual([1, 4]);
    expect(ids((await q().or('id.in.(1,2),name.eq.red car')).data)).toEqual([1, 2, 3]);
    expect(ids((await q().or('name.eq."blue, \\"quoted\\" (car)",id.eq.1')).data)).toEqual([1, 4]);
  });

  it('a view embeds through its base table’s foreign key', async () => {
    const { data, error } = await project.service.from('red_items').select('id, notes(body)').order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, notes: [{ body: 'crisp' }, { body: 'sweet' }] },
      { id: 3, notes: [{ body: 'fast' }] },
    ]);
  });

  it('rpc with one unnamed json parameter gets the whole body', async () => {
    const { data, error } = await project.service.rpc('echo_json', { a: 1, b: [true] });
    expect(error).toBeNull();
    expect(data).toEqual({ a: 1, b: [true] });
  });

  it('a writing function called with get → 405 25006', async () => {
    const { error, status } = await project.service.rpc('bump', {}, { get: true });
    expect(status).toBe(405);
    expect(error).toMatchObject({
      code: '25006',
      message: 'cannot execute UPDATE in a read-only transaction',
    });
  });

  it('textSearch without a config uses the database default (english on hosted)', async () => {
    const { data, error } = await project.service
      .from('docs')
      .select('id')
      .textSearch('body', 'foxes')
      .order('id');
    expect(error).toBeNull();
    expect(ids(data)).toEqual([1, 3]);
  });

  it('array equality and jsonb comparison', async () => {
    expect(ids((await project.service.from('items').select('id').eq('tags', '{fruit,red}')).data)).toEqual([
      1,
    ]);
    expect(ids((await project.service.from('jsons').select('id').gt('meta->w', 2)).data)).toEqual([1]);
  });

  it('a schema that is not exposed → 406 PGRST106', async () => {
    const { error, status } = await project.service.schema('private').from('items').select('id');
    expect(status).toBe(406);
    expect(error?.code).toBe('PGRST106');
    expect(error?.message).toMatch(/^The schema must be one of the following: public/);
  });

  it('update() or delete() with no filter → 400 21000 (pg-safeupdate), nothing changed', async () => {
    const before = await sql(project.a.ref, 'select id, n from public.counters order by id');
    const update = await project.service.from('counters').update({ n: 0 });
    expect(update.status).toBe(400);
    expect(update.error).toEqual({
      code: '21000',
      details: null,
      hint: null,
      message: 'UPDATE requires a WHERE clause',
    });
    const removed = await project.service.from('counters').delete().select('id');
    expect(removed.status).toBe(400);
    expect(removed.error?.message).toBe('DELETE requires a WHERE clause');
    expect(await sql(project.a.ref, 'select id, n from public.counters order by id')).toEqual(before);
  });

  it('insert([]) / upsert([]) → nothing written: 201 [] (a merging upsert 200 [])', async () => {
    const inserted = await project.service.from('counters').insert([]).select('id');
    expect([inserted.status, inserted.data, inserted.error]).toEqual([201, [], null]);
    const minimal = await project.service.from('counters').insert([]);
    expect([minimal.status, minimal.error]).toEqual([201, null]);
    const upserted = await project.service.from('counters').upsert([]).select();
    expect([upserted.status, upserted.data, upserted.error]).toEqual([200, [], null]);
    const ignored = await project.service.from('counters').upsert([], { ignoreDuplicates: true }).select();
    expect([ignored.status, ignored.data]).toEqual([201, []]);
    expect(await sql(project.a.ref, 'select count(*)::int as n from public.counters')).toEqual([{ n: 3 }]);
  });

  it('JSON arrows on a text[] column read its to_jsonb(): select, filter and order', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, tag:tags->0, second:tags->>1')
      .in('id', [3, 5]);
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 3, tag: 'vehicle', second: 'red' },
      { id: 5, tag: null, second: null },
    ]);
    const vehicles = await project.service.from('items').select('id').eq('tags->>0', 'vehicle').order('id');
    expect(ids(vehicles.data)).toEqual([3, 4]);
    const ordered = await project.service
      .from('items')
      .select('id')
      .lte('id', 4)
      .order('tags->>1', { ascending: false, nullsFirst: false })
      .order('id');
    expect(ids(ordered.data)).toEqual([1, 3, 2, 4]);
  });

  it('a NUL character in text → 400 22P05', async () => {
    const { error, status } = await project.service.from('items').insert({ id: 77, name: 'a\u0000b' });
    expect(status).toBe(400);
    expect(error).toEqual({
      code: '22P05',
      details: '\\u0000 cannot be converted to text.',
      hint: null,
      message: 'unsupported Unicode escape sequence',
    });
  });
});

project.secondProjectUntouched('select id, n from public.counters order by id', [
  { id: 1, n: 1 },
  { id: 2, n: 2 },
  { id: 3, n: 3 },
]);
