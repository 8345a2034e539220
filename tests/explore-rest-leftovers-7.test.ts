import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';
import { userToken } from './support/tokens.js';

// The seventh PostgREST 12.2 sweep, raw through the gateway: numbers as Haskell's readMaybe reads
// them (limit, offset, max-affected, the Range header), what a write does with the order, limit and
// offset of embedded resources, limited writes picking rows by their order's columns, writes through
// views (auto-updatable, INSTEAD OF triggers, on_conflict, PUT, Location), and the SQLSTATE → HTTP
// status table with its WWW-Authenticate. Expected answers are PostgREST v12.2's (src/PostgREST/
// RangeQuery.hs, ApiRequest.hs, Plan.hs, Query/QueryBuilder.hs, Query/Statements.hs, Error.hs,
// test/spec; named per test) or Postgres's own.

const SCHEMA = `
create table public.parents (id int primary key, name text);
create table public.kids (id int primary key, parent_id int references public.parents(id), name text);
insert into public.parents values (1, 'p1'), (2, 'p2');
insert into public.kids values (1, 1, 'k1'), (2, 1, 'k2'), (3, 1, 'k3'), (4, 2, 'k4');
create table public.base (id serial primary key, name text unique);
insert into public.base (name) values ('a'), ('b'), ('c');
create view public.auto as select id, name from public.base;
create view public.with_static as select *, 'static'::text as static from public.base;
create view public.names as select name from public.base;
create view public.trig as select id, name from public.base;
create function public.trig_write() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then insert into public.base (name) values (new.name); return new;
  elsif tg_op = 'UPDATE' then update public.base set name = new.name where id = old.id; return new;
  else delete from public.base where id = old.id; return old; end if;
end $$;
create trigger trig_write instead of insert or update or delete on public.trig
  for each row execute function public.trig_write();
create table public.loose (id int, name text);
insert into public.loose values (1, 'a'), (2, 'b'), (3, 'c');
create table public.cpk (z int, a int, v text, primary key (a, z));
create function public.fail(code text, msg text default 'boom', det text default null, hin text default null)
returns int language plpgsql as $$
begin
  raise exception using errcode = code, message = msg, detail = coalesce(det, ''), hint = coalesce(hin, '');
end $$;
create function public.writes() returns int language sql as 'insert into public.loose values (9, ''w'') returning id';
create table public.private (id int);
revoke all on public.private from anon, authenticated;
`;

