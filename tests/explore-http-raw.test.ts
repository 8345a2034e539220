import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { sql } from './support/projects.js';

// What curl, supabase-py, Swift or Kotlin clients send: the PostgREST syntax in other shapes than
// supabase-js's (raw `"` and `\`, `+` for spaces, `;`, repeated headers), through gateway, SigV4 and
// the Lambda emulator. Every expected answer is PostgREST 12.2's (its source and test/spec).

const SCHEMA = `
create table public.items (id int primary key, name text not null);
insert into public.items values (1, 'red apple'), (2, 'a,b'), (3, 'c"d'), (4, '(x)'), (5, 'Élan'),
  (6, ''), (7, 'a;b'), (8, 'back\\slash'), (9, '100%');
create function public.add(a int, b int) returns int language sql immutable as $$ select a + b $$;
create function public.named() returns setof public.items language sql stable
  as $$ select * from public.items where id <= 2 order by id $$;
`;

const project = exploreProjects('rawhttp', SCHEMA);

type RawResult = HttpResult;

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);

const ids = (res: RawResult) => (res.json() as { id: number }[]).map((r) => r.id);
const ALL = [1, 2, 3, 4, 5, 6, 7, 8, 9];

describe('query strings as other clients write them', () => {
  it('`+` and `%20` are both a space (http-types parseQuery replaces plus)', async () => {
    for (const target of ['items?select=id&name=eq.red+apple', 'items?select=id&name=eq.red%20apple']) {
      const res = await raw(target);
      expect(res.status, res.text).toBe(200);
      expect(res.json()).toEqual([{ id: 1 }]);
    }
  });

  it('`%2C`, `%28` and `%29` read as `,`, `(` and `)`', async () => {
    const res = await raw('items?select=id%2Cname&id=in.%281%2C2%29&order=id');
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([
      { id: 1, name: 'red apple' },
      { id: 2, name: 'a,b' },
    ]);
  });

  it('in() with raw double-quoted values holding a comma, parens and a backslash-escaped quote', async () => {
    const res = await raw('items?select=id&name=in.("a,b","c\\"d","(x)","back\\\\slash")&order=id');
    expect(res.status, res.text).toBe(200);
    expect(ids(res)).toEqual([2, 3, 4, 8]);
    const encoded = await raw('items?select=id&name=in.(%22a%2Cb%22,%22c%5C%22d%22)&order=id');
    expect(ids(encoded)).toEqual([2, 3]);
  });

  it('percent-encoded UTF-8 in a value', async () => {
    const res = await raw('items?select=id&name=eq.%C3%89lan');
    expect(res.json()).toEqual([{ id: 5 }]);
  });

  it('a repeated filter key applies both filters', async () => {
    const res = await raw('items?select=id&id=gt.1&id=lt.5&order=id');
    expect(ids(res)).toEqual([2, 3, 4]);
  });

  it('`name=eq.` compares with the empty string', async () => {
    const res = await raw('items?select=id&name=eq.');
    expect(res.json()).toEqual([{ id: 6 }]);
  });

  it('an encoded `;` stays in the value', async () => {
    const res = await raw('items?select=id&name=eq.a%3Bb');
    expect(res.json()).toEqual([{ id: 7 }]);
  });

  it('a key in another case is no reserved parameter: `Select=id` is a filter that fails to parse', async () => {
    const res = await raw('items?Select=id');
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      code: 'PGRST100',
      details: 'unexpected "i" expecting "not" or operator (eq, gt, ...)',
      hint: null,
      message: '"failed to parse filter (id)" (line 1, column 1)',
    });
    // PostgREST's QuerySpec "fails if an operator is not given".
    const bare = await raw('items?id=0');
    expect(bare.json()).toEqual({
      code: 'PGRST100',
      details: 'unexpected "0" expecting "not" or operator (eq, gt, ...)',
      hint: null,
      message: '"failed to parse filter (0)" (line 1, column 1)',
    });
  });

  it('limit/offset params and a Range header page alike', async () => {
    const byParams = await raw('items?select=id&order=id&limit=2&offset=1');
    const byRange = await raw('items?select=id&order=id', { headers: { range: '1-2' } });
    for (const res of [byParams, byRange]) {
      expect(ids(res)).toEqual([2, 3]);
      expect(res.headers['content-range']).toBe('1-2/*');
    }
    expect(byParams.status).toBe(200);
    expect(byRange.status).toBe(200);
  });

  it('a Range with a unit (`items=0-1`) is no range to PostgREST 12 (RangeQuery.hs reads first-last only)', async () => {
    const res = await raw('items?select=id&order=id', { headers: { range: 'items=0-1' } });
    expect(res.status, res.text).toBe(200);
    expect(ids(res)).toEqual(ALL);
    expect(res.headers['content-range']).toBe(`0-${ALL.length - 1}/*`);
  });

  it('a repeated select, order or on_conflict: the first is used, as PostgREST 12', async () => {
    const res = await raw('items?select=id&select=name&id=lt.4&order=id.desc&order=id.asc');
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 3 }, { id: 2 }, { id: 1 }]);
    // on_conflict=name names no unique constraint: Postgres refuses the upsert (42P10).
    const upsert = await raw('items?on_conflict=name&on_conflict=id', {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'resolution=merge-duplicates' },
      body: '{"id":1,"name":"red apple"}',
    });
    expect(upsert.status, upsert.text).toBe(400);
    expect((upsert.json() as { code: string }).code).toBe('42P10');
  });

  // QueryParams.hs ranges: each is read with readMaybe (else the whole range); with both given, a
  // limit read as no bound counts as 0 rows from the offset (unionWith … fromMaybe 0).
  it('a limit or offset that is no integer is no bound alone; with an offset, the limit is 0 rows', async () => {
    for (const target of ['items?select=id&order=id&limit=abc', 'items?select=id&order=id&offset=1.5']) {
      const res = await raw(target);
      expect(res.status, res.text).toBe(200);
      expect(ids(res)).toEqual(ALL);
    }
    const none = await raw('items?select=id&order=id&limit=abc&offset=1.5');
    expect(none.status, none.text).toBe(200);
    expect(none.json()).toEqual([]);
    expect(none.headers['content-range']).toBe('*/*');
    // Rows 2 … 1: PostgREST's 416 for a range that ends before it starts.
    const past = await raw('items?select=id&limit=abc&offset=2');
    expect(past.status, past.text).toBe(416);
    expect(past.json()).toMatchObject({ code: 'PGRST103' });
  });

  it('a NUL byte in a value is refused by Postgres as invalid UTF-8 (22021)', async () => {
    const res = await raw('items?select=id&name=eq.a%00b');
    expect(res.status).toBe(400);
    expect((res.json() as { code: string }).code).toBe('22021');
  });
});

