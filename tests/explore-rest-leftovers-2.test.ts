import { afterEach, describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// More PostgREST 12.2 differences, raw through gateway, SigV4 and the Lambda emulator (supabase-js
// where it sends the request): params=single-object with bodies that are not JSON, missing=default
// without columns=, quoted values in logic trees, quantified operators, CSV bodies and answers, and
// numbers in JSON answers. Every expected answer is PostgREST 12.2's (its source and test/spec; the
// commits of apps/rest name where).

const SCHEMA = `
create table public.items (id int primary key, name text, qty int default 7, note text default 'd');
insert into public.items values
  (1, 'a b', 1, 'x'), (2, 'x,(y)', 2, null), (3, 'q"q', 3, ''), (4, 'apple', 4, 'z'), (5, 'bob', 5, 'w');
create table public.nums (id int primary key, r float4, d float8, n numeric);
insert into public.nums values
  (1, 0.1, 0.1, 0.1), (2, 1e30, 1e300, 1e300), (3, '-0', '-0', '-0'), (4, 'NaN', 'NaN', 'NaN'),
  (5, 'Infinity', '-Infinity', 'Infinity'), (6, 1.5e-7, 5e-324, 0.0000001);
create function public.echo_doc(doc json) returns json language sql immutable as $$ select doc $$;
`;

const project = exploreProjects('leftovers2', SCHEMA);
afterEach(() => sql(project.a.ref, 'delete from public.items where id > 5'));

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);

const ids = async (target: string) => {
  const res = await raw(target);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { id: number }[]).map((r) => r.id);
};

describe('Prefer: params=single-object with a body that is not JSON', () => {
  const call = (contentType: string, body: string) =>
    raw('rpc/echo_doc', {
      method: 'POST',
      headers: { 'content-type': contentType, prefer: 'params=single-object' },
      body,
    });

  it('passes a text, xml or binary body as sent to the one json parameter', async () => {
    for (const type of ['text/plain', 'text/xml', 'application/octet-stream']) {
      const res = await call(type, '{"k": [1, 2]}');
      expect([type, res.status, res.json()]).toEqual([type, 200, { k: [1, 2] }]);
    }
    const notJson = await call('text/plain', 'hello');
    expect([notJson.status, (notJson.json() as { code: string }).code]).toEqual([400, '22P02']);
  });

  it('passes a form as one object of strings, and CSV as the list of its rows', async () => {
    const form = await call('application/x-www-form-urlencoded', 'a=1&b=x+y');
    expect([form.status, form.json()]).toEqual([200, { a: '1', b: 'x y' }]);
    const csv = await call('text/csv', 'a,b\n1,NULL\n');
    expect([csv.status, csv.json()]).toEqual([200, [{ a: '1', b: null }]]);
  });
});

describe('Prefer: missing=default without columns=', () => {
  it('takes the columns from the keys, which every row must have', async () => {
    const write = (body: unknown) =>
      raw('items', {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'missing=default, return=representation' },
        body: JSON.stringify(body),
      });
    const uneven = await write([{ id: 10, name: 'n' }, { id: 11 }]);
    expect([uneven.status, uneven.json()]).toEqual([
      400,
      { code: 'PGRST102', message: 'All object keys must match', details: null, hint: null },
    ]);
    const even = await write([
      { id: 10, name: 'n' },
      { id: 11, name: null },
    ]);
    expect([even.status, even.headers['preference-applied'], even.json()]).toEqual([
      201,
      'missing=default, return=representation',
      [
        { id: 10, name: 'n', qty: 7, note: 'd' },
        { id: 11, name: null, qty: 7, note: 'd' },
      ],
    ]);
    // supabase-js names the columns (columns=) and so may send rows of different keys.
    const { data, error } = await project.service
      .from('items')
      .insert([{ id: 12, qty: 1 }, { id: 13 }], { defaultToNull: false })
      .select('id, qty, note');
    expect(error).toBeNull();
    expect(data).toEqual([
      { id: 12, qty: 1, note: 'd' },
      { id: 13, qty: 7, note: 'd' },
    ]);
  });
});

describe('logic trees with quoted values', () => {
  it('reads spaces, commas, parentheses and escaped quotes inside double quotes', async () => {
    expect(await ids('items?select=id&or=(name.eq."a%20b",name.eq."x,(y)")&order=id')).toEqual([1, 2]);
    expect(await ids('items?select=id&or=(name.eq."q\\"q",id.eq.4)&order=id')).toEqual([3, 4]);
    expect(await ids('items?select=id&not.or=(name.eq."a%20b",name.eq."x,(y)")&order=id')).toEqual([3, 4, 5]);
    expect(await ids('items?select=id&and=(name.in.("a%20b","x,(y)"),id.gt.1)')).toEqual([2]);
  });
});

