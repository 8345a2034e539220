import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const t: TestEngine = testEngine();
afterAll(() => t.close());

beforeAll(async () => {
  await ownerQuery(`
    CREATE FUNCTION scalar_nums() RETURNS SETOF int LANGUAGE sql STABLE AS
      $$ SELECT unnest(ARRAY[3, 1, 4, 1, 5]) $$;
    CREATE FUNCTION scalar_people() RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
      SELECT jsonb_build_object('id', id, 'identity', jsonb_build_object('nom', nom, 'prenoms', prenoms))
      FROM (VALUES (1, 'Zola', 'Émile'), (2, 'Colette', 'Sidonie'), (3, 'Balzac', 'Honoré'), (4, 'Colette', 'Anne'))
        AS p(id, nom, prenoms) $$;`);
});

/** A GET's status, JSON body and Content-Range, for short assertions. */
const get = async (url: string, headers: Record<string, string> = {}) => {
  const r = await t.call('GET', url, { headers });
  return { status: r.status, json: r.json, range: r.headers['content-range'] };
};

describe('functions returning scalars: the result column is pgrst_scalar', () => {
  it('filters, orders and pages a SETOF scalar result by pgrst_scalar', async () => {
    expect((await get('/rpc/scalar_nums?pgrst_scalar=gt.1&order=pgrst_scalar.desc')).json).toEqual([5, 4, 3]);
    expect((await get('/rpc/scalar_nums?or=(pgrst_scalar.eq.1,pgrst_scalar.eq.5)')).json).toEqual([1, 1, 5]);
    expect((await get('/rpc/scalar_nums?pgrst_scalar=not.in.(1,3)')).json).toEqual([4, 5]);
    expect((await get('/rpc/scalar_nums?order=pgrst_scalar&limit=2&offset=1')).json).toEqual([1, 3]);
    const ranged = await get('/rpc/scalar_nums?pgrst_scalar=gt.1&order=pgrst_scalar', {
      range: '0-1',
      prefer: 'count=exact',
    });
    expect(ranged).toEqual({ status: 206, json: [3, 4], range: '0-1/3' });
    const estimated = await get('/rpc/scalar_nums?pgrst_scalar=gt.1&limit=1', { prefer: 'count=estimated' });
    expect(estimated).toEqual({ status: 206, json: [3], range: '0-0/3' });
    // Arguments and filters together, by POST as supabase-js sends `rpc(f, args).like(...)`.
    const post = await t.call('POST', '/rpc/titles_like?pgrst_scalar=like.*Left*', {
      body: { pattern: '%' },
    });
    expect(post.json).toEqual(['The Left Hand of Darkness']);
  });

  it('selects pgrst_scalar, with a cast, and follows JSON paths into a json/jsonb scalar', async () => {
    expect((await get('/rpc/scalar_nums?select=pgrst_scalar&pgrst_scalar=lt.3')).json).toEqual([1, 1]);
    expect((await get('/rpc/scalar_nums?select=pgrst_scalar::text&pgrst_scalar=eq.4')).json).toEqual(['4']);
    const byName = await get(
      '/rpc/scalar_people?order=pgrst_scalar->identity->>nom.asc,pgrst_scalar->identity->>prenoms.asc',
    );
    expect((byName.json as { id: number }[]).map((p) => p.id)).toEqual([3, 4, 2, 1]);
    expect((await get('/rpc/scalar_people?pgrst_scalar->>id=eq.3')).json).toEqual([
      { id: 3, identity: { nom: 'Balzac', prenoms: 'Honoré' } },
    ]);
  });

  it('applies filters to a single scalar too: a value filtered out is null', async () => {
    expect((await get('/rpc/add?a=1&b=2&pgrst_scalar=eq.3')).json).toBe(3);
    const filteredOut = await t.call('GET', '/rpc/add?a=1&b=2&pgrst_scalar=gt.5');
    expect(filteredOut.status).toBe(200);
    expect(filteredOut.body).toBe('null');
  });

  it('answers a Content-Range for one value or row, counted with count=exact (supabase-js count)', async () => {
    expect(await get('/rpc/add?a=1&b=2', { prefer: 'count=exact' })).toEqual({
      status: 200,
      json: 3,
      range: '0-0/1',
    });
    expect((await get('/rpc/add?a=1&b=2&pgrst_scalar=gt.5', { prefer: 'count=exact' })).range).toBe('*/0');
    expect((await get('/rpc/first_author')).range).toBe('0-0/*');
    // supabase-js rpc(f, args, { head: true, count }) with object arguments POSTs return=minimal:
    // a function call ignores it and answers its result.
    const head = await t.call('POST', '/rpc/scalar_nums', {
      headers: { prefer: 'count=exact,return=minimal' },
    });
    expect(head.json).toEqual([3, 1, 4, 1, 5]);
    expect(head.headers['preference-applied']).toBe('count=exact');
  });

  it('answers a filter, order or select on any other column with the 42703 PostgreSQL gives', async () => {
    const cases = [
      ['/rpc/scalar_nums?scalar_nums=gt.1', 'column scalar_nums.scalar_nums does not exist'],
      ['/rpc/scalar_nums?foo=eq.1', 'column scalar_nums.foo does not exist'],
      ['/rpc/scalar_nums?order=foo.desc', 'column scalar_nums.foo does not exist'],
      ['/rpc/scalar_nums?select=foo', 'column scalar_nums.foo does not exist'],
      ['/rpc/add?a=1&b=2&add=gt.1', 'column add.add does not exist'],
    ] as const;
    for (const [url, message] of cases) {
      const r = await get(url);
      expect({ url, ...r }).toEqual({
        url,
        status: 400,
        json: { code: '42703', message, details: null, hint: null },
        range: undefined,
      });
    }
  });

  it('answers CSV under the pgrst_scalar header, one line per value', async () => {
    const csv = { accept: 'text/csv' };
    const single = await t.call('GET', '/rpc/add?a=1&b=2', { headers: csv });
    expect(single.status).toBe(200);
    expect(single.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(single.body).toBe('pgrst_scalar\n3');
    const set = await t.call('GET', '/rpc/scalar_nums?pgrst_scalar=gt.1&order=pgrst_scalar', {
      headers: csv,
    });
    expect(set.body).toBe('pgrst_scalar\n3\n4\n5');
    // Values are quoted as PostgreSQL quotes record fields.
    const text = await t.call('GET', '/rpc/titles_like?pattern=K%25', { headers: csv });
    expect(text.body).toBe('pgrst_scalar\nKindred');
    const spaced = await t.call('GET', '/rpc/titles_like?pattern=%25Left%25', { headers: csv });
    expect(spaced.body).toBe('pgrst_scalar\n"The Left Hand of Darkness"');
  });

  it('serves raw media types for no table read, whatever is selected (406 PGRST107, as PostgREST 12)', async () => {
    for (const accept of ['text/plain', 'text/xml', 'application/octet-stream']) {
      for (const select of ['name', 'id,name', '*']) {
        const r = await get(`/authors?select=${select}`, { accept });
        expect(r).toMatchObject({
          status: 406,
          json: { code: 'PGRST107', message: `None of these media types are available: ${accept}` },
        });
      }
    }
  });
});
