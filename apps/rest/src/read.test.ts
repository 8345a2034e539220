import { afterAll, describe, expect, it } from 'vitest';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const t: TestEngine = testEngine({ maxRows: 50 });
afterAll(() => t.close());

describe('reads', () => {
  it('selects columns, aliases, casts and JSON paths, ordered', async () => {
    const r = await t.call(
      'GET',
      '/rest/v1/books?select=id,name:title,price::text,isbn:meta->>isbn,rating:meta->stats->rating&order=id&limit=2',
    );
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(r.headers['content-range']).toBe('0-1/*');
    expect(r.json).toEqual([
      { id: 1, name: 'A Wizard of Earthsea', price: '9.99', isbn: '111', rating: 5 },
      { id: 2, name: 'The Left Hand of Darkness', price: '12.50', isbn: '222', rating: 4 },
    ]);
    // A path ending in an array index is named by its last key, or by the column.
    const indexed = await t.call('GET', '/books?select=meta->0,meta->stats->>0,meta->stats->>rating&id=eq.1');
    expect(indexed.json).toEqual([{ meta: null, stats: null, rating: '5' }]);
  });

  it('reads JSON paths into columns that are no json or jsonb through to_jsonb, as PostgREST', async () => {
    await ownerQuery(`
      CREATE TABLE r_tagged (id int PRIMARY KEY, tags text[] NOT NULL, at tstzrange, doc jsonb);
      INSERT INTO r_tagged VALUES (1, '{vehicle,red}', NULL, '{"k":1}'), (2, '{fruit}', NULL, '{"k":2}'),
        (3, '{apple,green}', NULL, NULL);`);
    const selected = await t.call('GET', '/r_tagged?select=id,tag:tags->0,last:tags->>1,doc->>k&order=id');
    expect(selected.status, selected.body.toString()).toBe(200);
    expect(selected.json).toEqual([
      { id: 1, tag: 'vehicle', last: 'red', k: '1' },
      { id: 2, tag: 'fruit', last: null, k: '2' },
      { id: 3, tag: 'apple', last: 'green', k: null },
    ]);
    const filtered = await t.call('GET', '/r_tagged?select=id&tags->>0=eq.fruit');
    expect(filtered.json).toEqual([{ id: 2 }]);
    const ordered = await t.call('GET', '/r_tagged?select=id&order=tags->>0.desc');
    expect(ordered.json).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it('applies every operator like the equivalent SQL', async () => {
    const cases: [string, string][] = [
      ['id=eq.3', 'id = 3'],
      ['id=neq.3', 'id <> 3'],
      ['id=gt.4', 'id > 4'],
      ['id=gte.4', 'id >= 4'],
      ['id=lt.2', 'id < 2'],
      ['id=lte.2', 'id <= 2'],
      ['title=like.*Earth*', "title LIKE '%Earth%'"],
      ['title=ilike.*earth*', "title ILIKE '%earth%'"],
      ['title=match.^The', "title ~ '^The'"],
      ['title=imatch.^the', "title ~* '^the'"],
      ['price=is.null', 'price IS NULL'],
      ['price=not.is.null', 'price IS NOT NULL'],
      ['id=in.(1,3,5)', 'id IN (1,3,5)'],
      ['title=in.("Kindred","Excession")', "title IN ('Kindred','Excession')"],
      ['tags=cs.{classic}', "tags @> '{classic}'"],
      ['tags=cd.{scifi,space,dystopia}', "tags <@ '{scifi,space,dystopia}'"],
      ['tags=ov.{fantasy,space}', "tags && '{fantasy,space}'"],
      ['meta=cs.{"isbn":"333"}', `meta @> '{"isbn":"333"}'`],
      ['pages=sl.[400,500)', "pages << '[400,500)'"],
      ['pages=sr.[0,1)', "pages >> '[0,1)'"],
      ['pages=nxr.[1,250)', "pages &< '[1,250)'"],
      ['pages=nxl.[1,250)', "pages &> '[1,250)'"],
      ['pages=adj.[200,210)', "pages -|- '[200,210)'"],
      ['search=fts(english).magic', "search @@ to_tsquery('english', 'magic')"],
      ['search=plfts.time travel', "search @@ plainto_tsquery('time travel')"],
      ['search=phfts(english).culture war', "search @@ phraseto_tsquery('english', 'culture war')"],
      ['search=wfts(english).winter -summer', "search @@ websearch_to_tsquery('english', 'winter -summer')"],
      ['id=not.in.(1,2)', 'NOT (id IN (1,2))'],
      ['title=like(any).{Kin*,Exc*}', "title LIKE ANY('{Kin%,Exc%}')"],
      ['meta->>isbn=eq.444', "meta->>'isbn' = '444'"],
      ['meta->stats->rating=eq.5', "meta->'stats'->'rating' = '5'"],
      ['or=(id.eq.1,and(author_id.eq.2,price.is.null))', '(id = 1 OR (author_id = 2 AND price IS NULL))'],
      ['not.or=(id.lt.3,id.gt.5)', 'NOT (id < 3 OR id > 5)'],
      [
        'or=(tags.cs.{space},title.in.("Kindred","x,y"))',
        "(tags @> '{space}' OR title IN ('Kindred','x,y'))",
      ],
      ['and=(id.gte.2,or(price.gt.14,price.is.null))', '(id >= 2 AND (price > 14 OR price IS NULL))'],
      [
        'published=gte.1980-01-01&published=lt.1990-01-01',
        "published >= '1980-01-01' AND published < '1990-01-01'",
      ],
    ];
    for (const [query, where] of cases) {
      const r = await t.call('GET', `/books?select=id&order=id&${encodeURI(query).replaceAll('+', '%2B')}`);
      const expected = await adminQuery<{ id: number }>(`SELECT id FROM books WHERE ${where} ORDER BY id`);
      expect(r.status, query).toBe(200);
      expect(r.json, query).toEqual(expected);
    }
  });

  it('orders with direction and nulls placement, pages with limit/offset and Range', async () => {
    const r = await t.call(
      'GET',
      '/books?select=id,price&order=price.desc.nullslast,id.asc&limit=3&offset=1',
    );
    expect(r.json).toEqual([
      { id: 6, price: 14.25 },
      { id: 2, price: 12.5 },
      { id: 3, price: 10 },
    ]);
    expect(r.headers['content-range']).toBe('1-3/*');
    const ranged = await t.call('GET', '/books?select=id&order=id', {
      headers: { range: '2-3', 'range-unit': 'items', prefer: 'count=exact' },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe('2-3/6');
    expect(ranged.json).toEqual([{ id: 3 }, { id: 4 }]);
    // PostgREST 12 reads only `^([0-9]+)-([0-9]*)$` (RangeQuery.hs): with a unit it is no range.
    for (const range of ['items=2-3', 'bytes=0-0', '2-3,4-5']) {
      const ignored = await t.call('GET', '/books?select=id&order=id', { headers: { range } });
      expect([range, ignored.status, ignored.headers['content-range']]).toEqual([range, 200, '0-5/*']);
    }
    const nullsFirst = await t.call('GET', '/books?select=id&order=price.asc.nullsfirst,id&limit=1');
    expect(nullsFirst.json).toEqual([{ id: 4 }]);
    // As PostgREST (QueryParams.hs ranges): offset o and limit l are rows o … o+l-1, cut to those
    // from 0. A negative offset alone is none; with a limit it eats into it, to 416 below row 0.
    const paged = async (q: string) => {
      const r = await t.call('GET', `/books?select=id&order=id&${q}`);
      return [q, r.status, r.json];
    };
    expect(await paged('offset=-4')).toEqual(['offset=-4', 200, [1, 2, 3, 4, 5, 6].map((id) => ({ id }))]);
    expect(await paged('offset=-1&limit=3')).toEqual(['offset=-1&limit=3', 200, [{ id: 1 }, { id: 2 }]]);
    expect(await paged('offset=-1&limit=1')).toEqual(['offset=-1&limit=1', 200, []]);
    expect(await paged('offset=-4&limit=1')).toMatchObject(['offset=-4&limit=1', 416, { code: 'PGRST103' }]);
    const negativeLimit = await t.call('GET', '/books?select=id&limit=-1');
    expect(negativeLimit.status).toBe(416);
    expect(negativeLimit.json).toMatchObject({ code: 'PGRST103' });
  });

  it('counts exactly, planned and estimated; answers 416 past the end and */0 when empty', async () => {
    // A read applies (and reports) no return= preference.
    const exact = await t.call('GET', '/books?select=id&author_id=eq.1', {
      headers: { prefer: 'return=representation, count=exact' },
    });
    expect(exact.headers['content-range']).toBe('0-1/2');
    expect(exact.status).toBe(200);
    expect(exact.headers['preference-applied']).toBe('count=exact');
    const planned = await t.call('GET', '/books?select=id', { headers: { prefer: 'count=planned' } });
    expect(planned.headers['content-range']).toMatch(/^0-5\/\d+$/);
    const estimated = await t.call('GET', '/books?select=id&limit=1', {
      headers: { prefer: 'count=estimated' },
    });
    expect(estimated.headers['content-range']).toBe('0-0/6');
    expect(estimated.status).toBe(206);
    const empty = await t.call('GET', '/books?id=eq.999', { headers: { prefer: 'count=exact' } });
    expect(empty.headers['content-range']).toBe('*/0');
    expect(empty.json).toEqual([]);
    const past = await t.call('GET', '/books?offset=10', { headers: { prefer: 'count=exact' } });
    expect(past.status).toBe(416);
    expect(past.json).toMatchObject({ code: 'PGRST103', message: 'Requested range not satisfiable' });
    const bad = await t.call('GET', '/books', { headers: { range: '5-2' } });
    expect(bad.status).toBe(416);
  });

  it('takes planned counts from the estimate of the rows, not of the count', async () => {
    await ownerQuery(`CREATE TABLE r_many AS SELECT generate_series(1, 2000) AS id; ANALYZE r_many`);
    const range = (r: { headers: Record<string, unknown> }) => String(r.headers['content-range']);
    const planned = await t.call('GET', '/r_many?select=id', { headers: { prefer: 'count=planned' } });
    expect(range(planned)).toBe('0-49/2000');
    expect(planned.status).toBe(206);
    const filtered = await t.call('GET', '/r_many?id=lte.20', { headers: { prefer: 'count=planned' } });
    const estimate = Number(range(filtered).split('/')[1]);
    expect(estimate).toBeGreaterThan(5);
    expect(estimate).toBeLessThan(100);
    // Above maxRows, count=estimated is the planner's estimate too.
    const estimated = await t.call('GET', '/r_many?select=id', { headers: { prefer: 'count=estimated' } });
    expect(range(estimated)).toBe('0-49/2000');
  });

  it('names the canonical query in Content-Location, as PostgREST 12.2 (QuerySpec "Canonical location")', async () => {
    // Parameters sorted by name (stably), a repeated one comma-joined, `+` a space, and every byte
    // but letters, digits and -_.~ percent-encoded (a non-ASCII byte as the UTF-8 of its Latin-1 character).
    const r = await t.call('GET', '/rest/v1/books?title=neq.x+y&id=gt.0&select=id&id=lt.9&title=neq.%C3%A9');
    expect(r.status).toBe(200);
    expect(r.headers['content-location']).toBe(
      '/books?id=gt.0,lt.9&select=id&title=neq.x%20y,neq.%C3%83%C2%A9',
    );
    const bare = await t.call('HEAD', '/rest/v1/books');
    expect(bare.headers['content-location']).toBe('/books');
    const flag = await t.call('GET', '/rest/v1/books?select=id&limit=1&order');
    expect(flag.headers['content-location']).toBe('/books?limit=1&order=&select=id');
  });

  it('caps rows at maxRows', async () => {
    const capped = testEngine({ maxRows: 2 });
    const r = await capped.call('GET', '/books?select=id&order=id', { headers: { prefer: 'count=exact' } });
    expect(r.json).toEqual([{ id: 1 }, { id: 2 }]);
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe('0-1/6');
    await capped.close();
  });

  it('returns a single object, 406 PGRST116 otherwise; CSV; HEAD', async () => {
    const one = await t.call('GET', '/books?select=id,title&id=eq.3', {
      headers: { accept: 'application/vnd.pgrst.object+json' },
    });
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ id: 3, title: 'Kindred' });
    const many = await t.call('GET', '/books?select=id', {
      headers: { accept: 'application/vnd.pgrst.object+json' },
    });
    expect(many.status).toBe(406);
    expect(many.json).toEqual({
      code: 'PGRST116',
      message: 'Cannot coerce the result to a single JSON object',
      details: 'The result contains 6 rows',
      hint: null,
    });
    const csv = await t.call('GET', '/books?select=id,title,price&id=in.(1,2,4)&order=id', {
      headers: { accept: 'text/csv' },
    });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body).toBe(
      'id,title,price\n1,"A Wizard of Earthsea",9.99\n2,"The Left Hand of Darkness",12.50\n4,"Parable of the Sower",',
    );
    // Fields in PostgREST's record-text form: arrays as {…}, json as text, quoted when needed.
    const typed = await t.call(
      'GET',
      '/books?select=id,title,tags,published,cheap:price::text,isbn:meta->isbn&id=in.(1,3,6)&order=id',
      { headers: { accept: 'text/csv' } },
    );
    expect(typed.body).toBe(
      [
        'id,title,tags,published,cheap,isbn',
        '1,"A Wizard of Earthsea","{fantasy,classic}",1968-01-01,9.99,"""111"""',
        '3,Kindred,{scifi},1979-01-01,10.00,"""333"""',
        '6,Excession,{},,14.25,"""666"""',
      ].join('\n'),
    );
    const none = await t.call('GET', '/books?select=id&id=eq.999', { headers: { accept: 'text/csv' } });
    expect(none.body).toBe('\n');
    const head = await t.call('HEAD', '/books?select=id', { headers: { prefer: 'count=exact' } });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-range']).toBe('0-5/6');
    // PostgREST reads the Range header for GET only (ApiRequest.hs): a HEAD counts every row
    const ranged = await t.call('HEAD', '/books?select=id', {
      headers: { prefer: 'count=exact', range: '0-1' },
    });
    expect(ranged.status).toBe(200);
    expect(ranged.headers['content-range']).toBe('0-5/6');
    const bad = await t.call('GET', '/books', { headers: { accept: 'application/xml' } });
    expect(bad.status).toBe(406);
    expect(bad.json).toMatchObject({ code: 'PGRST107' });
  });

  it('strips null fields for nulls=stripped (supabase-js stripNulls()), arrays and single objects', async () => {
    const accept = (type: string) => ({ headers: { accept: type } });
    const url = '/books?select=id,price,meta&id=in.(4,5)&order=id';
    const array = await t.call('GET', url, accept('application/vnd.pgrst.array+json;nulls=stripped'));
    expect(array.status).toBe(200);
    expect(array.headers['content-type']).toBe(
      'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8',
    );
    expect(array.json).toEqual([
      { id: 4, meta: { isbn: '444' } },
      { id: 5, price: 15 },
    ]);
    const object = await t.call(
      'GET',
      '/books?select=id,price&id=eq.4',
      accept('application/vnd.pgrst.object+json;nulls=stripped'),
    );
    expect(object.headers['content-type']).toBe(
      'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8',
    );
    expect(object.json).toEqual({ id: 4 });
    const plain = await t.call('GET', url, accept('application/vnd.pgrst.array+json'));
    expect(plain.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(plain.json).toEqual([
      { id: 4, price: null, meta: { isbn: '444' } },
      { id: 5, price: 15, meta: null },
    ]);
    const rpc = await t.call(
      'GET',
      '/rpc/books_by_author?author=3&select=id,publisher_id',
      accept('application/vnd.pgrst.array+json;nulls=stripped'),
    );
    expect(rpc.json).toEqual([{ id: 5 }, { id: 6, publisher_id: 2 }]);
  });

  it('reads a view and another exposed schema; refuses an unexposed one', async () => {
    const view = await t.call('GET', '/book_titles?select=title&id=eq.5');
    expect(view.json).toEqual([{ title: 'Consider Phlebas' }]);
    const other = await t.call('GET', '/items', { headers: { 'accept-profile': 'other' } });
    expect(other.json).toEqual([{ id: 1, label: 'other-one' }]);
    // With several exposed schemas every body names its own, as PostgREST's Content-Profile.
    expect(other.headers['content-profile']).toBe('other');
    expect(view.headers['content-profile']).toBe('public');
    const single = testEngine({ schemas: ['public'] });
    const unnamed = await single.call('GET', '/book_titles?select=title&id=eq.5');
    const named = await single.call('GET', '/book_titles?select=title&id=eq.5', {
      headers: { 'accept-profile': 'public' },
    });
    // The root's OpenAPI document follows the same rule.
    const root = await single.call('GET', '/');
    const namedRoot = await single.call('GET', '/', { headers: { 'accept-profile': 'public' } });
    const otherRoot = await t.call('GET', '/', { headers: { 'accept-profile': 'other' } });
    await single.close();
    expect([unnamed.headers['content-profile'], named.headers['content-profile']]).toEqual([
      undefined,
      'public',
    ]);
    expect([root, namedRoot, otherRoot].map((r) => [r.status, r.headers['content-profile']])).toEqual([
      [200, undefined],
      [200, 'public'],
      [200, 'other'],
    ]);
    const hidden = await t.call('GET', '/items', { headers: { 'accept-profile': 'hidden' } });
    expect(hidden.status).toBe(406);
    expect(hidden.json).toEqual({
      code: 'PGRST106',
      message: 'The schema must be one of the following: public, other',
      details: null,
      hint: null,
    });
  });

  it('refuses the explain media type (db-plan-enabled off, as on hosted Supabase) and unknown ones with PGRST107', async () => {
    const refused = async (accept: string) => {
      const r = await t.call('GET', '/books?select=id', { headers: { accept } });
      expect([r.status, (r.json as { code: string }).code]).toEqual([406, 'PGRST107']);
      return (r.json as { message: string }).message.replace('None of these media types are available: ', '');
    };
    // Named as PostgREST names what it read: canonical types, by quality, without q.
    expect(await refused('application/vnd.pgrst.plan')).toBe(
      'application/vnd.pgrst.plan+text; for="application/json"',
    );
    expect(await refused('application/vnd.pgrst.plan+json; for="text/csv"; options=buffers|analyze')).toBe(
      'application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|buffers',
    );
    expect(await refused('application/xyz;q=0.5, text/html')).toBe('text/html, application/xyz');
  });

  it('answers application/geo+json (supabase-js geojson()) with a FeatureCollection built by ST_AsGeoJSON', async () => {
    const geo = { headers: { accept: 'application/geo+json' } };
    // Without PostGIS, Postgres's own error, as PostgREST answers it.
    const missing = await t.call('GET', '/books?select=id&limit=1', geo);
    expect([missing.status, (missing.json as { code: string }).code]).toEqual([404, '42883']);
    // A stand-in for PostGIS's ST_AsGeoJSON(record), where Supabase installs PostGIS.
    await adminQuery(`CREATE SCHEMA IF NOT EXISTS extensions;
      GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
      CREATE OR REPLACE FUNCTION extensions.st_asgeojson(r record) RETURNS text LANGUAGE plpgsql STABLE AS
        $$ BEGIN RETURN json_build_object('type', 'Feature', 'geometry', NULL, 'properties', to_jsonb(r))::text; END $$;`);
    const features = (rows: object[]) => ({
      type: 'FeatureCollection',
      features: rows.map((properties) => ({ type: 'Feature', geometry: null, properties })),
    });
    const r = await t.call('GET', '/books?select=id,title&id=lte.2&order=id', geo);
    expect([r.status, r.headers['content-type'], r.headers['content-range']]).toEqual([
      200,
      'application/geo+json; charset=utf-8',
      '0-1/*',
    ]);
    expect(r.json).toEqual(
      features([
        { id: 1, title: 'A Wizard of Earthsea' },
        { id: 2, title: 'The Left Hand of Darkness' },
      ]),
    );
    const rpc = await t.call('GET', '/rpc/first_author?select=name', geo);
    expect(rpc.json).toEqual(features([{ name: 'Ursula' }]));
    const none = await t.call('GET', '/books?id=eq.0', geo);
    expect(none.json).toEqual(features([]));
  });

  it('answers OPTIONS with what the relation or function allows, as PostgREST', async () => {
    await ownerQuery(`CREATE VIEW options_counts AS SELECT author_id, count(*) AS n FROM books GROUP BY author_id;
      CREATE TABLE options_nokey (v int);`);
    const allow = async (path: string) => {
      const r = await t.call('OPTIONS', path);
      return [r.status, r.headers.allow, r.headers['access-control-allow-origin']];
    };
    expect(await allow('/books')).toEqual([200, 'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE', '*']);
    expect((await allow('/options_nokey'))[1]).toBe('OPTIONS,GET,HEAD,POST,PATCH,DELETE');
    expect((await allow('/book_titles'))[1]).toBe('OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE');
    expect((await allow('/options_counts'))[1]).toBe('OPTIONS,GET,HEAD');
    expect((await allow('/'))[1]).toBe('OPTIONS,GET,HEAD');
    expect((await allow('/rpc/add?a=1&b=2'))[1]).toBe('OPTIONS,GET,HEAD,POST');
    expect((await allow('/rpc/sleep_ms?ms=1'))[1]).toBe('OPTIONS,POST');
    const unknown = await t.call('OPTIONS', '/options_none');
    expect([unknown.status, unknown.json]).toEqual([404, {}]);
  });

  it('evaluates deeply nested logic trees, and refuses deeper ones with PGRST100', async () => {
    // or(id.eq.1,and(or(id.eq.1,and(... id.eq.2))): two tree levels per repetition.
    const nested = (n: number) => `or=(${'or(id.eq.1,and('.repeat(n)}id.eq.2${'))'.repeat(n)})`;
    const deep = await t.call('GET', `/books?select=id&${nested(249)}&order=id`);
    expect(deep.json).toEqual([{ id: 1 }, { id: 2 }]);
    const tooDeep = await t.call('GET', `/books?select=id&${nested(2000)}`);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.json).toMatchObject({
      code: 'PGRST100',
      details: 'logic trees nest at most 500 levels deep',
    });
  });

  it('answers PostgREST errors for unknown tables, columns and malformed queries', async () => {
    const table = await t.call('GET', '/bookz');
    expect(table.status).toBe(404);
    expect(table.json).toEqual({
      code: 'PGRST205',
      message: "Could not find the table 'public.bookz' in the schema cache",
      details: null,
      hint: "Perhaps you meant the table 'public.books'",
    });
    const column = await t.call('GET', '/books?select=nope');
    expect(column.status).toBe(400);
    expect(column.json).toMatchObject({ code: '42703', message: 'column books.nope does not exist' });
    const select = await t.call('GET', '/books?select=id,');
    expect(select.status).toBe(400);
    expect(select.json).toMatchObject({
      code: 'PGRST100',
      message: '"failed to parse select parameter (id,)" (line 1, column 4)',
    });
    // Parsec reports the furthest any operator got: "eq" read, then no "(" or "." (PostgREST 12).
    const filter = await t.call('GET', '/books?id=eqq.1');
    expect(filter.json).toMatchObject({
      code: 'PGRST100',
      message: '"failed to parse filter (eqq.1)" (line 1, column 3)',
      details: 'unexpected "q" expecting operator (eq, gt, ...)',
    });
    const tree = await t.call('GET', '/books?or=(id.eq.1,id.gt.2');
    expect(tree.json).toMatchObject({
      code: 'PGRST100',
      message: '"failed to parse logic tree ((id.eq.1,id.gt.2)" (line 1, column 19)',
      details: 'unexpected end of input expecting "," or ")"',
    });
    const order = await t.call('GET', '/books?order=id.up');
    expect(order.json).toMatchObject({ code: 'PGRST100' });
    const value = await t.call('GET', '/books?id=eq.abc');
    expect(value.status).toBe(400);
    expect(value.json).toMatchObject({ code: '22P02' });
    // As PostgREST 12, a limit that is no integer is no limit.
    const limit = await t.call('GET', '/books?limit=x');
    expect(limit.status).toBe(200);
  });

  it('reads the path as PostgREST (wai pathInfo): an empty segment is one, so a trailing or doubled slash is no resource', async () => {
    for (const path of ['/books/', '//books', '/rpc/add/?a=1&b=2', '/rpc//add', '/rest/v1/books/']) {
      const r = await t.call('GET', path);
      expect([path, r.status, (r.json as { code?: string }).code]).toEqual([path, 404, 'PGRST125']);
    }
    for (const path of ['/rest/v1/books?select=id&id=eq.1', '/books?select=id&id=eq.1']) {
      expect((await t.call('GET', path)).json).toEqual([{ id: 1 }]);
    }
    for (const path of ['/', '/rest/v1/', '/rest/v1']) expect((await t.call('GET', path)).status).toBe(200);
  });
});
