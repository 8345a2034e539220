import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// The fifth PostgREST 12.2 sweep: how functions are found and called (overloads, variadic and
// form arguments, `columns=`, char/bit parameters, a function's own settings), and the ordering,
// CSV and singular answers the earlier sweeps did not reach, raw through gateway, SigV4 and the
// Lambda emulator. Expected answers are PostgREST v12.2.9's (test/spec and src, named per test).

const SCHEMA = `
create table public.clients (id int primary key, name text);
create table public.projects (id int primary key, name text not null, client_id int references public.clients(id), data jsonb);
insert into public.clients values (1, 'Microsoft'), (2, 'Apple'), (3, null);
insert into public.projects values
  (1, 'Windows', 1, '{"x": "b"}'), (2, 'Office', 1, '{"x": "a"}'), (3, 'IOS', 2, null),
  (4, 'OSX', 2, '{"x": "c"}'), (5, 'Orphan', null, '{}');
create function public.variadic_param(variadic v text[] default '{}') returns text[] immutable language sql as $$ select v $$;
create function public.say_hello(name text) returns text immutable language sql as $$ select 'Hello, ' || name $$;
create function public.add_them(a int, b int) returns int immutable language sql as $$ select a + b $$;
create function public.overloaded() returns setof int language sql as $$ values (1), (2), (3) $$;
create function public.overloaded(single_param json) returns json language sql as $$ select single_param $$;
create function public.overloaded(a int, b int) returns int language sql as $$ select a + b $$;
create function public.overloaded(a text, b text, c text) returns text language sql as $$ select a || b || c $$;
create function public.unnamed_param() returns int language sql as $$ select 1 $$;
create function public.unnamed_param(x int, y int) returns int language sql as $$ select x + y $$;
create function public.unnamed_param(json) returns json language sql as $$ select $1 $$;
create function public.unnamed_json_jsonb(json) returns json language sql as $$ select $1 $$;
create function public.unnamed_json_jsonb(jsonb) returns jsonb language sql as $$ select $1 $$;
create function public.char_param(c char, cs char[], b bit, bs bit[]) returns json language sql
  as $$ select json_build_object('c', c, 'cs', cs, 'b', b, 'bs', bs) $$;
create function public.single_out(num int, out num_plus_one int) language sql as $$ select num + 1 $$;
create function public.single_inout(inout num int) language sql as $$ select num + 1 $$;
create function public.get_project(id int) returns public.projects language sql stable
  as $$ select * from public.projects p where p.id = $1 $$;
create function public.all_projects() returns setof public.projects language sql stable as $$ select * from public.projects $$;
create function public.ret_void() returns void language sql as $$ select $$;
create function public.pinned_path() returns text language sql set search_path = pg_catalog
  as $$ select current_setting('search_path') $$;
create function public.slow_with_timeout() returns int language plpgsql set statement_timeout = '200ms'
  as $$ begin perform pg_sleep(1); return 1; end $$;
create function public.unnamed_int(int) returns int language sql as $$ select $1 $$;
create table public.docs (id int primary key, data json);
create function public.client_label(public.clients) returns text language sql immutable
  as $$ select coalesce($1.name, '?') || '#' || $1.id $$;
create function public.first_project(public.clients) returns setof public.projects rows 1 language sql stable
  as $$ select * from public.projects where client_id = $1.id order by id limit 1 $$;
create function public.timeout_setting() returns text language sql set statement_timeout = '7s'
  as $$ select current_setting('statement_timeout') $$;
`;

const project = exploreProjects('leftovers5', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);
const form = (target: string, body: string, prefer?: string) =>
  raw(target, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(prefer ? { prefer } : {}) },
    body,
  });
