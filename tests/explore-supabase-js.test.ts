import { beforeAll, describe, expect, it } from 'vitest';
import { rest, supabaseFor } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// An app developer's tour of the PostgREST surface supabase-js exposes, past what sdk-rls.test.ts
// covers. Each expectation is PostgREST 12's answer (hosted Supabase), or Postgres's own output read
// through the SQL endpoint where PostgREST passes it on unchanged.

const SCHEMA = `
create table public.items (
  id int primary key,
  name text not null,
  tags text[] not null default '{}',
  meta jsonb not null default '{}',
  during int4range,
  rank int,
  price numeric(30,10),
  big bigint,
  at timestamptz,
  blob bytea,
  flag boolean
);
insert into public.items values
  (1, 'red apple', '{fruit,red}', '{"color":"red","size":{"w":3}}', '[1,5)', 2, 1.5, 1, '2026-01-01T00:00:00Z', '\\x6869', true),
  (2, 'green apple', '{fruit,green}', '{"color":"green"}', '[5,10)', null, 2.25, 2, '2026-06-15T12:30:00+02:00', null, false),
  (3, 'red car', '{vehicle,red}', '{"color":"red","wheels":4}', '[10,20)', 1, 15000, 3, null, null, null),
  (4, 'blue, "quoted" (car)', '{vehicle}', '{}', null, null, null, null, null, null, null);
create table public.notes (
  id int primary key,
  item_id int not null references public.items (id) on delete cascade,
  body text not null,
  pos int not null
);
insert into public.notes values (1, 1, 'crisp', 2), (2, 1, 'sweet', 1), (3, 3, 'fast', 1), (4, 2, 'sour', 1);
create table public.docs (
  id int primary key,
  body text not null
);
insert into public.docs values
  (1, 'The quick brown fox jumps over the lazy dog'),
  (2, 'A lazy afternoon with a brown dog'),
  (3, 'Foxes are quick and clever'),
  (4, 'The fat cats sat on the mat');
create table public.counters (id int primary key, label text not null default 'none', n int not null default 0);
insert into public.counters values (1, 'one', 1), (2, 'two', 2);
create function public.item_names(min_id int) returns setof public.items language sql stable
  as $$ select * from public.items where id >= min_id $$;
create function public.shout(word text) returns text language sql immutable as $$ select upper(word) || '!' $$;
create function public.sum_ids(ids int[]) returns int language sql immutable as $$ select sum(x)::int from unnest(ids) x $$;
create function public.nap(seconds float) returns text language sql volatile
  as $$ select pg_sleep(seconds)::text || 'awake' $$;
`;

const project = exploreProjects('explore', SCHEMA);

const ids = (rows: { id: number }[] | null) => rows?.map((r) => r.id);

