import { beforeAll, describe, expect, it } from 'vitest';
import { admin, type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { eventually } from './support/projects.js';

// The ninth PostgREST 12.2 sweep, raw through the gateway: Postgres's messages name relations as
// PostgREST's own query does (QueryBuilder.hs fromF: the table unaliased, a function's rows as the
// function, an embed `<table>_<depth>`, a many-to-many target unaliased, a related order's join
// `<table>_<rel>_<depth>`), a related order reads the column its embed shows (pgFmtOrderTerm),
// `nulls=stripped` strips a JSON function's values (SqlFragment.hs asJsonF), a JSON or CSV body's
// variadic argument is read like any other argument (CallPlan.hs jsonRpcParams lists only a query's
// or form's values), and an embed of only empty embeds is left out.

const SCHEMA = `
create table public.parents (id int primary key, name text);
create table public.kids (id int primary key, parent_id int references public.parents(id), name text, n int);
create table public.tags (id int primary key, label text);
create table public.kid_tags (kid_id int references public.kids(id), tag_id int references public.tags(id),
  primary key (kid_id, tag_id));
insert into public.parents values (1, 'p1'), (2, 'p2');
insert into public.kids values (1, 1, 'k1', 1), (2, 1, 'k2', 2), (3, 2, 'k3', 3);
insert into public.tags values (1, 't1'), (2, 't2');
insert into public.kid_tags values (1, 1), (1, 2), (2, 2);
create function public.kids_of(p int) returns setof public.kids language sql stable as
  $$ select * from public.kids where parent_id = p $$;
create function public.doc() returns json language sql stable as
  $$ select '{"a":null,"b":{"c":null,"d":1},"e":[null,{"f":null}]}'::json $$;
create function public.docs() returns setof jsonb language sql stable as
  $$ values ('{"a":null,"b":1}'::jsonb), ('null'::jsonb), (null) $$;
create function public.var_ints(variadic v int[]) returns int[] language sql immutable as $$ select v $$;
`;

const project = exploreProjects('leftovers9', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key. */
const call = (
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) => rawRest(project.a.ref, project.a.secretKey, target, init);
const answer = (res: HttpResult) => [res.status, res.json()];
const grouping = (column: string) => ({
  code: '42803',
  message: `column "${column}" must appear in the GROUP BY clause or be used in an aggregate function`,
  details: null,
  hint: null,
});

beforeAll(async () => {
  // Aggregates, as an operator switches them on (hosted Supabase's db-aggregates-enabled), on A only.
  const res = await admin('PATCH', `/v1/projects/${project.a.ref}/postgrest`, {
    db_aggregates_enabled: true,
  });
  expect(res.status, res.text).toBe(200);
  await eventually(async () => (await call('kids?select=count()')).status === 200, 5_000);
});

describe("Postgres's messages name relations as PostgREST's query does", () => {
  it('a grouping error (42803) names the table, the function, an embed as `<table>_<depth>`', async () => {
    expect(answer(await call('kids?select=n.sum()&order=id'))).toEqual([400, grouping('kids.id')]);
    expect(answer(await call('rpc/kids_of?p=1&select=n.sum()&order=id'))).toEqual([
      400,
      grouping('kids_of.id'),
    ]);
    expect(answer(await call('parents?select=name,kids(n.sum())&kids.order=id'))).toEqual([
      400,
      grouping('kids_1.id'),
    ]);
  });

  it('a many-to-many target is named by its own name (42803 and 42703)', async () => {
    expect(answer(await call('parents?select=id,kids(id,tags(label.max()))&kids.tags.order=id'))).toEqual([
      400,
      grouping('tags.id'),
    ]);
    expect(answer(await call('kids?select=id,tags(nope)'))).toEqual([
      400,
      { code: '42703', message: 'column tags.nope does not exist', details: null, hint: null },
    ]);
  });
});

describe('a related order reads the column its embed shows', () => {
  it('by an alias; a column the embed leaves out is 42703 naming the join', async () => {
    expect(answer(await call('kids?select=id,parents(n:name)&order=parents(n).desc,id'))).toEqual([
      200,
      [
        { id: 3, parents: { n: 'p2' } },
        { id: 1, parents: { n: 'p1' } },
        { id: 2, parents: { n: 'p1' } },
      ],
    ]);
    expect(answer(await call('kids?select=id,parents(id)&order=parents(name)'))).toEqual([
      400,
      {
        code: '42703',
        message: 'column kids_parents_1.name does not exist',
        details: null,
        hint: null,
      },
    ]);
    // Postgres's hint, about the join by PostgREST's name for it.
    expect(answer(await call('kids?select=id,parents(name)&order=parents(nam)'))).toEqual([
      400,
      {
        code: '42703',
        message: 'column kids_parents_1.nam does not exist',
        details: null,
        hint: 'Perhaps you meant to reference the column "kids_parents_1.name".',
      },
    ]);
  });

  it("a spread's grouped column orders aggregates", async () => {
    expect(answer(await call('kids?select=n.sum(),...parents(name)&order=parents(name).desc'))).toEqual([
      200,
      [
        { sum: 3, name: 'p2' },
        { sum: 3, name: 'p1' },
      ],
    ]);
  });
});

describe('nulls=stripped on functions returning JSON', () => {
  const stripped = { accept: 'application/vnd.pgrst.array+json;nulls=stripped' };

  it("strips a value's null fields at every depth, and each of a set's", async () => {
    const one = await call('rpc/doc', { headers: stripped });
    expect(answer(one)).toEqual([200, { b: { d: 1 }, e: [null, {}] }]);
    expect(one.headers['content-type']).toBe(
      'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8',
    );
    expect(answer(await call('rpc/docs', { headers: stripped }))).toEqual([200, [{ b: 1 }, null, null]]);
    expect((await call('rpc/doc')).json()).toEqual({ a: null, b: { c: null, d: 1 }, e: [null, { f: null }] });
  });
});

describe("a variadic argument of a JSON or CSV body is the key's value as it is", () => {
  const post = (body: string, type = 'application/json') =>
    call('rpc/var_ints', { method: 'POST', headers: { 'content-type': type }, body });

  it('an array literal string is the array, a number 22P02; lists still fill it', async () => {
    expect(answer(await post('{"v":"{1,2}"}'))).toEqual([200, [1, 2]]);
    expect(answer(await post('{"v":1}'))).toEqual([
      400,
      { code: '22P02', message: 'expected JSON array', details: null, hint: 'See the value of key "v".' },
    ]);
    expect(answer(await post('v\n"{3,4}"', 'text/csv'))).toEqual([200, [3, 4]]);
    expect(answer(await post('{"v":[5,6]}'))).toEqual([200, [5, 6]]);
    expect(answer(await call('rpc/var_ints?v=7&v=8'))).toEqual([200, [7, 8]]);
    expect(answer(await post('v=1&v=2', 'application/x-www-form-urlencoded'))).toEqual([200, [1, 2]]);
  });
});

describe('an embed of only empty embeds is left out (PostgREST 12.2.2+, Plan.hs rsEmptyEmbed)', () => {
  it('at any depth, to-one and to-many, while !inner still filters', async () => {
    expect(answer(await call('parents?select=id,kids(tags())&order=id'))).toEqual([
      200,
      [{ id: 1 }, { id: 2 }],
    ]);
    expect(answer(await call('kids?select=id,parents(kids(tags()))&order=id&limit=1'))).toEqual([
      200,
      [{ id: 1 }],
    ]);
    expect(
      answer(await call('parents?select=*,kids!inner(tags!inner())&kids.tags.label=eq.t1&order=id')),
    ).toEqual([200, [{ id: 1, name: 'p1' }]]);
  });
});

project.secondProjectUntouched('select id, parent_id, name, n from public.kids order by id', [
  { id: 1, parent_id: 1, name: 'k1', n: 1 },
  { id: 2, parent_id: 1, name: 'k2', n: 2 },
  { id: 3, parent_id: 2, name: 'k3', n: 3 },
]);