const postJson = (target: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

/** The `id`s of a JSON list answer, in order. */
const ids = (res: { json: () => unknown }) => (res.json() as { id: number }[]).map((r) => r.id);
/** A field of a JSON error answer. */
const field = (res: { json: () => unknown }, name: 'code' | 'details') =>
  (res.json() as Record<string, unknown>)[name];

describe('function arguments from a form body', () => {
  // RpcSpec "works with POST and repeated params from html form": a form's pairs are read as a
  // query string's (Plan.hs callReadPlan: jsonRpcParams over payArray).
  it('fill a variadic argument with every repeated key, as GET does', async () => {
    const answers = await Promise.all(['', 'v=hi', 'v=hi&v=there'].map((b) => form('rpc/variadic_param', b)));
    expect(answers.map((r) => [r.status, r.json()])).toEqual([
      [200, []],
      [200, ['hi']],
      [200, ['hi', 'there']],
    ]);
    const get = await raw('rpc/variadic_param?v=hi&v=there');
    expect(get.json()).toEqual(['hi', 'there']);
  });

  it('keep the last value of a repeated key that is no variadic argument (RpcSpec)', async () => {
    const res = await form('rpc/say_hello', 'name=ignored&name=world');
    expect([res.status, res.json()]).toEqual([200, 'Hello, world']);
  });
});

describe('POST /rpc with columns=', () => {
  // RpcSpec "ignores json keys not included in ?columns": the columns are the arguments
  // (ApiRequest.hs getPayload: RawJSON, iColumns), the other keys of the body are dropped.
  it('passes only the named keys, from the first object of a list', async () => {
    const one = await postJson('rpc/say_hello?columns=name', { name: 'John', smth: 'here', fake_id: 13 });
    expect([one.status, one.json()]).toEqual([200, 'Hello, John']);
    const list = await postJson('rpc/add_them?columns=a,b', [
      { a: 1, b: 2, c: 9 },
      { a: 4, b: 6, c: 9 },
    ]);
    expect([list.status, list.json()]).toEqual([200, 3]);
  });

  it('a named column missing from the body is a NULL argument', async () => {
    const res = await postJson('rpc/add_them?columns=a,b', { a: 1 });
    expect([res.status, res.json()]).toEqual([200, null]);
  });
});

describe('overloaded functions', () => {
  it('are told apart by their argument names, by GET, JSON and form (RpcSpec "should work with an overloaded function")', async () => {
    const answers = await Promise.all([
      raw('rpc/overloaded'),
      raw('rpc/overloaded?a=1&b=2'),
      raw('rpc/overloaded?a=1&b=2&c=3'),
      form('rpc/overloaded', ''),
      form('rpc/overloaded', 'a=1&b=2'),
      form('rpc/overloaded', 'a=1&b=2&c=3'),
      form('rpc/overloaded', 'a=1&b=2&c=3', 'params=single-object'),
      postJson('rpc/overloaded', [{ x: 1 }], { prefer: 'params=single-object' }),
    ]);
    expect(answers.map((r) => [r.status, r.json()])).toEqual([
      [200, [1, 2, 3]],
      [200, 3],
      [200, '123'],
      [200, [1, 2, 3]],
      [200, 3],
      [200, '123'],
      [200, { a: '1', b: '2', c: '3' }],
      [200, [{ x: 1 }]],
    ]);
  });

  it('fall back to the one unnamed json parameter for a JSON body only (Plan.hs findProc hasSingleUnnamedParam)', async () => {
    const json = await Promise.all([
      postJson('rpc/unnamed_param', {}),
      postJson('rpc/unnamed_param', { x: 1, y: 2 }),
      postJson('rpc/unnamed_param', { A: 1, B: 2 }),
    ]);
    expect(json.map((r) => [r.status, r.json()])).toEqual([
      [200, 1],
      [200, 3],
      [200, { A: 1, B: 2 }],
    ]);
    // RpcSpec "should fail to fallback … when using an unsupported Content-Type header".
    const notFound = {
      code: 'PGRST202',
      message: 'Could not find the function public.unnamed_param(a, b) in the schema cache',
      details:
        'Searched for the function public.unnamed_param with parameters a, b, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function public.unnamed_param(x, y)',
    };
    const csv = await raw('rpc/unnamed_param', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'a,b\n1,2',
    });
    expect([csv.status, csv.json()]).toEqual([404, notFound]);
    const byForm = await form('rpc/unnamed_param', 'a=1&b=2');
    expect([byForm.status, byForm.json()]).toEqual([404, notFound]);
  });

  it('two unnamed json and jsonb ones → 300 PGRST203 naming each parameter as ` => type` (Error.hs AmbiguousRpc)', async () => {
    const res = await postJson('rpc/unnamed_json_jsonb', { A: 1 });
    expect([res.status, res.json()]).toEqual([
      300,
      {
        code: 'PGRST203',
        message:
          'Could not choose the best candidate function between: public.unnamed_json_jsonb( => json), public.unnamed_json_jsonb( => jsonb)',
        details: null,
        hint: 'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
      },
    ]);
  });
});

describe('functions PostgREST cannot call', () => {
  // SchemaCache.hs allFunctions keeps only callable ones: unnamed parameters only as the one
  // json/jsonb/text/xml/bytea parameter of a raw body. Others are not in the cache at all.
  it('an unnamed int parameter: 404 PGRST202 as for no function, no hint at its own parameter list', async () => {
    const res = await postJson('rpc/unnamed_int', {});
    const body = res.json() as Record<string, unknown>;
    expect([res.status, body.code, body.message, body.details]).toEqual([
      404,
      'PGRST202',
      'Could not find the function public.unnamed_int without parameters in the schema cache',
      'Searched for the function public.unnamed_int without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
    ]);
    // The hint is a fuzzy match among the other functions' names, never `unnamed_int()`.
    expect(String(body.hint)).not.toContain('unnamed_int');
  });
});

