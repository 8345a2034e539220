import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// The eighth PostgREST 12.2 sweep, raw through the gateway and with supabase-js: how a write reads
// its JSON body. PostgREST 12.2 (Query/SqlFragment.hs fromJsonBodyF, Plan.hs mutatePlan,
// ApiRequest.hs getPayload) reads it with json_to_record(set) typed with only the columns written
// (`?columns=` on a POST or PATCH, else the body's keys, a set in code point order): a key outside
// `columns`, or naming no column, is never read; without `columns` an unknown key is PGRST204.

const SCHEMA = `
create table public.events (id int primary key, a int, b text, c date, d varchar(3) default 'dd');
`;

const project = exploreProjects('leftovers8', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key; a body is sent as JSON. */
const call = (target: string, method: string, body: unknown, headers: Record<string, string> = {}) =>
  rawRest(project.a.ref, project.a.secretKey, target, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
/** An answer's status and, for an error, its code. */
const codeOf = (res: HttpResult) => [
  res.status,
  res.status < 300 ? null : (res.json() as { code: string }).code,
];
const row = async (id: number) =>
  (await sql(project.a.ref, `select id, a, b, c::text, d from public.events where id = ${id}`))[0];

describe('?columns= reads only the body keys it names', () => {
  it('an insert, one object or many, ignores bad values and unknown keys outside columns=', async () => {
    const one = await call('events?columns=id,a,b', 'POST', {
      id: 1,
      a: 1,
      b: 'x',
      c: 'not-a-date',
      d: 'too long',
      nope: 1,
    });
    expect(codeOf(one)).toEqual([201, null]);
    const many = await call('events?columns=id,a,b', 'POST', [
      { id: 2, a: 2, c: 'bad' },
      { id: 3, b: 'y', nope: [] },
    ]);
    expect(codeOf(many)).toEqual([201, null]);
    expect(await sql(project.a.ref, 'select id, a, b, c, d from public.events order by id')).toEqual([
      { id: 1, a: 1, b: 'x', c: null, d: 'dd' },
      { id: 2, a: 2, b: null, c: null, d: 'dd' },
      { id: 3, a: null, b: 'y', c: null, d: 'dd' },
    ]);
  });

  it('missing=default, upserts and PATCH read only columns= too', async () => {
    const defaulted = await call('events?columns=id,b,d', 'POST', [{ id: 4, c: 'bad', a: 'nan' }], {
      prefer: 'missing=default',
    });
    expect(codeOf(defaulted)).toEqual([201, null]);
    expect(await row(4)).toEqual({ id: 4, a: null, b: null, c: null, d: 'dd' });
    const merged = await call('events?columns=id,b&on_conflict=id', 'POST', [{ id: 4, b: 'm', c: 'bad' }], {
      prefer: 'resolution=merge-duplicates',
    });
    expect(codeOf(merged)).toEqual([200, null]);
    const ignored = await call('events?columns=id,b', 'POST', [{ id: 4, b: 'i', a: 'nan' }], {
      prefer: 'resolution=ignore-duplicates',
    });
    expect(codeOf(ignored)).toEqual([201, null]);
    expect(await row(4)).toMatchObject({ b: 'm' });
    const patched = await call('events?id=eq.4&columns=a', 'PATCH', { a: 40, b: 'no', c: 'bad' });
    expect(codeOf(patched)).toEqual([204, null]);
    expect(await row(4)).toEqual({ id: 4, a: 40, b: 'm', c: null, d: 'dd' });
  });

  it('a named column still converts (22007), and an unknown one is PGRST204, the first in name order', async () => {
    expect(codeOf(await call('events?columns=id,c', 'POST', { id: 9, c: 'bad' }))).toEqual([400, '22007']);
    const unknown = await call('events?columns=id,zz,yy', 'POST', { id: 9 });
    expect([unknown.status, unknown.json()]).toEqual([
      400,
      {
        code: 'PGRST204',
        message: "Could not find the 'yy' column of 'events' in the schema cache",
        details: null,
        hint: null,
      },
    ]);
  });
});

describe('without ?columns= the keys are the columns', () => {
  it('an unknown key is PGRST204 and the values convert in name order', async () => {
    expect(codeOf(await call('events', 'POST', { id: 20, nope: 1 }))).toEqual([400, 'PGRST204']);
    expect(codeOf(await call('events?id=eq.1', 'PATCH', { nope: 1 }))).toEqual([400, 'PGRST204']);
    const both = await call('events', 'POST', { id: 'x', c: 'bad' });
    expect([both.status, both.json()]).toMatchObject([
      400,
      { code: '22007', message: 'invalid input syntax for type date: "bad"' },
    ]);
  });

  it('supabase-js upserts rows of different keys (it names their union in columns=)', async () => {
    const { data, error } = await project.service
      .from('events')
      .upsert(
        [
          { id: 1, b: 'up' },
          { id: 30, a: 3 },
        ],
        { defaultToNull: false },
      )
      .select('id, a, b, d')
      .order('id');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 1, a: null, b: 'up', d: 'dd' },
      { id: 30, a: 3, b: null, d: 'dd' },
    ]);
    const bad = await project.service.from('events').insert([{ id: 31 }, { id: 32, nope: 1 }]);
    expect(bad.error?.code).toBe('PGRST204');
  });
});

project.secondProjectUntouched('select count(*)::int as n from public.events', [{ n: 0 }]);
