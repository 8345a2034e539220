import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHaskellInteger } from './query-parser.js';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The seventh PostgREST 12.2 sweep: numbers as Haskell's readMaybe reads them, what a write does with
// the order, limit and offset of embedded resources, limited writes picking rows by their order's
// columns, and the Location of an insert. Answers from PostgREST v12.2's source (named per test).

let t: TestEngine;
const rep = { prefer: 'return=representation' };

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE s7_parents (id int PRIMARY KEY, name text);
    CREATE TABLE s7_kids (id int PRIMARY KEY, parent_id int REFERENCES s7_parents(id), name text);
    INSERT INTO s7_parents VALUES (1, 'p1'), (2, 'p2');
    INSERT INTO s7_kids VALUES (1, 1, 'k1'), (2, 1, 'k2'), (3, 1, 'k3'), (4, 2, 'k4');
    CREATE TABLE s7_base (id serial PRIMARY KEY, name text);
    INSERT INTO s7_base (name) VALUES ('a'), ('b'), ('c');
    CREATE VIEW s7_static AS SELECT *, 'static'::text AS static FROM s7_base;
    CREATE VIEW s7_names AS SELECT name FROM s7_base;
    CREATE TABLE s7_loose (id int, name text);
    INSERT INTO s7_loose VALUES (1, 'a'), (2, 'b'), (3, 'c');
    CREATE TABLE s7_cpk (z int, a int, v text, PRIMARY KEY (a, z));
    CREATE VIEW s7_trig AS SELECT id, name FROM s7_base;
    CREATE FUNCTION s7_trig_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO s7_base (name) VALUES (NEW.name); RETURN NEW; END $$;
    CREATE TRIGGER s7_trig_insert INSTEAD OF INSERT ON s7_trig FOR EACH ROW EXECUTE FUNCTION s7_trig_insert();`);
  t = testEngine({ txEnd: 'rollback' });
});
afterAll(() => t.close());

describe("limit, offset and max-affected as Haskell's readMaybe reads them", () => {
  it('reads hex, octal, a spaced minus and parentheses; refuses +, fractions, exponents and binary', () => {
    const cases: [string, number | null][] = [
      ['0x10', 16],
      ['0XfF', 255],
      ['0o17', 15],
      [' 3\t', 3],
      ['\u00a03', 3],
      ['- 3', -3],
      ['(3)', 3],
      ['( ( -0x2 ) )', -2],
      ['007', 7],
      ['+3', null],
      ['-(3)', null],
      ['(3', null],
      ['3)', null],
      ['1.0', null],
      ['1e3', null],
      ['0b1', null],
      ['0x', null],
      ['0o8', null],
      ['\ufeff3', null],
      ['', null],
    ];
    expect(cases.map(([text]) => [text, readHaskellInteger(text)])).toEqual(cases);
  });

  it('a hex limit or offset bounds a read; a hex Range header is no range (RangeQuery.hs rangeParse)', async () => {
    const ids = async (query: string, headers: Record<string, string> = {}) =>
      (
        (await t.call('GET', `/s7_kids?select=id&order=id&${query}`, { headers })).json as { id: number }[]
      ).map((r) => r.id);
    expect(await ids('limit=0x2')).toEqual([1, 2]);
    expect(await ids('offset=0x2')).toEqual([3, 4]);
    expect(await ids('limit=(1)&offset=0o1')).toEqual([2]);
    expect(await ids('limit=%2B1')).toEqual([1, 2, 3, 4]);
    expect(await ids('', { range: '0x0-0x1' })).toEqual([1, 2, 3, 4]);
  });

  it('max-affected=0x1 is 1 under handling=strict', async () => {
    const r = await t.call('PATCH', '/s7_kids?parent_id=eq.1', {
      headers: { prefer: 'handling=strict, max-affected=0x1' },
      body: { name: 'x' },
    });
    expect([r.status, (r.json as { code: string } | undefined)?.code]).toEqual([400, 'PGRST124']);
  });
});

describe("a write's embedded order, limit and offset (PostgREST 12.2 Plan.hs addOrders, addRanges; ApiRequest.hs getRanges)", () => {
  it('an embedded order, limit or offset naming no embed is no error; an embedded filter still is', async () => {
    const answers = await Promise.all(
      [
        ['PATCH', 's7_parents?id=eq.1&s7_kids.order=id'],
        ['PATCH', 's7_parents?id=eq.1&s7_kids.order=id&s7_kids.limit=1&s7_kids.offset=1'],
        ['DELETE', 's7_parents?id=eq.9&s7_kids.order=id.desc'],
        ['POST', 's7_parents?s7_kids.limit=1&s7_kids.order=id'],
        ['PATCH', 's7_parents?id=eq.1&s7_kids.id=eq.1'],
      ].map(async ([method, target]) => {
        const r = await t.call(method!, `/${target}`, {
          ...(method === 'DELETE' ? {} : { body: method === 'POST' ? { id: 7 } : { name: 'x' } }),
        });
        return [method, r.status, r.status >= 400 ? (r.json as { code: string }).code : null];
      }),
    );
    expect(answers).toEqual([
      ['PATCH', 204, null],
      ['PATCH', 204, null],
      ['DELETE', 204, null],
      ['POST', 201, null],
      ['PATCH', 400, 'PGRST108'],
    ]);
  });

  it('a limit or offset on any level with no order on any is PGRST109', async () => {
    const codes = await Promise.all(
      [
        's7_parents?id=eq.1&s7_kids.limit=1',
        's7_parents?id=eq.1&s7_kids.offset=abc',
        's7_parents?id=eq.1&limit=x',
      ].map(async (target) => {
        const r = await t.call('PATCH', `/${target}`, { body: { name: 'x' } });
        return [r.status, (r.json as { code: string } | undefined)?.code];
      }),
    );
    expect(codes).toEqual([
      [400, 'PGRST109'],
      [400, 'PGRST109'],
      [400, 'PGRST109'],
    ]);
  });

  it('the rows a write returns are not cut by an embedded limit or offset', async () => {
    const r = await t.call(
      'PATCH',
      '/s7_parents?id=eq.1&select=id,s7_kids(id)&s7_kids.order=id.desc&s7_kids.limit=1&s7_kids.offset=1',
      { headers: rep, body: { name: 'x' } },
    );
    expect([r.status, r.json]).toEqual([200, [{ id: 1, s7_kids: [{ id: 3 }, { id: 2 }, { id: 1 }] }]]);
  });
});

describe('limited PATCH/DELETE pick rows by their order columns (QueryBuilder.hs mutRangeF)', () => {
  it('an order on no unique column of a view changes every equal row: PGRST110, rolled back (LimitedMutationSpec)', async () => {
    const r = await t.call('DELETE', '/s7_static?order=static&limit=1');
    expect([r.status, r.json]).toEqual([
      400,
      {
        code: 'PGRST110',
        message: 'The maximum number of rows allowed to change was surpassed',
        details: 'Results contain 3 rows changed but the maximum number allowed is 1',
        hint: null,
      },
    ]);
    expect(await adminQuery('SELECT count(*)::int AS n FROM s7_base')).toEqual([{ n: 3 }]);
  });

  it('a view without a key and a table ordered by ctid (LimitedMutationSpec limited_update_items_no_pk)', async () => {
    const view = await t.call('PATCH', '/s7_names?order=name.desc&limit=1', {
      headers: rep,
      body: { name: 'z' },
    });
    expect([view.status, view.json]).toEqual([200, [{ name: 'z' }]]);
    const loose = await t.call('PATCH', '/s7_loose?order=ctid.desc&limit=1&offset=1', {
      headers: rep,
      body: { name: 'z' },
    });
    expect([loose.status, loose.json]).toEqual([200, [{ id: 2, name: 'z' }]]);
    const read = await t.call('GET', '/s7_loose?select=id&order=ctid.desc&limit=1');
    expect(read.json).toEqual([{ id: 3 }]);
    const selected = await t.call('GET', '/s7_loose?select=id,ctid,tableoid::regclass&ctid=eq.(0,1)');
    expect(selected.json).toEqual([{ id: 1, ctid: '(0,1)', tableoid: 's7_loose' }]);
    const viewCtid = await t.call('GET', '/s7_names?select=ctid');
    expect([viewCtid.status, (viewCtid.json as { code: string }).code]).toEqual([400, '42703']);
  });
});

describe('the Location of an insert with return=headers-only (Statements.hs, SqlFragment.hs locationF)', () => {
  it('a NULL key is is.null; keys in column order for *, by name for a select list', async () => {
    const trig = await t.call('POST', '/s7_trig', {
      headers: { prefer: 'return=headers-only' },
      body: { name: 'n' },
    });
    expect([trig.status, trig.headers.location]).toEqual([201, '/s7_trig?id=is.null']);
    const star = await t.call('POST', '/s7_cpk', {
      headers: { prefer: 'return=headers-only' },
      body: { a: 1, z: 2, v: 'x' },
    });
    expect(star.headers.location).toBe('/s7_cpk?z=eq.2&a=eq.1');
    const listed = await t.call('POST', '/s7_cpk?select=v,z', {
      headers: { prefer: 'return=headers-only' },
      body: { a: 1, z: 2, v: 'x' },
    });
    expect(listed.headers.location).toBe('/s7_cpk?a=eq.1&z=eq.2');
  });
});

describe('handling=strict with an invalid preference: PGRST122 once planned (Plan.hs)', () => {
  const strict = { prefer: 'handling=strict, nope' };
  const answer = async (method: string, url: string, headers: Record<string, string>, body?: unknown) => {
    const r = await t.call(method, url, { headers: { ...strict, ...headers }, ...(body ? { body } : {}) });
    return [r.status, (r.json as { code?: string } | undefined)?.code];
  };

  it('planning errors answer first; the root, which PostgREST does not plan, never checks', async () => {
    expect(
      await Promise.all([
        answer('GET', '/s7_parents?select=id,nope(*)', {}),
        answer('GET', '/s7_parents?select=id&order=nope(id)', {}),
        answer('PATCH', '/s7_parents?id=eq.1', {}, { nope: 1 }),
        answer('POST', '/rpc/s7_nope', {}, {}),
        answer('GET', '/s7_parents?select=id&id=eq.1', {}),
        answer('GET', '/s7_parents?select=id,name,nope', {}),
        answer('PATCH', '/s7_parents', {}, { name: 'x' }),
      ]),
    ).toEqual([
      [400, 'PGRST200'],
      [400, 'PGRST108'],
      [400, 'PGRST204'],
      [404, 'PGRST202'],
      [400, 'PGRST122'],
      // Postgres finds the column missing, and pg-safeupdate the missing WHERE, after PostgREST's check.
      [400, 'PGRST122'],
      [400, 'PGRST122'],
    ]);
    const root = await t.call('GET', '/', { headers: strict });
    expect(root.status).toBe(200);
  });

  it("an Accept nothing meets: a read's 406 after planning, a write's after PGRST122 (wrappedReadPlan, mutateReadPlan)", async () => {
    const xml = { accept: 'text/xml' };
    expect(
      await Promise.all([
        answer('GET', '/s7_parents?select=id,nope(*)', xml),
        answer('GET', '/s7_parents?select=id', xml),
        answer('PATCH', '/s7_parents?id=eq.1', xml, { name: 'x' }),
        answer('PATCH', '/s7_parents?id=eq.1', { ...xml, prefer: 'handling=strict' }, { name: 'x' }),
      ]),
    ).toEqual([
      [400, 'PGRST200'],
      [406, 'PGRST107'],
      [400, 'PGRST122'],
      [406, 'PGRST107'],
    ]);
  });
});