describe('char and bit parameters', () => {
  // RpcSpec "modifies the param type from character to character varying" (and bit to bit
  // varying): SchemaCache.hs casts such arguments to the varying type, so nothing is cut to one.
  it('take the whole value, arrays too', async () => {
    const res = await raw('rpc/char_param?c=abc&cs={ab,cde}&b=101&bs={1,101}');
    expect([res.status, res.json()]).toEqual([
      200,
      { c: 'abc', cs: ['ab', 'cde'], b: '101', bs: ['1', '101'] },
    ]);
  });
});

describe("a function's own settings", () => {
  // Query.hs setPgLocals funcSettingsSql: the function's statement_timeout (db-hoisted-tx-settings,
  // Config.hs defaultHoistedAllowList) is set for the transaction, after the role's.
  it('its statement_timeout bounds the call it is made in', async () => {
    const res = await raw('rpc/slow_with_timeout');
    expect([res.status, field(res, 'code')]).toEqual([500, '57014']);
    const anon = await rawRest(project.a.ref, project.a.publishableKey, 'rpc/timeout_setting');
    expect([anon.status, anon.json()]).toEqual([200, '7s']);
  });

  it('its search_path applies inside it only (Postgres)', async () => {
    const res = await raw('rpc/pinned_path');
    expect([res.status, res.json()]).toEqual([200, 'pg_catalog']);
  });
});