describe('transforms', () => {
  it('explain() while plans are disabled (the default) → 406 PGRST107 naming the plan media type', async () => {
    const plain = await project.service.from('items').select('id').explain();
    expect(plain.status).toBe(406);
    expect(plain.data).toBeNull();
    expect(plain.error).toMatchObject({ code: 'PGRST107', details: null, hint: null });
    expect(plain.error?.message).toMatch(
      /^None of these media types are available: application\/vnd\.pgrst\.plan\+text; for="application\/json"/,
    );
    const analyzed = await project.service.from('items').select('id').explain({ analyze: true });
    expect(analyzed.status).toBe(406);
    expect(analyzed.error).toEqual({
      code: 'PGRST107',
      details: null,
      hint: null,
      message:
        'None of these media types are available: application/vnd.pgrst.plan+text; for="application/json"; options=analyze',
    });
  });

  it('csv() writes each row as Postgres writes a record (quotes, commas, arrays, nulls, booleans)', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, name, tags, rank, flag, meta')
      .order('id')
      .csv();
    expect(error).toBeNull();
    // PostgREST: the header from the first row's keys, each row its record text without the parentheses.
    const [{ body }] = (await sql<{ body: string }>(
      project.a.ref,
      `select string_agg(substring(t::text, 2, length(t::text) - 2), E'\\n' order by t.id) as body
         from (select id, name, tags, rank, flag, meta from public.items) t`,
    )) as [{ body: string }];
    expect(data).toBe(`id,name,tags,rank,flag,meta\n${body}`);
    expect(data).toContain('4,"blue, ""quoted"" (car)",{vehicle},,,{}');
  });

  it('csv() of no rows is the empty header line', async () => {
    const { data, error } = await project.service.from('items').select('id').eq('id', -1).csv();
    expect(error).toBeNull();
    expect(data).toBe('\n');
  });

  it('select with aliases, casts and JSON paths', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, label:name, price_text:price::text, color:meta->>color, width:meta->size->w')
      .in('id', [1, 3])
      .order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, label: 'red apple', price_text: '1.5000000000', color: 'red', width: 3 },
      { id: 3, label: 'red car', price_text: '15000.0000000000', color: 'red', width: null },
    ]);
  });

  it('order() with nullsFirst / nullsLast, and on a JSON path', async () => {
    const first = await project.service
      .from('items')
      .select('id')
      .order('rank', { nullsFirst: true })
      .order('id');
    expect(ids(first.data)).toEqual([2, 4, 3, 1]);
    const last = await project.service
      .from('items')
      .select('id')
      .order('rank', { ascending: false, nullsFirst: false })
      .order('id');
    expect(ids(last.data)).toEqual([1, 3, 2, 4]);
    // Default: ascending puts NULLs last, descending puts them first (as Postgres).
    const desc = await project.service
      .from('items')
      .select('id')
      .order('rank', { ascending: false })
      .order('id');
    expect(ids(desc.data)).toEqual([2, 4, 1, 3]);
    const byColor = await project.service.from('items').select('id').order('meta->>color').order('id');
    expect(ids(byColor.data)).toEqual([2, 1, 3, 4]);
  });

  it('order(), limit() and range() on an embedded table (referencedTable)', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, notes(body, pos)')
      .order('pos', { referencedTable: 'notes' })
      .limit(1, { referencedTable: 'notes' })
      .in('id', [1, 2, 4])
      .order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, notes: [{ body: 'sweet', pos: 1 }] },
      { id: 2, notes: [{ body: 'sour', pos: 1 }] },
      { id: 4, notes: [] },
    ]);
    const ranged = await project.service
      .from('items')
      .select('id, notes(body)')
      .order('pos', { referencedTable: 'notes', ascending: false })
      .range(1, 1, { referencedTable: 'notes' })
      .eq('id', 1);
    expect(ranged.error).toBeNull();
    expect(ranged.data).toEqual([{ id: 1, notes: [{ body: 'sweet' }] }]);
  });

  it('!inner embeds filtered on the embedded table keep only the parents with a match', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id, notes!inner(body)')
      .eq('notes.body', 'fast');
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 3, notes: [{ body: 'fast' }] }]);
    // Without !inner the filter only trims the embedded rows.
    const outer = await project.service
      .from('items')
      .select('id, notes(body)')
      .eq('notes.body', 'fast')
      .order('id');
    expect(outer.data).toEqual([
      { id: 1, notes: [] },
      { id: 2, notes: [] },
      { id: 3, notes: [{ body: 'fast' }] },
      { id: 4, notes: [] },
    ]);
    // Filtering by the embedded table with `is null`: the parents with no match (an anti-join).
    const without = await project.service.from('items').select('id, notes(id)').is('notes', null).order('id');
    expect(without.error).toBeNull();
    expect(without.data).toEqual([{ id: 4, notes: [] }]);
  });

  it('a filter on a table that is not embedded → 400 PGRST108', async () => {
    const { error, status } = await project.service.from('items').select('id').eq('notes.body', 'fast');
    expect(status).toBe(400);
    expect(error).toEqual({
      code: 'PGRST108',
      details: null,
      hint: "Verify that 'notes' is included in the 'select' query parameter.",
      message: "'notes' is not an embedded resource in this request",
    });
  });

  it('a many-to-one embed is an object, and spreads into its parent with ...', async () => {
    const { data, error } = await project.service
      .from('notes')
      .select('body, items(name), ...items(color:meta->>color)')
      .eq('id', 3);
    expect(error).toBeNull();
    expect(data).toEqual([{ body: 'fast', items: { name: 'red car' }, color: 'red' }]);
  });
});