describe('headers as other clients send them', () => {
  it('Accept with q-values picks the highest', async () => {
    const json = await raw('items?select=id&id=eq.1', {
      headers: { accept: 'text/csv;q=0.5, application/json' },
    });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json.json()).toEqual([{ id: 1 }]);
    const csv = await raw('items?select=id&id=eq.1', {
      headers: { accept: 'application/json;q=0.5, text/csv' },
    });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.text).toBe('id\n1');
  });

  it('`*/*` is JSON', async () => {
    const res = await raw('items?select=id&id=eq.1', { headers: { accept: '*/*' } });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json()).toEqual([{ id: 1 }]);
  });

  it('application/vnd.pgrst.object with and without +json answers one object', async () => {
    for (const accept of ['application/vnd.pgrst.object', 'application/vnd.pgrst.object+json']) {
      const res = await raw('items?select=id,name&id=eq.2', { headers: { accept } });
      expect(res.status, res.text).toBe(200);
      expect(res.headers['content-type']).toBe('application/vnd.pgrst.object+json; charset=utf-8');
      expect(res.json()).toEqual({ id: 2, name: 'a,b' });
    }
  });

  it('Accept: text/csv on a set-returning function', async () => {
    const res = await raw('rpc/named?select=id,name', { headers: { accept: 'text/csv' } });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    // Each row is its record text without the parentheses, so a space is quoted too.
    expect(res.text).toBe('id,name\n1,"red apple"\n2,"a,b"');
  });

  it('Prefer in two header lines and as a comma list are read alike', async () => {
    const lines = await raw('items?select=id&id=lt.3', {
      headers: { prefer: ['count=exact', 'handling=lenient'] },
    });
    const list = await raw('items?select=id&id=lt.3', {
      headers: { prefer: 'count=exact, handling=lenient' },
    });
    for (const res of [lines, list]) {
      expect(res.status, res.text).toBe(200);
      expect(res.headers['content-range']).toBe('0-1/2');
      expect(res.headers['preference-applied']).toBe('count=exact, handling=lenient');
    }
  });

  it('a preference is matched as sent once stripped: `count = exact` is unknown (ignored, or PGRST122 with handling=strict)', async () => {
    const spaced = await raw('items?select=id&id=lt.3', { headers: { prefer: 'count = exact' } });
    expect(spaced.status, spaced.text).toBe(200);
    expect(spaced.headers['content-range']).toBe('0-1/*');
    expect(spaced.headers['preference-applied']).toBeUndefined();
    const strict = await raw('items?select=id&id=lt.3', {
      headers: { prefer: 'handling=strict, count = exact' },
    });
    expect(strict.status).toBe(400);
    expect(strict.json()).toEqual({
      code: 'PGRST122',
      details: 'Invalid preferences: count = exact',
      hint: null,
      message: 'Invalid preferences given with handling=strict',
    });
  });

  it('only the first `timezone=` preference counts: naming no zone, it makes every `timezone=` invalid', async () => {
    const res = await raw('items?select=id&id=eq.1', {
      headers: { prefer: ['timezone=Nope/Zone', 'timezone=UTC, handling=strict'] },
    });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      code: 'PGRST122',
      details: 'Invalid preferences: timezone=Nope/Zone, timezone=UTC',
      hint: null,
      message: 'Invalid preferences given with handling=strict',
    });
    const first = await raw('items?select=id&id=eq.1', {
      headers: { prefer: 'timezone=UTC, timezone=Nope/Zone, handling=strict' },
    });
    expect(first.status, first.text).toBe(200);
    expect(first.headers['preference-applied']).toBe('handling=strict, timezone=UTC');
  });

  it('Content-Type with a charset or in upper case is JSON', async () => {
    for (const [id, contentType] of [
      [30, 'application/json; charset=utf-8'],
      [31, 'APPLICATION/JSON'],
      [32, 'Application/Json;Charset=UTF-8'],
    ] as const) {
      const res = await raw('items', {
        method: 'POST',
        headers: { 'content-type': contentType, prefer: 'return=representation' },
        body: JSON.stringify({ id, name: 'typed' }),
      });
      expect(res.status, res.text).toBe(201);
      expect(res.json()).toEqual([{ id, name: 'typed' }]);
    }
    await sql(project.a.ref, 'delete from public.items where id between 30 and 32');
  });

  it('a form body is read as PostgREST reads it (parseSimpleQuery): `+` a space, `;` a separator', async () => {
    const res = await raw('items', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' },
      body: 'id=33&name=a+b%21;ignored=',
    });
    expect(res.status, res.text).toBe(400);
    expect((res.json() as { code: string }).code).toBe('PGRST204');
    const ok = await raw('items', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', prefer: 'return=representation' },
      body: 'id=33;name=a+b%21',
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.json()).toEqual([{ id: 33, name: 'a b!' }]);
    await sql(project.a.ref, 'delete from public.items where id = 33');
  });

  it('Accept-Profile and Content-Profile naming an unknown schema → 406 PGRST106', async () => {
    const read = await raw('items', { headers: { 'accept-profile': 'nope' } });
    const write = await raw('items', {
      method: 'POST',
      headers: { 'content-profile': 'nope', 'content-type': 'application/json' },
      body: '{"id":40,"name":"x"}',
    });
    for (const res of [read, write]) {
      expect(res.status).toBe(406);
      expect((res.json() as { code: string }).code).toBe('PGRST106');
    }
    expect(await sql(project.a.ref, 'select count(*)::int as n from public.items where id = 40')).toEqual([
      { n: 0 },
    ]);
  });
});