describe('function results, checked against PostgREST 12.2 and already alike', () => {
  it('one OUT or INOUT parameter is an object; a composite of no row is an object of nulls (RpcSpec)', async () => {
    const answers = await Promise.all([
      raw('rpc/single_out?num=5'),
      raw('rpc/single_inout?num=2'),
      raw('rpc/get_project?id=1&select=name,clients(name)'),
      raw('rpc/get_project?id=99'),
    ]);
    expect(answers.map((r) => [r.status, r.json()])).toEqual([
      [200, { num_plus_one: 6 }],
      [200, { num: 3 }],
      [200, { name: 'Windows', clients: { name: 'Microsoft' } }],
      [200, { id: null, name: null, client_id: null, data: null }],
    ]);
  });

  it('SETOF composite takes select, filters, order, limit and an exact count; void is 204 without a type', async () => {
    const rows = await raw('rpc/all_projects?select=id,name&id=gt.2&order=name.desc&limit=2', {
      headers: { prefer: 'count=exact' },
    });
    expect([rows.status, rows.headers['content-range'], rows.json()]).toEqual([
      206,
      '0-1/3',
      [
        { id: 5, name: 'Orphan' },
        { id: 4, name: 'OSX' },
      ],
    ]);
    const none = await raw('rpc/ret_void', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect([none.status, none.text, none.headers['content-type']]).toEqual([204, '', undefined]);
  });

  it('unknown arguments: PGRST202 with the closest parameter list (RpcSpec "unknown function")', async () => {
    const res = await raw('rpc/overloaded?a=1&b=2&wrong_arg=value');
    expect([res.status, res.json()]).toEqual([
      404,
      {
        code: 'PGRST202',
        message: 'Could not find the function public.overloaded(a, b, wrong_arg) in the schema cache',
        details:
          'Searched for the function public.overloaded with parameters a, b, wrong_arg, but no matches were found in the schema cache.',
        hint: 'Perhaps you meant to call the function public.overloaded(a, b, c)',
      },
    ]);
  });
});

describe('ordering, CSV and writes, checked against PostgREST 12.2 and already alike', () => {
  it('nullsfirst / nullslast on a to-one embed column, and on a JSON path', async () => {
    const first = await raw('projects?select=id,clients(name)&order=clients(name).desc.nullsfirst,id');
    expect(ids(first)).toEqual([5, 1, 2, 3, 4]);
    const last = await raw('projects?select=id,clients(name)&order=clients(name).asc.nullslast,id');
    expect(ids(last)).toEqual([3, 4, 1, 2, 5]);
    const path = await raw('projects?select=id&order=data->>x.desc.nullslast,id');
    expect(ids(path)).toEqual([4, 1, 2, 3, 5]);
    // Only by an embedded resource: Plan.hs addRelatedOrders, RelatedQueriesSpec "fails when the
    // resource is not embedded".
    const notEmbedded = await raw('projects?select=id&order=clients(name)');
    expect([notEmbedded.status, notEmbedded.json()]).toEqual([
      400,
      {
        code: 'PGRST108',
        details: null,
        hint: "Verify that 'clients' is included in the 'select' query parameter.",
        message: "'clients' is not an embedded resource in this request",
      },
    ]);
  });

  // PostgREST 12.2 embeds as jsonb (QueryBuilder.hs getJoinSelects), so the text is jsonb's, with its
  // space after the colon (CustomMediaSpec "with embedding" shows the same text).
  it('CSV writes an embedded resource as its jsonb text', async () => {
    const res = await raw('projects?select=id,clients(name)&id=lt.3&order=id', {
      headers: { accept: 'text/csv' },
    });
    expect([res.status, res.text]).toEqual([
      200,
      'id,clients\n1,"{""name"": ""Microsoft""}"\n2,"{""name"": ""Microsoft""}"',
    ]);
  });

  it('a singular PATCH or DELETE of two rows → 406 PGRST116, nothing changed (SingularSpec)', async () => {
    const singular = { accept: 'application/vnd.pgrst.object+json', 'content-type': 'application/json' };
    const patched = await raw('projects?client_id=eq.1', {
      method: 'PATCH',
      headers: singular,
      body: '{"name":"z"}',
    });
    const deleted = await raw('projects?client_id=eq.2', { method: 'DELETE', headers: singular });
    expect([patched.status, field(patched, 'details'), deleted.status, field(deleted, 'details')]).toEqual([
      406,
      'The result contains 2 rows',
      406,
      'The result contains 2 rows',
    ]);
    expect(
      await sql(project.a.ref, 'select count(*)::int as n from public.projects where name = $$z$$'),
    ).toEqual([{ n: 0 }]);
  });

  it('columns= naming an unknown column → 400 PGRST204 naming it (Error.hs ColumnNotFound)', async () => {
    const res = await postJson('clients?columns=id,nope', [{ id: 10, nope: 1 }]);
    expect([res.status, res.json()]).toEqual([
      400,
      {
        code: 'PGRST204',
        message: "Could not find the 'nope' column of 'clients' in the schema cache",
        details: null,
        hint: null,
      },
    ]);
  });
});

describe('columns= and missing=default on inserts', () => {
  it('an empty columns= → 400 PGRST100 expecting a field name, as QueryParams.hs pFieldName words it (InsertSpec)', async () => {
    const res = await postJson('clients?columns=', [{ id: 20 }]);
    expect([res.status, res.json()]).toEqual([
      400,
      {
        code: 'PGRST100',
        message: '"failed to parse columns parameter ()" (line 1, column 1)',
        details: 'unexpected end of input expecting field name (* or [a..z0..9_$])',
        hint: null,
      },
    ]);
  });

  it('a repeated JSON key: json keeps the text sent, missing=default keeps the last (InsertSpec, already alike)', async () => {
    const body = (id: number) => `{ "data": { "a": 1, "a": 2 }, "id": ${id} }`;
    const send = (id: number, prefer: string) =>
      raw('docs?columns=id,data', {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer },
        body: body(id),
      });
    const plain = await send(1, 'return=representation');
    expect([plain.status, plain.text]).toEqual([201, '[{"id":1,"data":{ "a": 1, "a": 2 }}]']);
    const defaulted = await send(2, 'return=representation, missing=default');
    expect([defaulted.status, defaulted.json()]).toEqual([201, [{ id: 2, data: { a: 2 } }]]);
  });
});

describe('computed fields and relationships, and tx=commit, already alike', () => {
  it('a computed field and a computed to-one relationship in select, filters, order and !inner (ComputedRelsSpec)', async () => {
    const res = await raw(
      'clients?select=id,client_label,first_project!inner(name)&client_label=like.*soft*&order=client_label.desc',
    );
    expect([res.status, res.json()]).toEqual([
      200,
      [{ id: 1, client_label: 'Microsoft#1', first_project: { name: 'Windows' } }],
    ]);
    const none = await raw('clients?select=id,first_project(name)&id=eq.3');
    expect(none.json()).toEqual([{ id: 3, first_project: null }]);
  });

  it('tx=commit where the server allows no override (hosted): applied by nobody, no Preference-Applied (RollbackSpec disallowed)', async () => {
    const res = await postJson('clients', { id: 30, name: 'kept' }, { prefer: 'tx=commit, return=minimal' });
    expect([res.status, res.headers['preference-applied']]).toEqual([201, 'return=minimal']);
    expect(await sql(project.a.ref, 'select name from public.clients where id = 30')).toEqual([
      { name: 'kept' },
    ]);
  });
});

project.secondProjectUntouched('select id, name from public.projects order by id', [
  { id: 1, name: 'Windows' },
  { id: 2, name: 'Office' },
  { id: 3, name: 'IOS' },
  { id: 4, name: 'OSX' },
  { id: 5, name: 'Orphan' },
]);