describe('quantified operators', () => {
  it('compare with any or all of an array literal, in logic trees too', async () => {
    expect(await ids('items?select=id&name=eq(any).{apple,bob}&order=id')).toEqual([4, 5]);
    expect(await ids('items?select=id&name=eq(any).{"a%20b","x,(y)"}&order=id')).toEqual([1, 2]);
    expect(await ids('items?select=id&name=like(all).{a*,*e}')).toEqual([4]);
    expect(await ids('items?select=id&name=ilike(any).{A*,B*}&order=id')).toEqual([1, 4, 5]);
    expect(await ids('items?select=id&id=gt(all).{2,3}&order=id')).toEqual([4, 5]);
    expect(await ids('items?select=id&id=lte(any).{%201%20,%202%20}&order=id')).toEqual([1, 2]);
    expect(await ids('items?select=id&or=(name.eq(any).{apple,bob},id.eq.1)&order=id')).toEqual([1, 4, 5]);
    expect(await ids('items?select=id&id=not.eq(any).{1,2,3}&order=id')).toEqual([4, 5]);
  });

  it('leave the array literal to Postgres, and refuse operators that take no quantifier', async () => {
    const bare = await raw('items?select=id&name=eq(any).apple');
    expect([bare.status, bare.json()]).toEqual([
      400,
      {
        code: '22P02',
        message: 'malformed array literal: "apple"',
        details: 'Array value must start with "{" or dimension information.',
        hint: null,
      },
    ]);
    const parens = await raw('items?select=id&id=eq(any).(1,2)');
    expect([parens.status, (parens.json() as { message: string }).message]).toEqual([
      400,
      'malformed array literal: "(1,2)"',
    ]);
    const neq = await raw('items?select=id&id=neq(any).{1,2}');
    expect([neq.status, (neq.json() as { code: string }).code]).toEqual([400, 'PGRST100']);
  });
});

describe('CSV', () => {
  const post = (body: string) =>
    raw('items', {
      method: 'POST',
      headers: { 'content-type': 'text/csv', prefer: 'return=representation', accept: 'text/csv' },
      body,
    });

  it('answers rows as Postgres writes records, with the first row keys as header', async () => {
    const res = await raw('items?select=id,name,note&order=id', { headers: { accept: 'text/csv' } });
    expect([res.status, res.headers['content-type'], res.text]).toEqual([
      200,
      'text/csv; charset=utf-8',
      'id,name,note\n1,"a b",x\n2,"x,(y)",\n3,"q""q",""\n4,apple,z\n5,bob,w',
    ]);
    const none = await raw('items?select=id&id=eq.0', { headers: { accept: 'text/csv' } });
    expect([none.status, none.text]).toEqual([200, '\n']);
  });

  it('reads NULL as null, skips blank lines and ignores fields beyond the header', async () => {
    const res = await post('id,name,note\n20,NULL,\n\n21,"NULL",""\n22,x,y,extra\n');
    expect([res.status, res.text]).toEqual([201, 'id,name,qty,note\n20,,7,""\n21,,7,""\n22,x,7,y']);
  });

  it('refuses bodies cassava cannot read, and rows shorter than the first, as PostgREST', async () => {
    const short = await post('id,name\n30,a\n31');
    expect([short.status, short.json()]).toEqual([
      400,
      { code: 'PGRST102', message: 'All lines must have same number of fields', details: null, hint: null },
    ]);
    const headerOnly = await post('id,name');
    expect([headerOnly.status, headerOnly.json()]).toEqual([
      400,
      { code: 'PGRST102', message: 'parse error (not enough input) at ""', details: null, hint: null },
    ]);
    const strayQuote = await post('id,name\n32,a"b\n');
    expect([strayQuote.status, strayQuote.json()]).toEqual([
      400,
      {
        code: 'PGRST102',
        message: 'parse error (Failed reading: satisfy) at "\\"b\\n"',
        details: null,
        hint: null,
      },
    ]);
    const headerLine = await post('id,name\n');
    expect([headerLine.status, headerLine.text]).toEqual([201, '\n']);
    expect(await sql(project.a.ref, 'select count(*)::int as n from public.items where id >= 30')).toEqual([
      { n: 0 },
    ]);
  });
});

describe('numbers in JSON answers', () => {
  it('are Postgres to_json text: -0 kept, NaN and infinities as strings, numerics in full', async () => {
    const res = await raw('nums?order=id');
    expect(res.status).toBe(200);
    expect(res.text.replaceAll(/\s/g, '')).toBe(
      `[{"id":1,"r":0.1,"d":0.1,"n":0.1},{"id":2,"r":1e+30,"d":1e+300,"n":1${'0'.repeat(300)}},` +
        '{"id":3,"r":-0,"d":-0,"n":0},{"id":4,"r":"NaN","d":"NaN","n":"NaN"},' +
        '{"id":5,"r":"Infinity","d":"-Infinity","n":"Infinity"},{"id":6,"r":1.5e-07,"d":5e-324,"n":0.0000001}]',
    );
    const { data } = await project.service.from('nums').select('id, r').eq('id', 3).single();
    expect(Object.is(data?.r, -0)).toBe(true);
  });
});

project.secondProjectUntouched('select id from public.items order by id', [
  { id: 1 },
  { id: 2 },
  { id: 3 },
  { id: 4 },
  { id: 5 },
]);
