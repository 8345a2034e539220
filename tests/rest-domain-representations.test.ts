import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { eventually, sql } from './support/projects.js';

// PostgREST's domain representations (docs.postgrest.org "Domain Representations"; v12.2
// SchemaCache.hs dataRepresentations, Plan.hs withTransformer, Query/SqlFragment.hs; cases after
// test/spec QuerySpec, InsertSpec and UpdateSpec "Data representations"): for a column of a domain,
// implicit casts with a function change how it is written in JSON answers (domain AS json), read
// from JSON bodies (json AS domain) and from filter values (text AS domain). Raw through the gateway,
// and supabase-js.

const SCHEMA = `
create domain public.color as integer check (value >= 0 and value <= 16777215);
create function public.color(text) returns public.color language sql immutable as
  $$ select (('x' || lpad(ltrim($1, '#'), 8, '0'))::bit(32)::int)::public.color $$;
create function public.color(json) returns public.color language sql immutable as $$ select public.color($1 #>> '{}') $$;
create function public.json(public.color) returns json language sql immutable as
  $$ select case when $1 is null then to_json(''::text) else to_json('#' || lpad(upper(to_hex($1)), 6, '0')) end $$;
create cast (public.color as json) with function public.json(public.color) as implicit;
create cast (json as public.color) with function public.color(json) as implicit;
create cast (text as public.color) with function public.color(text) as implicit;
create domain public.isodate as timestamptz;
create function public.isodate(json) returns public.isodate language sql immutable as
  $$ select replace($1 #>> '{}', 'Z', '+00:00')::timestamptz::public.isodate $$;
create function public.json(public.isodate) returns json language sql immutable as
  $$ select to_json(to_char($1 at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) $$;
create cast (public.isodate as json) with function public.json(public.isodate) as implicit;
create cast (json as public.isodate) with function public.isodate(json) as implicit;
create table public.todos (id int primary key, name text, label_color public.color default 0, due_at public.isodate);
create table public.lists (id int primary key, todo_id int references public.todos(id), name text);
insert into public.todos values (1, 'Report', 0, '2018-01-02'), (2, 'Essay', 256, '2018-01-03 10:00+00'),
  (3, 'Algebra', 123456, null), (4, 'Opus', null, null);
insert into public.lists values (1, 2, 'first'), (2, 1, 'second');
`;

const project = exploreProjects('domainreps', SCHEMA);

/** GET /rest/v1/<target> on the first project with its secret key: status and JSON. */
const get = async (target: string, headers: Record<string, string> = {}) => {
  const res = await rawRest(project.a.ref, project.a.secretKey, target, { headers });
  return [res.status, res.headers['content-type']?.toString().startsWith('text/csv') ? res.text : res.json()];
};

describe('answers', () => {
  it('write a column through its domain AS json cast: selected, aliased, cast after it, starred, embedded (QuerySpec)', async () => {
    expect(await get('todos?select=id,label_color,due_at&order=id')).toEqual([
      200,
      [
        { id: 1, label_color: '#000000', due_at: '2018-01-02T00:00:00Z' },
        { id: 2, label_color: '#000100', due_at: '2018-01-03T10:00:00Z' },
        { id: 3, label_color: '#01E240', due_at: null },
        // The function is called for NULL too; what it answers is shown.
        { id: 4, label_color: '', due_at: null },
      ],
    ]);
    expect(await get('todos?select=clr:label_color,txt:label_color::text&id=eq.2')).toEqual([
      200,
      [{ clr: '#000100', txt: '"#000100"' }],
    ]);
    expect(await get('todos?id=eq.2')).toEqual([
      200,
      [{ id: 2, name: 'Essay', label_color: '#000100', due_at: '2018-01-03T10:00:00Z' }],
    ]);
    expect(await get('lists?select=name,todos(*)&order=id')).toEqual([
      200,
      [
        {
          name: 'first',
          todos: { id: 2, name: 'Essay', label_color: '#000100', due_at: '2018-01-03T10:00:00Z' },
        },
        {
          name: 'second',
          todos: { id: 1, name: 'Report', label_color: '#000000', due_at: '2018-01-02T00:00:00Z' },
        },
      ],
    ]);
  });

  it('order by the stored value, not by what is written', async () => {
    // 123456 (#01E240) sorts after 256 (#000100), though its text would not.
    expect(await get('todos?select=label_color&id=lt.4&order=label_color.desc')).toEqual([
      200,
      [{ label_color: '#01E240' }, { label_color: '#000100' }, { label_color: '#000000' }],
    ]);
  });

  it('apply to CSV too, where the JSON value is a field (PostgREST plans every read for JSON)', async () => {
    expect(await get('todos?select=id,label_color&id=eq.2', { accept: 'text/csv' })).toEqual([
      200,
      'id,label_color\n2,"""#000100"""',
    ]);
  });
});

