import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// The eleventh PostgREST 12.2 sweep, raw through the gateway: write bodies as PostgREST plans them.
// With `columns=` it hands a JSON body to Postgres unread (ApiRequest.hs getPayload: RawJSON), so a
// body that is no rows is Postgres's error; a PATCH's `[]` is no row to set from; rows of no column
// upsert with `ON CONFLICT … DO NOTHING` (QueryBuilder.hs); a CSV or form body's keys are its
// columns, `columns=` or not; a form body is http-types' parseSimpleQuery of the whole text.

const SCHEMA = `
create table public.t (id int primary key, name text default 'dflt', n int);
create table public.d (id int default 1 primary key, v text default 'new');
insert into public.t values (1, 'a', 1), (2, 'b', 2);
insert into public.d values (1, 'old');
create function public.add(a int, b int default 100) returns int language sql as $$ select a + b $$;
`;

const project = exploreProjects('leftovers11', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key. */
const call = (
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) => rawRest(project.a.ref, project.a.secretKey, target, init);
const answer = (res: HttpResult) => [res.status, res.json()];
const error = (code: string, message: string, details: string | null = null) => [
  400,
  { code, message, details, hint: null },
];
const json = (prefer = 'return=representation') => ({
  'content-type': 'application/json',
  prefer,
});

describe('a PATCH with columns= and an empty list', () => {
  it('changes no row; a limited one sets NULL', async () => {
    const patched = await call('t?id=eq.1&columns=name', {
      method: 'PATCH',
      headers: json('return=representation, missing=default'),
      body: '[]',
    });
    expect([...answer(patched), patched.headers['content-range']]).toEqual([200, [], '*/*']);
    expect(answer(await call('t?id=eq.1'))).toEqual([200, [{ id: 1, name: 'a', n: 1 }]]);
    const limited = await call('t?columns=name&order=id&limit=1', {
      method: 'PATCH',
      headers: json(),
      body: '[]',
    });
    expect(answer(limited)).toEqual([200, [{ id: 1, name: null, n: 1 }]]);
    await sql(project.a.ref, `update public.t set name = 'a' where id = 1`);
  });
});

describe('with columns= a JSON body that is no rows is Postgres’s error', () => {
  it('a scalar, a list of non-objects, malformed JSON: 22023 / 22P02, nothing written', async () => {
    const post = async (body: string, prefer?: string) =>
      answer(await call('t?columns=id,name', { method: 'POST', headers: json(prefer), body }));
    const patch = async (body: string) =>
      answer(await call('t?id=eq.1&columns=name', { method: 'PATCH', headers: json(), body }));
    const scalar = error('22023', 'cannot call json_to_recordset on a scalar');
    expect(await post('5')).toEqual(scalar);
    expect(await post('[{"id":3},4]')).toEqual(
      error('22023', 'argument of json_to_recordset must be an array of objects'),
    );
    expect(await post('{')).toEqual(
      error('22P02', 'invalid input syntax for type json', 'The input string ended unexpectedly.'),
    );
    expect(await post('5', 'return=representation, missing=default')).toEqual(
      error('22023', 'cannot extract elements from a scalar'),
    );
    expect(await patch('5')).toEqual(scalar);
    expect(await patch('nope')).toEqual(
      error('22P02', 'invalid input syntax for type json', 'Token "nope" is invalid.'),
    );
    // Without columns= PostgREST reads the body itself.
    expect(answer(await call('t', { method: 'POST', headers: json(), body: '{' }))).toEqual(
      error('PGRST102', 'Empty or invalid json'),
    );
    expect(answer(await call('t?select=id&order=id'))).toEqual([200, [{ id: 1 }, { id: 2 }]]);
    // POST /rpc?columns= reads the arguments from it just as unread.
    const rpc = async (body: string) =>
      answer(await call('rpc/add?columns=a', { method: 'POST', headers: json(), body }));
    expect(await rpc('5')).toEqual(scalar);
    expect(await rpc('')).toEqual(
      error('22P02', 'invalid input syntax for type json', 'The input string ended unexpectedly.'),
    );
    expect(await rpc('[{"a":2,"b":3}]')).toEqual([200, 102]);
  });
});

describe('an upsert of rows without columns', () => {
  it('leaves a row whose default key exists alone and answers 201', async () => {
    const upsert = async (resolution: string, body: string) =>
      answer(
        await call('d', {
          method: 'POST',
          headers: json(`return=representation, resolution=${resolution}`),
          body,
        }),
      );
    expect(await upsert('merge-duplicates', '{}')).toEqual([201, []]);
    expect(await upsert('ignore-duplicates', '[{}]')).toEqual([201, []]);
    expect(await upsert('merge-duplicates', '[]')).toEqual([200, []]);
    expect(answer(await call('d'))).toEqual([200, [{ id: 1, v: 'old' }]]);
  });
});

describe('columns= names the columns of a JSON body only', () => {
  it('a CSV or form body writes its own keys; an unknown one is PGRST204', async () => {
    const csv = { 'content-type': 'text/csv', prefer: 'return=representation' };
    const form = { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' };
    expect(answer(await call('t?columns=id', { method: 'POST', headers: csv, body: 'id,n\n6,60' }))).toEqual([
      201,
      [{ id: 6, name: 'dflt', n: 60 }],
    ]);
    expect(
      answer(await call('t?columns=id', { method: 'POST', headers: csv, body: 'id,nope\n7,1' })),
    ).toEqual(error('PGRST204', "Could not find the 'nope' column of 't' in the schema cache"));
    const patched = await call('t?id=eq.6&columns=name', {
      method: 'PATCH',
      headers: form,
      body: 'name=z&n=9',
    });
    expect(answer(patched)).toEqual([200, [{ id: 6, name: 'z', n: 9 }]]);
    await sql(project.a.ref, 'delete from public.t where id > 2');
  });
});

describe('a form body read whole as parseSimpleQuery reads it', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' };

  it('nothing trimmed, one leading ? dropped, an empty piece the empty key', async () => {
    const res = await call('t', { method: 'POST', headers: form, body: '?id=3&n=4;name=x%0A \n' });
    expect(answer(res)).toEqual([201, [{ id: 3, name: 'x\n \n', n: 4 }]]);
    expect(answer(await call('t', { method: 'POST', headers: form, body: 'id=5&&name=y' }))).toEqual(
      error('PGRST204', "Could not find the '' column of 't' in the schema cache"),
    );
    await sql(project.a.ref, 'delete from public.t where id > 2');
  });
});

project.secondProjectUntouched('select * from public.t order by id', [
  { id: 1, name: 'a', n: 1 },
  { id: 2, name: 'b', n: 2 },
]);