describe('filters', () => {
  it('or() with a nested and(), and not() inside', async () => {
    const { data, error } = await project.service
      .from('items')
      .select('id')
      .or('and(price.gt.1,price.lt.3),name.eq.red car')
      .order('id');
    expect(error).toBeNull();
    expect(ids(data)).toEqual([1, 2, 3]);
    const negated = await project.service
      .from('items')
      .select('id')
      .or('not.and(tags.cs.{fruit},rank.is.null),id.eq.4')
      .order('id');
    expect(negated.error).toBeNull();
    expect(ids(negated.data)).toEqual([1, 3, 4]);
    const onEmbed = await project.service
      .from('items')
      .select('id, notes(body)')
      .or('body.eq.crisp,pos.gt.1', { referencedTable: 'notes' })
      .eq('id', 1);
    expect(onEmbed.data).toEqual([{ id: 1, notes: [{ body: 'crisp' }] }]);
  });

  it('not() with is, in and contains', async () => {
    const notNull = await project.service.from('items').select('id').not('rank', 'is', null).order('id');
    expect(ids(notNull.data)).toEqual([1, 3]);
    const notIn = await project.service.from('items').select('id').not('id', 'in', '(1,2)').order('id');
    expect(ids(notIn.data)).toEqual([3, 4]);
    const notContains = await project.service
      .from('items')
      .select('id')
      .not('tags', 'cs', '{red}')
      .order('id');
    expect(ids(notContains.data)).toEqual([2, 4]);
  });

  it('is() with null, true and false', async () => {
    expect(ids((await project.service.from('items').select('id').is('flag', null).order('id')).data)).toEqual(
      [3, 4],
    );
    expect(ids((await project.service.from('items').select('id').is('flag', true)).data)).toEqual([1]);
    expect(ids((await project.service.from('items').select('id').is('flag', false)).data)).toEqual([2]);
  });

  it('contains / containedBy / overlaps on arrays', async () => {
    const contains = await project.service.from('items').select('id').contains('tags', ['red']).order('id');
    expect(ids(contains.data)).toEqual([1, 3]);
    const within = await project.service
      .from('items')
      .select('id')
      .containedBy('tags', ['vehicle', 'red', 'blue'])
      .order('id');
    expect(ids(within.data)).toEqual([3, 4]);
    const overlap = await project.service
      .from('items')
      .select('id')
      .overlaps('tags', ['green', 'vehicle'])
      .order('id');
    expect(ids(overlap.data)).toEqual([2, 3, 4]);
  });

  it('contains / containedBy on jsonb', async () => {
    const contains = await project.service
      .from('items')
      .select('id')
      .contains('meta', { color: 'red' })
      .order('id');
    expect(ids(contains.data)).toEqual([1, 3]);
    const nested = await project.service
      .from('items')
      .select('id')
      .contains('meta', { size: { w: 3 } });
    expect(ids(nested.data)).toEqual([1]);
    const within = await project.service
      .from('items')
      .select('id')
      .containedBy('meta', { color: 'green', wheels: 4 })
      .order('id');
    expect(ids(within.data)).toEqual([2, 4]);
  });

  it('range operators: contains, overlaps, strictly left/right, not extending, adjacent', async () => {
    const q = () => project.service.from('items').select('id').order('id');
    expect(ids((await q().contains('during', '[2,3]')).data)).toEqual([1]);
    expect(ids((await q().containedBy('during', '[0,10)')).data)).toEqual([1, 2]);
    expect(ids((await q().overlaps('during', '[4,6)')).data)).toEqual([1, 2]);
    expect(ids((await q().rangeGt('during', '[0,5)')).data)).toEqual([2, 3]);
    expect(ids((await q().rangeLt('during', '[10,11)')).data)).toEqual([1, 2]);
    expect(ids((await q().rangeGte('during', '[5,6)')).data)).toEqual([2, 3]);
    expect(ids((await q().rangeLte('during', '[0,10)')).data)).toEqual([1, 2]);
    expect(ids((await q().rangeAdjacent('during', '[20,30)')).data)).toEqual([3]);
  });

  it('match() and filter() with raw operators', async () => {
    const matched = await project.service.from('items').select('id').match({ rank: 2, name: 'red apple' });
    expect(ids(matched.data)).toEqual([1]);
    const q = () => project.service.from('items').select('id').order('id');
    expect(ids((await q().filter('tags', 'cs', '{fruit}')).data)).toEqual([1, 2]);
    expect(ids((await q().filter('name', 'in', '("red apple","blue, \\"quoted\\" (car)")')).data)).toEqual([
      1, 4,
    ]);
    expect(ids((await q().filter('name', 'like', '*apple')).data)).toEqual([1, 2]);
    expect(ids((await q().filter('name', 'match', '^red')).data)).toEqual([1, 3]);
    expect(ids((await q().filter('name', 'imatch', '^RED')).data)).toEqual([1, 3]);
    expect(ids((await q().filter('rank', 'isdistinct', '2')).data)).toEqual([2, 3, 4]);
    expect(ids((await q().filter('meta->>color', 'eq', 'red')).data)).toEqual([1, 3]);
    expect(ids((await q().filter('meta->size->w', 'eq', '3')).data)).toEqual([1]);
  });

  it('likeAllOf / ilikeAnyOf', async () => {
    const all = await project.service.from('items').select('id').likeAllOf('name', ['%red%', '%apple%']);
    expect(ids(all.data)).toEqual([1]);
    const any = await project.service
      .from('items')
      .select('id')
      .ilikeAnyOf('name', ['%GREEN%', '%CAR%'])
      .order('id');
    expect(ids(any.data)).toEqual([2, 3, 4]);
  });

  it('textSearch() in its four forms, with and without a config, matches Postgres', async () => {
    const truth = async (tsquery: string) =>
      (
        await sql<{ id: number }>(
          project.a.ref,
          `select id from public.docs where to_tsvector(body) @@ ${tsquery} order by id`,
        )
      ).map((r) => r.id);
    const truthEnglish = async (tsquery: string) =>
      (
        await sql<{ id: number }>(
          project.a.ref,
          `select id from public.docs where to_tsvector('english', body) @@ ${tsquery} order by id`,
        )
      ).map((r) => r.id);
    const q = () => project.service.from('docs').select('id').order('id');
    const fts = await q().textSearch('body', "'quick' & 'fox'");
    expect(fts.error).toBeNull();
    expect(ids(fts.data)).toEqual(await truth("to_tsquery('''quick'' & ''fox''')"));
    const english = await q().textSearch('body', 'fox & quick', { config: 'english' });
    expect(ids(english.data)).toEqual(await truthEnglish("to_tsquery('english', 'fox & quick')"));
    const plain = await q().textSearch('body', 'lazy dog', { type: 'plain', config: 'english' });
    expect(ids(plain.data)).toEqual(await truthEnglish("plainto_tsquery('english', 'lazy dog')"));
    const phrase = await q().textSearch('body', 'lazy dog', { type: 'phrase', config: 'english' });
    expect(ids(phrase.data)).toEqual(await truthEnglish("phraseto_tsquery('english', 'lazy dog')"));
    const web = await q().textSearch('body', '"brown dog" -fox', { type: 'websearch', config: 'english' });
    expect(ids(web.data)).toEqual(await truthEnglish(`websearch_to_tsquery('english', '"brown dog" -fox')`));
    expect(ids(english.data)).toEqual([1, 3]);
    expect(ids(phrase.data)).toEqual([1]);
    expect(ids(web.data)).toEqual([2]);
  });

  it('a large in() list (1,500 ids)', async () => {
    const list = Array.from({ length: 1500 }, (_, i) => i + 1);
    const { data, error } = await project.service.from('items').select('id').in('id', list).order('id');
    expect(error).toBeNull();
    expect(ids(data)).toEqual([1, 2, 3, 4]);
  });
});

