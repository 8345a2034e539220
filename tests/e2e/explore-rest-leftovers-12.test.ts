import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from '../support/clients.js';
import { exploreProjects } from '../support/explore.js';

// The twelfth PostgREST 12.2 sweep, raw through the gateway (supabase-js where it sends the request):
// Accept's q-values as wai-extra's parseHttpAccept reads them (Haskell `reads`); embedded resources
// as QueryBuilder.hs selects them (jsonb, after their level's columns, a to-one join that is the
// related row itself); and `missing=default` reading the body as jsonb (SqlFragment.hs fromJsonBodyF).

const SCHEMA = `
create table public.dir (id int primary key, last_name text, pgrst_ob int);
create table public.film (id int primary key, title text, dir_id int references public.dir);
insert into public.dir values (5, 'name', 1), (6, null, null);
insert into public.film values (1, 'title', 5), (2, 'other', 6), (3, 'none', null);
create table public.seq (id serial primary key, name text, n text);
`;

const project = exploreProjects('leftovers12', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key. */
const call = (
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) => rawRest(project.a.ref, project.a.secretKey, target, init);
const answer = (res: HttpResult) => [res.status, res.json()];
/** The answer as parsed, keys in the order sent. */
const keys = (res: HttpResult) => JSON.stringify(res.json());

describe('Accept q-values (Haskell reads :: ReadS Double; none is 1)', () => {
  const served = async (accept: string) =>
    (await call('film?select=id&id=eq.1', { headers: { accept } })).headers['content-type'];
  const CSV = 'text/csv; charset=utf-8';
  const JSON_TYPE = 'application/json; charset=utf-8';

  it('reads negative, hex, Infinity and parenthesised qualities; .5 and an empty q are 1', async () => {
    expect(await served('text/csv;q=-1, application/json;q=0.9')).toBe(JSON_TYPE);
    expect(await served('text/csv;q=0x1, application/json;q=0.9')).toBe(CSV);
    expect(await served('application/json, text/csv;q=Infinity')).toBe(CSV);
    expect(await served('text/csv;q=(0.5), application/json;q=0.9')).toBe(JSON_TYPE);
    expect(await served('application/json;q=0.9, text/csv;q=1e0')).toBe(CSV);
    expect(await served('application/json;q=0.9, text/csv;q=.5')).toBe(CSV);
    expect(await served('application/json;q=0.9, text/csv;q=')).toBe(CSV);
  });
});

describe('embedded resources as PostgREST 12.2 selects them', () => {
  it('are jsonb objects (keys shortest first) after their level’s columns, through supabase-js too', async () => {
    expect(keys(await call('film?select=dir(last_name,id),title&id=eq.1'))).toBe(
      '[{"title":"title","dir":{"id":5,"last_name":"name"}}]',
    );
    expect(keys(await call('dir?select=film(title,id),id&id=eq.5'))).toBe(
      '[{"id":5,"film":[{"id":1,"title":"title"}]}]',
    );
    expect(keys(await call('film?select=...dir(last_name,id),title&id=eq.1'))).toBe(
      '[{"title":"title","last_name":"name","id":5}]',
    );
    const { data, error } = await project.service
      .from('film')
      .select('dir(last_name, id), title')
      .eq('id', 1)
      .single();
    expect(error).toBeNull();
    expect(JSON.stringify(data)).toBe('{"title":"title","dir":{"id":5,"last_name":"name"}}');
  });

  it('in CSV an embed is its jsonb text', async () => {
    const res = await call('film?select=title,dir(id,last_name)&id=lt.3&order=id', {
      headers: { accept: 'text/csv' },
    });
    expect([res.status, res.text]).toEqual([
      200,
      'title,dir\ntitle,"{""id"": 5, ""last_name"": ""name""}"\nother,"{""id"": 6, ""last_name"": null}"',
    ]);
  });

  it("a to-one join has only the embed's columns: 42703 with Postgres's hint, no name of ours", async () => {
    const res = await call('film?select=title,dir(last_name,pgrst_ob)&order=dir(pgrst_obj)');
    expect(answer(res)).toEqual([
      400,
      {
        code: '42703',
        message: 'column film_dir_1.pgrst_obj does not exist',
        details: null,
        hint: 'Perhaps you meant to reference the column "film_dir_1.pgrst_ob".',
      },
    ]);
  });

  it('is null without a related row, an object of nulls with one (is.null / not.is.null)', async () => {
    expect(answer(await call('film?select=id,dir(last_name)&order=id'))).toEqual([
      200,
      [
        { id: 1, dir: { last_name: 'name' } },
        { id: 2, dir: { last_name: null } },
        { id: 3, dir: null },
      ],
    ]);
    expect(answer(await call('film?select=id,dir(last_name)&dir=not.is.null&order=id'))).toEqual([
      200,
      [
        { id: 1, dir: { last_name: 'name' } },
        { id: 2, dir: { last_name: null } },
      ],
    ]);
    expect(answer(await call('film?select=id,dir(last_name)&dir=is.null'))).toEqual([
      200,
      [{ id: 3, dir: null }],
    ]);
  });
});

describe('missing=default reads the body as jsonb', () => {
  const json = (prefer = 'return=representation, missing=default') => ({
    'content-type': 'application/json',
    prefer,
  });

  it('a list of non-objects is jsonb_to_recordset’s 22023', async () => {
    const res = await call('seq?columns=name', { method: 'POST', headers: json(), body: '[1]' });
    expect(answer(res)).toEqual([
      400,
      {
        code: '22023',
        message: 'argument of jsonb_to_recordset must be an array of objects',
        details: null,
        hint: null,
      },
    ]);
  });

  it('numbers and objects reach a text column as jsonb prints them; every row draws its defaults', async () => {
    const posted = await call('seq?columns=id,name,n&select=id,n', {
      method: 'POST',
      headers: json(),
      body: '[{"id":10,"name":"a","n":1E2}, {"name":"b","n":{"b" :  1, "a": [1.50]}}]',
    });
    // The first row gives its id and still draws 1 from the sequence, so the second gets 2.
    expect(answer(posted)).toEqual([
      201,
      [
        { id: 10, n: '100' },
        { id: 2, n: '{"a": [1.50], "b": 1}' },
      ],
    ]);
    const plain = await call('seq?select=n', {
      method: 'POST',
      headers: json('return=representation'),
      body: '[{"name":"c","n":1E2}]',
    });
    expect(answer(plain)).toEqual([201, [{ n: '1E2' }]]);
    const patched = await call('seq?id=eq.10&select=n', {
      method: 'PATCH',
      headers: json(),
      body: '{"name":"x","n":2E1}',
    });
    expect(answer(patched)).toEqual([200, [{ n: '20' }]]);
  });
});

project.secondProjectUntouched('select id, title, dir_id from public.film order by id', [
  { id: 1, title: 'title', dir_id: 5 },
  { id: 2, title: 'other', dir_id: 6 },
  { id: 3, title: 'none', dir_id: null },
]);