describe('methods other clients use', () => {
  it('HEAD on a table and on a function: the GET status and headers, no body', async () => {
    const table = await raw('items?select=id', { method: 'HEAD' });
    expect(table.status).toBe(200);
    expect(table.text).toBe('');
    expect(table.headers['content-range']).toBe(`0-${ALL.length - 1}/*`);
    const fn = await raw('rpc/add?a=1&b=2', { method: 'HEAD' });
    expect(fn.status).toBe(200);
    expect(fn.text).toBe('');
  });

  it('a trailing slash names no resource (PostgREST reads `items/` as two segments): 404', async () => {
    for (const target of ['items/?select=id', 'rpc/add/?a=1&b=2']) {
      const res = await raw(target);
      expect(res.status, target).toBe(404);
    }
  });

  it('GET /rpc: a value that parses as a filter filters the result, even under an argument name', async () => {
    const res = await raw('rpc/add?a=1&b=eq.2');
    expect(res.status, res.text).toBe(404);
    expect(res.json()).toMatchObject({
      code: 'PGRST202',
      message: 'Could not find the function public.add(a) in the schema cache',
    });
    const args = await raw('rpc/add?a=1&b=2');
    expect(args.json()).toBe(3);
  });

  it('OPTIONS on a table answers Allow', async () => {
    const res = await raw('items', { method: 'OPTIONS' });
    expect(res.status).toBe(200);
    expect(res.headers.allow).toBe('OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE');
  });

  it('PUT with the primary key filter upserts; a mismatch is PGRST115, no filter PGRST105', async () => {
    const put = (target: string, body: unknown) =>
      raw(target, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put('items?id=eq.50', { id: 50, name: 'first' })).status).toBe(204);
    expect((await put('items?id=eq.50', { id: 50, name: 'second' })).status).toBe(204);
    expect(await sql(project.a.ref, 'select name from public.items where id = 50')).toEqual([
      { name: 'second' },
    ]);
    const mismatch = await put('items?id=eq.50', { id: 51, name: 'x' });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json()).toEqual({
      code: 'PGRST115',
      details: null,
      hint: null,
      message: 'Payload values do not match URL in primary key column(s)',
    });
    const unfiltered = await put('items', { id: 52, name: 'x' });
    expect(unfiltered.status).toBe(405);
    expect(unfiltered.json()).toEqual({
      code: 'PGRST105',
      details: null,
      hint: null,
      message: "Filters must include all and only primary key columns with 'eq' operators",
    });
    await sql(project.a.ref, 'delete from public.items where id = 50');
  });

  it('PATCH with an empty object changes nothing: 204, Content-Range */*', async () => {
    const res = await raw('items?id=eq.1', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(204);
    expect(res.headers['content-range']).toBe('*/*');
    expect(res.headers['content-type']).toBeUndefined();
    const rep = await raw('items?id=eq.1', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', prefer: 'return=representation' },
      body: '{}',
    });
    expect(rep.status).toBe(200);
    expect(rep.json()).toEqual([]);
    expect(await sql(project.a.ref, 'select name from public.items where id = 1')).toEqual([
      { name: 'red apple' },
    ]);
  });

  it('DELETE and GET with a body ignore it', async () => {
    await sql(project.a.ref, "insert into public.items values (60, 'gone')");
    const del = await raw('items?id=eq.60', {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: '{"id": 1}',
    });
    expect(del.status).toBe(204);
    expect(await sql(project.a.ref, 'select id from public.items where id in (1, 60)')).toEqual([{ id: 1 }]);
    const get = await raw('items?select=id&id=eq.2', {
      headers: { 'content-type': 'application/json' },
      body: '{"id": 1}',
    });
    expect(get.status, get.text).toBe(200);
    expect(get.json()).toEqual([{ id: 2 }]);
  });
});

