import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// The thirteenth PostgREST 12.2 sweep, raw through the gateway: a PATCH under `missing=default`
// drawing the default of every column written once for the statement (SqlFragment.hs fromJsonBodyF
// with includeDefaults).

const SCHEMA = `
create sequence public.n_seq;
grant usage on sequence public.n_seq to anon, authenticated, service_role;
create table public.patched (id int primary key, n int default nextval('public.n_seq'), name text);
insert into public.patched values (1, 100, 'a'), (2, 200, 'b'), (3, 300, 'c');
`;

const project = exploreProjects('leftovers13', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key. */
const call = (
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) => rawRest(project.a.ref, project.a.secretKey, target, init);
const answer = (res: HttpResult) => [res.status, res.json()];
const nextN = async () => Number((await sql(project.a.ref, `select nextval('public.n_seq') as n`))[0]!.n);

describe('PATCH under missing=default', () => {
  const headers = { 'content-type': 'application/json', prefer: 'return=representation, missing=default' };

  it('draws each written column’s default once: the same value on every row, and for a column given too', async () => {
    const before = await nextN();
    const omitted = await call('patched?columns=name,n&id=in.(1,2,3)&select=id,n,name&order=id', {
      method: 'PATCH',
      headers,
      body: '{"name":"x"}',
    });
    const n = before + 1;
    expect(answer(omitted)).toEqual([
      200,
      [
        { id: 1, n, name: 'x' },
        { id: 2, n, name: 'x' },
        { id: 3, n, name: 'x' },
      ],
    ]);
    const given = await call('patched?id=eq.1&select=id,n', {
      method: 'PATCH',
      headers,
      body: '{"n":7,"name":"y"}',
    });
    expect(answer(given)).toEqual([200, [{ id: 1, n: 7 }]]);
    // One nextval for the first PATCH, one for the second (whose body gave n), then this one.
    expect(await nextN()).toBe(before + 3);
  });
});

project.secondProjectUntouched('select id, n, name from public.patched order by id', [
  { id: 1, n: 100, name: 'a' },
  { id: 2, n: 200, name: 'b' },
  { id: 3, n: 300, name: 'c' },
]);