describe('counting', () => {
  beforeAll(async () => {
    await sql(
      project.a.ref,
      `create table public.big (id int primary key, grp int not null) with (autovacuum_enabled = false);
       insert into public.big select g, g % 10 from generate_series(1, 1500) g;
       analyze public.big;`,
    );
  });

  const plannedRows = async (where: string) => {
    type Plan = [{ Plan: { 'Plan Rows': number } }];
    const [row] = await sql<{ 'QUERY PLAN': Plan }>(
      project.a.ref,
      `explain (format json) select 1 from public.big ${where}`,
    );
    if (!row) throw new Error('no plan');
    return row['QUERY PLAN'][0].Plan['Plan Rows'];
  };

  it("count: 'planned' is the planner's estimate, with and without rows (head)", async () => {
    // grp is id % 10, which the planner does not know: it expects a tenth of the three ids to match.
    const estimate = await plannedRows('where grp = 3 and id in (3, 13, 23)');
    expect(estimate).not.toBe(3); // the point: it is an estimate, not the count
    const head = await project.service
      .from('big')
      .select('*', { count: 'planned', head: true })
      .eq('grp', 3)
      .in('id', [3, 13, 23]);
    expect(head.error).toBeNull();
    expect(head.data).toBeNull();
    expect(head.count).toBe(estimate);
    const rows = await project.service
      .from('big')
      .select('id', { count: 'planned' })
      .eq('grp', 3)
      .in('id', [3, 13, 23])
      .order('id')
      .range(0, 1);
    expect(rows.error).toBeNull();
    expect(rows.count).toBe(estimate);
    expect(ids(rows.data)).toEqual([3, 13]);
  });

  it("count: 'estimated' is exact up to max_rows, the planner's estimate past it", async () => {
    const small = await project.service.from('items').select('*', { count: 'estimated', head: true });
    expect(small.count).toBe(4);
    const estimate = await plannedRows('');
    const large = await project.service.from('big').select('*', { count: 'estimated', head: true });
    expect(large.error).toBeNull();
    expect(large.count).toBe(Math.max(estimate, 1001));
  });

  it('count on writes: insert, update and delete report how many rows they touched', async () => {
    const inserted = await project.service
      .from('counters')
      .insert([{ id: 10 }, { id: 11 }, { id: 12 }], { count: 'exact' });
    expect(inserted.error).toBeNull();
    expect(inserted.status).toBe(201);
    expect(inserted.count).toBe(3);
    const updated = await project.service.from('counters').update({ n: 5 }, { count: 'exact' }).gte('id', 10);
    expect(updated.error).toBeNull();
    expect(updated.count).toBe(3);
    const deleted = await project.service
      .from('counters')
      .delete({ count: 'exact' })
      .gte('id', 11)
      .select('id');
    expect(deleted.error).toBeNull();
    expect(deleted.count).toBe(2);
    expect(ids(deleted.data)?.sort()).toEqual([11, 12]);
  });
});

