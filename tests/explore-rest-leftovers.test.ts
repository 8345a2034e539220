import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// The last PostgREST 12.2 differences earlier passes left open, raw through gateway, SigV4 and the
// Lambda emulator: PUT with an array body, empty Accept and Content-Type headers, reserved GET /rpc
// parameters, PGRST100 positions, and json arguments as sent. Every expected answer is PostgREST
// 12.2's (its source and test/spec; the commits of apps/rest name where).

const SCHEMA = `
create table public.things (id int primary key, name text not null);
insert into public.things values (1, 'one'), (2, 'two');
create function public.upto("limit" int default 3) returns setof int language sql stable
  as $$ select generate_series(1, "limit") $$;
create function public.doc_as_is(doc json, n int default 0) returns json language sql immutable
  as $$ select doc $$;
`;

const project = exploreProjects('leftovers', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);

const things = async () => sql(project.a.ref, 'select id, name from public.things order by id');

describe('PUT with an array body', () => {
  it('puts the row whose key the filters name, whichever comes first, and only it', async () => {
    const res = await raw('things?id=eq.3', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', prefer: 'return=representation' },
      body: JSON.stringify([
        { id: 4, name: 'never' },
        { id: 3, name: 'three' },
      ]),
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json()).toEqual([{ id: 3, name: 'three' }]);
    expect(await things()).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: 'three' },
    ]);
  });

  it('refuses rows of differing keys, no row of the key, and two of it, writing nothing', async () => {
    const put = (body: unknown) =>
      raw('things?id=eq.3', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const uneven = await put([{ id: 3, name: 'x' }, { id: 3 }]);
    expect([uneven.status, uneven.json()]).toEqual([
      400,
      { code: 'PGRST102', message: 'All object keys must match', details: null, hint: null },
    ]);
    const none = await put([{ id: 5, name: 'x' }]);
    expect([none.status, none.json()]).toEqual([
      400,
      {
        code: 'PGRST115',
        message: 'Payload values do not match URL in primary key column(s)',
        details: null,
        hint: null,
      },
    ]);
    const twice = await put([
      { id: 3, name: 'x' },
      { id: 3, name: 'y' },
    ]);
    expect([twice.status, (twice.json() as { code: string }).code]).toEqual([500, '21000']);
    const empty = await put([]);
    expect([empty.status, empty.json()]).toEqual([
      400,
      { code: '42703', message: 'column pgrst_body.id does not exist', details: null, hint: null },
    ]);
    expect(await things()).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: 'three' },
    ]);
  });
});

describe('headers present but empty', () => {
  it('an empty Accept names no media type: 406 PGRST107 on tables, functions and the root', async () => {
    for (const target of ['things?select=id', 'rpc/upto', '']) {
      const res = await raw(target, { headers: { accept: '' } });
      expect([target, res.status, res.json()]).toEqual([
        target,
        406,
        { code: 'PGRST107', message: 'None of these media types are available: ', details: null, hint: null },
      ]);
    }
  });

  it('an empty Content-Type on a write or POST /rpc is 400 PGRST102, nothing written', async () => {
    for (const [method, target, body] of [
      ['POST', 'things', '{"id": 9, "name": "nine"}'],
      ['PATCH', 'things?id=eq.1', '{"name": "changed"}'],
      ['POST', 'rpc/upto', '{"limit": 1}'],
    ] as const) {
      const res = await raw(target, { method, headers: { 'content-type': '' }, body });
      expect([method, target, res.status, res.json()]).toEqual([
        method,
        target,
        400,
        { code: 'PGRST102', message: 'Content-Type not acceptable: ', details: null, hint: null },
      ]);
    }
    expect(await sql(project.a.ref, 'select name from public.things where id in (1, 9)')).toEqual([
      { name: 'one' },
    ]);
  });
});

describe('GET /rpc and its reserved parameters', () => {
  it('limit limits the rows of a function with an argument named limit; it is no argument', async () => {
    const res = await raw('rpc/upto?limit=5');
    expect([res.status, res.json()]).toEqual([200, [1, 2, 3]]);
    // By POST the body's limit is the argument.
    const post = await raw('rpc/upto', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"limit": 5}',
    });
    expect(post.json()).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('PGRST100 for malformed filters', () => {
  it('names the column and expectations PostgREST 12 (Parsec) names', async () => {
    const cases: [string, string, string][] = [
      ['eqx.1', 'line 1, column 3', 'unexpected "x" expecting operator (eq, gt, ...)'],
      ['eq', 'line 1, column 3', 'unexpected end of input expecting operator (eq, gt, ...)'],
      ['in.(1,2', 'line 1, column 8', 'unexpected end of input expecting "," or ")"'],
      ['not.xx.1', 'line 1, column 5', 'unexpected "x" expecting operator (eq, gt, ...)'],
    ];
    for (const [value, position, details] of cases) {
      const res = await raw(`things?id=${encodeURIComponent(value)}`);
      expect([value, res.status, res.json()]).toEqual([
        value,
        400,
        {
          code: 'PGRST100',
          message: `"failed to parse filter (${value})" (${position})`,
          details,
          hint: null,
        },
      ]);
    }
  });
});

describe('json arguments by name', () => {
  it('reach the function as the text sent: key order, a repeated key, spacing and digits', async () => {
    const doc = '{"z": 1,  "2": 2.50, "z": [1e2, {"b":1,"a":2}]}';
    const res = await raw('rpc/doc_as_is', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"n": 1, "doc": ${doc}}`,
    });
    expect([res.status, res.text]).toEqual([200, doc]);
  });
});

project.secondProjectUntouched('select id, name from public.things order by id', [
  { id: 1, name: 'one' },
  { id: 2, name: 'two' },
]);