describe('query strings as PostgREST reads them (http-types)', () => {
  it('a key without `=` is no parameter: a filter or `select` so sent is ignored', async () => {
    const res = await raw('items?select=id&name&order=id');
    expect(res.status, res.text).toBe(200);
    expect(ids(res)).toEqual(ALL);
    const star = await raw('items?select&id=eq.1');
    expect(star.status, star.text).toBe(200);
    expect(star.json()).toEqual([{ id: 1, name: 'red apple' }]);
  });

  it('a raw `;` separates parameters as `&` does; an encoded one stays in its value', async () => {
    const res = await raw('items?select=id;id=eq.1');
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 1 }]);
    const split = await raw('items?select=id&name=eq.a;b&order=id');
    expect(split.status, split.text).toBe(200);
    expect(split.json()).toEqual([]);
  });

  it('a `%` that starts no escape is itself', async () => {
    const res = await raw('items?select=id&name=eq.100%');
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 9 }]);
    const like = await raw('items?select=id&name=like.*0%&order=id');
    expect(like.json()).toEqual([{ id: 9 }]);
  });
});

describe('Accept as PostgREST orders it (wai parseHttpAccept)', () => {
  it('at one quality the more specific type wins: `*/*, text/csv` is CSV', async () => {
    const res = await raw('items?select=id&id=eq.1', { headers: { accept: '*/*, text/csv' } });
    expect(res.status, res.text).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
  });

  it('`application/*` and `text/*` are no types PostgREST produces → 406 PGRST107', async () => {
    for (const accept of ['application/*', 'text/*']) {
      const res = await raw('items?select=id&id=eq.1', { headers: { accept } });
      expect(res.status, res.text).toBe(406);
      expect(res.json()).toEqual({
        code: 'PGRST107',
        details: null,
        hint: null,
        message: `None of these media types are available: ${accept}`,
      });
    }
  });
});

project.secondProjectUntouched('select count(*)::int as n from public.items', [{ n: 9 }]);