describe('writes', () => {
  it('insert with defaultToNull: false and upsert with ignoreDuplicates on a named conflict column', async () => {
    const inserted = await project.service
      .from('counters')
      .insert([{ id: 20, label: 'twenty' }, { id: 21 }], { defaultToNull: false })
      .select('id, label, n');
    expect(inserted.error).toBeNull();
    expect(inserted.data).toEqual([
      { id: 20, label: 'twenty', n: 0 },
      { id: 21, label: 'none', n: 0 },
    ]);
    const upserted = await project.service
      .from('counters')
      .upsert(
        [
          { id: 20, label: 'changed', n: 9 },
          { id: 22, label: 'new', n: 1 },
        ],
        { onConflict: 'id', ignoreDuplicates: true },
      )
      .select('id, label, n');
    expect(upserted.error).toBeNull();
    expect(upserted.status).toBe(201);
    expect(upserted.data).toEqual([{ id: 22, label: 'new', n: 1 }]);
    const merged = await project.service
      .from('counters')
      .upsert([{ id: 21, n: 7 }], { onConflict: 'id', defaultToNull: false })
      .select('id, label, n');
    expect(merged.error).toBeNull();
    // missing=default with a merge: the omitted column takes its default on insert, and on update too.
    expect(merged.data).toEqual([{ id: 21, label: 'none', n: 7 }]);
  });

  it('delete().select() returns the deleted rows', async () => {
    await sql(project.a.ref, "insert into public.counters values (30, 'x', 1), (31, 'y', 2), (32, 'z', 3)");
    const { data, error, status } = await project.service
      .from('counters')
      .delete()
      .in('id', [30, 31, 32])
      .select('id, label');
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data?.sort((x, y) => x.id - y.id)).toEqual([
      { id: 30, label: 'x' },
      { id: 31, label: 'y' },
      { id: 32, label: 'z' },
    ]);
    expect(await sql(project.a.ref, 'select id from public.counters where id in (30, 31, 32)')).toEqual([]);
  });

  it('insert().select().maybeSingle() / single() on a bulk insert of two → 406 PGRST116, nothing kept', async () => {
    const two = await project.service
      .from('counters')
      .insert([{ id: 40 }, { id: 41 }])
      .select('id')
      .single();
    expect(two.status).toBe(406);
    expect(two.error).toEqual({
      code: 'PGRST116',
      details: 'The result contains 2 rows',
      hint: null,
      message: 'Cannot coerce the result to a single JSON object',
    });
    expect(await sql(project.a.ref, 'select id from public.counters where id in (40, 41)')).toEqual([]);
  });
});