describe('filters', () => {
  it('read values through the text AS domain cast: eq, neq, in, not.in, in logic trees and on embeds', async () => {
    const ids = async (target: string) => {
      const [status, body] = await get(target);
      return [status, (body as { id: number }[]).map((r) => r.id)];
    };
    expect(await ids('todos?select=id&label_color=eq.000100')).toEqual([200, [2]]);
    expect(await ids('todos?select=id&label_color=eq.%23000100')).toEqual([200, [2]]);
    expect(await ids('todos?select=id&label_color=in.(000100,01E240)&order=id')).toEqual([200, [2, 3]]);
    expect(await ids('todos?select=id&label_color=not.in.(000000,01E240)')).toEqual([200, [2]]);
    expect(await ids('todos?select=id&or=(label_color.eq.01E240,id.eq.1)&order=id')).toEqual([200, [1, 3]]);
    expect(await get('lists?select=id,todos(label_color)&todos.label_color=neq.000100&order=id')).toEqual([
      200,
      [
        { id: 1, todos: null },
        { id: 2, todos: { label_color: '#000000' } },
      ],
    ]);
  });

  it('without a text cast read the value as the base type, not through the JSON cast (QuerySpec)', async () => {
    const [status, body] = await get('todos?select=id&due_at=eq.Z');
    expect([status, (body as { code: string }).code]).toEqual([400, '22007']);
    expect(await get('todos?select=id&due_at=eq.2018-01-02T00:00:00%2B00:00')).toEqual([200, [{ id: 1 }]]);
  });
});

describe('writes with supabase-js', () => {
  it('read JSON bodies through the json AS domain cast on insert, upsert and update, and answer formatted (InsertSpec, UpdateSpec)', async () => {
    const todos = project.service.from('todos');
    const inserted = await todos
      .insert([
        { id: 10, name: 'party', label_color: '#001100', due_at: '2018-01-03T11:00:00Z' },
        { id: 11, name: 'none', label_color: null, due_at: null },
      ])
      .select('id,label_color,due_at');
    expect([inserted.error, inserted.status, inserted.data]).toEqual([
      null,
      201,
      [
        { id: 10, label_color: '#001100', due_at: '2018-01-03T11:00:00Z' },
        { id: 11, label_color: '', due_at: null },
      ],
    ]);
    // Stored as the domain's base type.
    expect(
      await sql(project.a.ref, 'select label_color, due_at::text from public.todos where id = 10'),
    ).toEqual([{ label_color: 0x1100, due_at: '2018-01-03 11:00:00+00' }]);
    const updated = await todos
      .update({ label_color: '#221100' })
      .eq('label_color', '001100')
      .select('id,label_color');
    expect([updated.error, updated.data]).toEqual([null, [{ id: 10, label_color: '#221100' }]]);
    const upserted = await todos
      .upsert({ id: 11, name: 'again', label_color: '#0000FF' })
      .select('id,label_color');
    expect([upserted.error, upserted.data]).toEqual([null, [{ id: 11, label_color: '#0000FF' }]]);
    const read = await todos.select('id,label_color').in('label_color', ['221100', '0000FF']).order('id');
    expect([read.error, read.data]).toEqual([
      null,
      [
        { id: 10, label_color: '#221100' },
        { id: 11, label_color: '#0000FF' },
      ],
    ]);
    const deleted = await todos.delete().in('label_color', ['221100', '0000FF']).select('id');
    expect([deleted.error, deleted.data]).toEqual([null, [{ id: 10 }, { id: 11 }]]);
  });

  it('read only the keys ?columns names (InsertSpec)', async () => {
    const res = await rawRest(
      project.a.ref,
      project.a.secretKey,
      'todos?columns=id,label_color&select=id,name,label_color',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'return=representation' },
        body: JSON.stringify({ id: 12, name: 'ignored', label_color: '#000002', due_at: 'not a date' }),
      },
    );
    expect([res.status, res.json()]).toEqual([201, [{ id: 12, name: null, label_color: '#000002' }]]);
  });
});

describe('schema changes', () => {
  it('a cast created, or dropped, after the first request is used, or not, without a restart', async () => {
    const ref = project.a.ref;
    await sql(
      ref,
      `create domain public.shout as text; create table public.words (id int primary key, w public.shout);
      insert into public.words values (1, 'hi')`,
    );
    expect(await get('words?select=w')).toEqual([200, [{ w: 'hi' }]]);
    await sql(
      ref,
      `create function public.shout_json(public.shout) returns json language sql immutable as $$ select to_json(upper($1)) $$;
      create cast (public.shout as json) with function public.shout_json(public.shout) as implicit`,
    );
    await eventually(
      async () => JSON.stringify(await get('words?select=w')) === JSON.stringify([200, [{ w: 'HI' }]]),
      10_000,
    );
    await sql(ref, 'drop cast (public.shout as json)');
    await eventually(
      async () => JSON.stringify(await get('words')) === JSON.stringify([200, [{ id: 1, w: 'hi' }]]),
      10_000,
    );
  });
});

project.secondProjectUntouched('select id, label_color from public.todos order by id', [
  { id: 1, label_color: 0 },
  { id: 2, label_color: 256 },
  { id: 3, label_color: 123456 },
  { id: 4, label_color: null },
]);