const project = exploreProjects('leftovers7', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key; a body is sent as JSON. */
const call = (target: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}) =>
  rawRest(project.a.ref, project.a.secretKey, target, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const rep = { prefer: 'return=representation' };
/** The `id`s of a JSON list answer, in order. */
const ids = (res: HttpResult) => (res.json() as { id: number }[]).map((r) => r.id);
/** An error answer's status and code. */
const codeOf = (res: HttpResult) => [res.status, (res.json() as { code: string }).code];

describe("limit, offset and max-affected as Haskell's readMaybe reads them", () => {
  it('hex and octal numbers, a spaced minus and parentheses are numbers; + is none (QueryParams.hs ranges)', async () => {
    const answers = await Promise.all(
      [
        'limit=0x2',
        'offset=0x2',
        'limit=(1)&offset=0o1',
        'limit=%2B1',
        'limit=%201',
        'limit=2&offset=-%201',
      ].map(async (q) => ids(await call(`kids?select=id&order=id&${q}`))),
    );
    expect(answers).toEqual([[1, 2], [3, 4], [2], [1, 2, 3, 4], [1], [1]]);
  });

  it('a Range header in hex is no range (RangeQuery.hs rangeParse takes digits only)', async () => {
    const res = await call('kids?select=id&order=id', 'GET', undefined, { range: '0x0-0x1' });
    expect([res.status, ids(res)]).toEqual([200, [1, 2, 3, 4]]);
  });

  it('max-affected=0x1 is 1 under handling=strict (Preferences.hs readMaybe)', async () => {
    const res = await call(
      'kids?parent_id=eq.1',
      'PATCH',
      { name: 'x' },
      {
        prefer: 'handling=strict, max-affected=0x1',
      },
    );
    expect(codeOf(res)).toEqual([400, 'PGRST124']);
    expect(ids(await call('kids?select=id&name=eq.x'))).toEqual([]);
  });
});

describe("a write's embedded order, limit and offset (Plan.hs addOrders/addRanges skip writes in 12.2)", () => {
  it('naming no embed they are no error; an embedded filter still is PGRST108', async () => {
    const answers = await Promise.all(
      (
        [
          ['parents?id=eq.1&kids.order=id', 'PATCH'],
          ['parents?id=eq.1&kids.order=id&kids.limit=1&kids.offset=1', 'PATCH'],
          ['parents?id=eq.9&kids.order=id.desc', 'DELETE'],
          ['parents?id=eq.1&order=kids(name)', 'PATCH'],
          ['parents?id=eq.1&kids.id=eq.1', 'PATCH'],
        ] as const
      ).map(async ([target, method]) => {
        const res = await call(target, method, method === 'PATCH' ? { name: 'p1' } : undefined);
        return res.status === 204 ? 204 : codeOf(res);
      }),
    );
    expect(answers).toEqual([204, 204, 204, 204, [400, 'PGRST108']]);
  });

  it('a limit on any level with no order on any is PGRST109 (ApiRequest.hs getRanges)', async () => {
    const answers = await Promise.all(
      ['parents?id=eq.1&kids.limit=1', 'parents?id=eq.1&limit=abc'].map(async (t) =>
        codeOf(await call(t, 'PATCH', { name: 'p1' })),
      ),
    );
    expect(answers).toEqual([
      [400, 'PGRST109'],
      [400, 'PGRST109'],
    ]);
  });

  it('the rows a write returns are not cut by an embedded limit or offset', async () => {
    const res = await call(
      'parents?id=eq.1&select=id,kids(id)&kids.order=id.desc&kids.limit=1&kids.offset=1',
      'PATCH',
      { name: 'p1' },
      rep,
    );
    expect([res.status, res.json()]).toEqual([200, [{ id: 1, kids: [{ id: 3 }, { id: 2 }, { id: 1 }] }]]);
  });
});

describe('limited PATCH/DELETE pick rows by their order columns (QueryBuilder.hs mutRangeF, LimitedMutationSpec)', () => {
  it('an order on no unique column of a view: PGRST110 and nothing deleted', async () => {
    const res = await call('with_static?order=static&limit=1', 'DELETE');
    expect([res.status, res.json()]).toEqual([
      400,
      {
        code: 'PGRST110',
        message: 'The maximum number of rows allowed to change was surpassed',
        details: 'Results contain 3 rows changed but the maximum number allowed is 1',
        hint: null,
      },
    ]);
    expect(ids(await call('base?select=id&order=id'))).toEqual([1, 2, 3]);
  });

  it('a view without a key, a view with an INSTEAD OF trigger, and a table ordered by ctid', async () => {
    const view = await call('names?order=name.desc&limit=1', 'PATCH', { name: 'c2' }, rep);
    expect([view.status, view.json()]).toEqual([200, [{ name: 'c2' }]]);
    const trig = await call('trig?order=name.desc&limit=1', 'PATCH', { name: 'c3' }, rep);
    expect([trig.status, trig.json()]).toEqual([200, [{ id: 3, name: 'c3' }]]);
    const loose = await call('loose?order=ctid.desc&limit=1&offset=1', 'PATCH', { name: 'b2' }, rep);
    expect([loose.status, loose.json()]).toEqual([200, [{ id: 2, name: 'b2' }]]);
    // The updated row is a new version at the end of the table: now the last by ctid.
    expect((await call('loose?select=id,name&order=ctid.desc&limit=2')).json()).toEqual([
      { id: 2, name: 'b2' },
      { id: 3, name: 'c' },
    ]);
  });
});

describe('writes through views', () => {
  it('Location of an INSTEAD OF insert whose row has no key: id=is.null (SqlFragment.hs locationF)', async () => {
    const res = await call('trig', 'POST', { name: 'd' }, { prefer: 'return=headers-only' });
    expect([res.status, res.headers.location, res.headers['content-range']]).toEqual([
      201,
      '/trig?id=is.null',
      '*/*',
    ]);
    const auto = await call('auto', 'POST', { name: 'e' }, { prefer: 'return=headers-only' });
    expect([auto.status, auto.headers.location]).toEqual([201, `/auto?id=eq.${(await maxId()) ?? 'none'}`]);
  });

  it('a composite key in column order under *, by name under a select list (Plan.hs inferColsEmbedNeeds)', async () => {
    const star = await call('cpk', 'POST', { a: 1, z: 2, v: 'x' }, { prefer: 'return=headers-only' });
    const listed = await call(
      'cpk?select=v',
      'POST',
      { a: 3, z: 4, v: 'y' },
      { prefer: 'return=headers-only' },
    );
    expect([star.headers.location, listed.headers.location]).toEqual([
      '/cpk?z=eq.2&a=eq.1',
      '/cpk?a=eq.3&z=eq.4',
    ]);
  });

  it('upserts through an auto-updatable view by on_conflict; an INSTEAD OF view has no conflict target (42P10)', async () => {
    const merged = await call(
      'auto?on_conflict=name',
      'POST',
      { id: 1, name: 'a' },
      {
        prefer: 'return=representation, resolution=merge-duplicates',
      },
    );
    expect([merged.status, merged.json()]).toEqual([200, [{ id: 1, name: 'a' }]]);
    const trig = await call(
      'trig?on_conflict=name',
      'POST',
      { name: 'a' },
      {
        prefer: 'resolution=merge-duplicates',
      },
    );
    expect(codeOf(trig)).toEqual([400, '42P10']);
  });

  it('PUT through a view with the base key; a view without one is 405 PGRST105 (Plan.hs mutatePlan)', async () => {
    const put = await call('auto?id=eq.50', 'PUT', { id: 50, name: 'put' }, rep);
    expect([put.status, put.json()]).toEqual([201, [{ id: 50, name: 'put' }]]);
    expect(codeOf(await call('names?name=eq.x', 'PUT', { name: 'x' }))).toEqual([405, 'PGRST105']);
  });
});

describe('handling=strict with an invalid preference: PGRST122 once planned (Plan.hs)', () => {
  it("planning errors first, a missing column's 42703 after; a write's 406 after it; the root never checks", async () => {
    const strict = { prefer: 'handling=strict, nope' };
    const answers = await Promise.all(
      (
        [
          ['parents?select=id,nope(*)', 'GET', undefined, {}],
          ['parents?id=eq.1', 'PATCH', { nope: 1 }, {}],
          ['rpc/nope', 'POST', {}, {}],
          ['parents?select=id,nope', 'GET', undefined, {}],
          ['parents?select=id', 'GET', undefined, { accept: 'text/xml' }],
          ['parents?id=eq.1', 'PATCH', { name: 'p1' }, { accept: 'text/xml' }],
        ] as const
      ).map(async ([target, method, body, headers]) =>
        codeOf(await call(target, method, body, { ...strict, ...headers })),
      ),
    );
    expect(answers).toEqual([
      [400, 'PGRST200'],
      [400, 'PGRST204'],
      [404, 'PGRST202'],
      [400, 'PGRST122'],
      [406, 'PGRST107'],
      [400, 'PGRST122'],
    ]);
    const root = await call('', 'GET', undefined, strict);
    expect(root.status).toBe(200);
  });
});

/** The largest id of `base`. */
async function maxId() {
  const rows = (await call('base?select=id&order=id.desc&limit=1')).json() as { id: number }[];
  return rows[0]?.id;
}

describe('SQLSTATE → HTTP status (Error.hs pgErrorStatus) and WWW-Authenticate', () => {
  it('each class PostgREST maps, raised by a function', async () => {
    const codes = [
      '23503',
      '23505',
      '22012',
      '22P02',
      'P0001',
      'P0002',
      '42P01',
      '42883',
      '42P17',
      '25006',
      '25001',
      '53400',
      '53100',
      '54000',
      '57014',
      '40001',
      '0L000',
      '0P000',
      '28000',
      '2D000',
      '38000',
      '39000',
      '3B000',
      'F0000',
      'HV000',
      'XX000',
      '08000',
      '09000',
      '21000',
      'PT418',
      'PT999',
      'PTABC',
    ];
    const statuses = await Promise.all(
      codes.map(async (code) => {
        const res = await call('rpc/fail', 'POST', { code });
        return [code, res.status, (res.json() as { code: string }).code];
      }),
    );
    const expected: Record<string, number> = {
      '23503': 409,
      '23505': 409,
      '22012': 400,
      '22P02': 400,
      P0001: 400,
      P0002: 500,
      '42P01': 404,
      '42883': 404,
      '42P17': 500,
      '25006': 405,
      '25001': 500,
      '53400': 500,
      '53100': 503,
      '54000': 500,
      '57014': 500,
      '40001': 500,
      '0L000': 403,
      '0P000': 403,
      '28000': 403,
      '2D000': 500,
      '38000': 500,
      '39000': 500,
      '3B000': 500,
      F0000: 500,
      HV000: 500,
      XX000: 500,
      '08000': 503,
      '09000': 500,
      '21000': 500,
      PT418: 418,
      PT999: 500,
      PTABC: 500,
    };
    expect(statuses).toEqual(codes.map((code) => [code, expected[code], code]));
  });

  it('RAISE … USING DETAIL/HINT reach the body; a GET writing in its read-only transaction is 405', async () => {
    const raised = await call('rpc/fail', 'POST', {
      code: 'P0001',
      msg: 'm',
      det: 'the detail',
      hin: 'the hint',
    });
    expect([raised.status, raised.json()]).toEqual([
      400,
      { code: 'P0001', message: 'm', details: 'the detail', hint: 'the hint' },
    ]);
    const readOnly = await call('rpc/writes');
    expect([readOnly.status, readOnly.json()]).toEqual([
      405,
      {
        code: '25006',
        message: 'cannot execute INSERT in a read-only transaction',
        details: null,
        hint: null,
      },
    ]);
  });

  it("RAISE SQLSTATE 'PGRST' sets body, status and headers; PT401 and anon's 42501 add WWW-Authenticate, a user's is 403", async () => {
    const custom = await call('rpc/fail', 'POST', {
      code: 'PGRST',
      msg: '{"code":"123","message":"custom","details":"d","hint":"h"}',
      det: '{"status":418,"headers":{"X-Custom":"yes"}}',
    });
    expect([custom.status, custom.headers['x-custom'], custom.json()]).toEqual([
      418,
      'yes',
      { code: '123', message: 'custom', details: 'd', hint: 'h' },
    ]);
    const pt401 = await call('rpc/fail', 'POST', { code: 'PT401' });
    expect([pt401.status, pt401.headers['www-authenticate']]).toEqual([401, 'Bearer']);
    const anon = await rawRest(project.a.ref, project.a.publishableKey, 'private');
    expect([anon.status, anon.headers['www-authenticate'], (anon.json() as { code: string }).code]).toEqual([
      401,
      'Bearer',
      '42501',
    ]);
    const user = await rawRest(project.a.ref, project.a.publishableKey, 'private', {
      headers: { authorization: `Bearer ${await userToken(project.a.jwtSecret)}` },
    });
    expect([user.status, user.headers['www-authenticate'], (user.json() as { code: string }).code]).toEqual([
      403,
      undefined,
      '42501',
    ]);
  });
});

project.secondProjectUntouched('select id, name from public.base order by id', [
  { id: 1, name: 'a' },
  { id: 2, name: 'b' },
  { id: 3, name: 'c' },
]);