describe('rpc', () => {
  it('rpc(..., { get: true }) with a scalar and an array argument', async () => {
    const scalar = await project.service.rpc('shout', { word: 'hello 🎉 名前 & more' }, { get: true });
    expect(scalar.error).toBeNull();
    expect(scalar.data).toBe('HELLO 🎉 名前 & MORE!');
    const array = await project.service.rpc('sum_ids', { ids: [1, 2, 3] }, { get: true });
    expect(array.error).toBeNull();
    expect(array.data).toBe(6);
    const posted = await project.service.rpc('sum_ids', { ids: [4, 5] });
    expect(posted.data).toBe(9);
  });

  it('rpc(..., { head: true }) runs the function and answers no body', async () => {
    const head = await project.service.rpc('shout', { word: 'x' }, { head: true });
    expect(head.error).toBeNull();
    expect(head.status).toBe(200);
    expect(head.data).toBeNull();
    const counted = await project.service.rpc('item_names', { min_id: 2 }, { head: true, count: 'exact' });
    expect(counted.error).toBeNull();
    expect(counted.count).toBe(3);
  });

  it('a set-returning rpc with select, embedded rows, filters, order, range and single()', async () => {
    const { data, error } = await project.service
      .rpc('item_names', { min_id: 1 })
      .select('id, notes(body)')
      .contains('tags', ['red'])
      .order('id', { ascending: false })
      .range(0, 0);
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 3, notes: [{ body: 'fast' }] }]);
    const one = await project.service.rpc('item_names', { min_id: 4 }).select('name').single();
    expect(one.error).toBeNull();
    expect(one.data).toEqual({ name: 'blue, "quoted" (car)' });
  });

  it('rpc with an unknown function → 404 PGRST202 with a hint naming a close one', async () => {
    const { error, status } = await project.service.rpc('shoutt', { word: 'x' });
    expect(status).toBe(404);
    expect(error).toEqual({
      code: 'PGRST202',
      details:
        'Searched for the function public.shoutt with parameter word or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function public.shout',
      message: 'Could not find the function public.shoutt(word) in the schema cache',
    });
  });
});

describe('client-side controls', () => {
  it('abortSignal(): an aborted request resolves with an AbortError and no data', async () => {
    const controller = new AbortController();
    const pending = project.service.rpc('nap', { seconds: 2 }).abortSignal(controller.signal);
    setTimeout(() => controller.abort(), 100);
    const { data, error, status } = await pending;
    expect(data).toBeNull();
    expect(status).toBe(0);
    expect(error?.message).toMatch(/AbortError/);
    // The project keeps serving.
    const after = await project.service.from('items').select('id').eq('id', 1);
    expect(after.data).toEqual([{ id: 1 }]);
  });

  it("anon's 3 s statement timeout (hosted Supabase's role setting) → 500 57014; service_role has none", async () => {
    const anon = supabaseFor(project.a.ref, project.a.publishableKey);
    const slow = await anon.rpc('nap', { seconds: 3.5 });
    expect(slow.status).toBe(500);
    expect(slow.error).toEqual({
      code: '57014',
      details: null,
      hint: null,
      message: 'canceling statement due to statement timeout',
    });
    const served = await project.service.rpc('nap', { seconds: 3.5 });
    expect(served.error).toBeNull();
    expect(served.data).toBe('awake');
  });

  it('throwOnError() on a read throws the PostgREST error', async () => {
    const thrown = await project.service
      .from('items')
      .select('nope')
      .throwOnError()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(thrown).toMatchObject({
      name: 'PostgrestError',
      code: '42703',
      message: 'column items.nope does not exist',
    });
  });
});

describe('values', () => {
  beforeAll(async () => {
    await sql(
      project.a.ref,
      `create table public.values_t (
         id int primary key,
         txt text,
         at timestamptz,
         big bigint,
         num numeric(40,20),
         blob bytea,
         "naïve 名前" text
       );`,
    );
  });

  it('unicode and emoji round-trip through insert, filters and a unicode column name', async () => {
    const text = 'Zoë 🐈‍⬛ 名前 مرحبا 👩🏽‍💻';
    const inserted = await project.service
      .from('values_t')
      .insert({ id: 1, txt: text, 'naïve 名前': '🎉' })
      .select('txt, "naïve 名前"')
      .single();
    expect(inserted.error).toBeNull();
    expect(inserted.data).toEqual({ txt: text, 'naïve 名前': '🎉' });
    const found = await project.service.from('values_t').select('id').eq('txt', text);
    expect(found.data).toEqual([{ id: 1 }]);
    const liked = await project.service.from('values_t').select('id').like('txt', '%🐈‍⬛%');
    expect(liked.data).toEqual([{ id: 1 }]);
    const byColumn = await project.service.from('values_t').select('id').eq('naïve 名前', '🎉');
    expect(byColumn.error).toBeNull();
    expect(byColumn.data).toEqual([{ id: 1 }]);
  });

  it('timestamptz: written with any offset, read back in UTC, filtered by instant', async () => {
    const { data, error } = await project.service
      .from('values_t')
      .insert({ id: 2, at: '2026-03-29T01:30:00+05:30' })
      .select('at')
      .single();
    expect(error).toBeNull();
    expect(data).toEqual({ at: '2026-03-28T20:00:00+00:00' });
    const sameInstant = await project.service
      .from('values_t')
      .select('id')
      .eq('at', '2026-03-28T21:00:00+01:00');
    expect(sameInstant.data).toEqual([{ id: 2 }]);
    const later = await project.service.from('values_t').select('id').gt('at', '2026-03-28T19:59:59Z');
    expect(later.data).toEqual([{ id: 2 }]);
  });

  it('bigint and numeric keep every digit on the wire', async () => {
    const written = await project.service
      .from('values_t')
      .insert({ id: 3, big: '9007199254740993', num: '12345678901234567890.01234567890123456789' })
      .select('id');
    expect(written.error).toBeNull();
    const raw = await rest(project.a.ref, 'values_t?select=big,num&id=eq.3', { key: project.a.secretKey });
    expect(raw.status, raw.text).toBe(200);
    expect(raw.text).toBe('[{"big":9007199254740993,"num":12345678901234567890.01234567890123456789}]');
    const filtered = await project.service.from('values_t').select('id').eq('big', '9007199254740993');
    expect(filtered.data).toEqual([{ id: 3 }]);
    const asText = await project.service.from('values_t').select('big::text').eq('id', 3).single();
    expect(asText.data).toEqual({ big: '9007199254740993' });
  });

  it('bytea reads as Postgres hex text and writes from it', async () => {
    const written = await project.service
      .from('values_t')
      .insert({ id: 4, blob: '\\xdeadbeef' })
      .select('blob')
      .single();
    expect(written.error).toBeNull();
    expect(written.data).toEqual({ blob: '\\xdeadbeef' });
    const [{ hex }] = (await sql<{ hex: string }>(
      project.a.ref,
      "select encode(blob, 'hex') as hex from public.values_t where id = 4",
    )) as [{ hex: string }];
    expect(hex).toBe('deadbeef');
    const read = await project.service.from('items').select('blob').eq('id', 1).single();
    expect(read.data).toEqual({ blob: '\\x6869' });
  });
});

project.secondProjectUntouched(
  "select (select count(*)::int from public.counters) n, to_regclass('public.values_t') is null as absent",
  [{ n: 2, absent: true }],
);
