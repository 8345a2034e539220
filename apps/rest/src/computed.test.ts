import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const t: TestEngine = testEngine();

beforeAll(async () => {
  await ownerQuery(`
CREATE TABLE cf_authors (id int PRIMARY KEY, first text NOT NULL, last text NOT NULL);
CREATE TABLE cf_books (id int PRIMARY KEY, author_id int REFERENCES cf_authors(id), title text NOT NULL);
CREATE TABLE cf_tallies (id int PRIMARY KEY, count int NOT NULL);
CREATE FUNCTION cf_full_name(cf_authors) RETURNS text LANGUAGE sql STABLE AS $$ SELECT $1.first || ' ' || $1.last $$;
CREATE FUNCTION cf_everyone() RETURNS SETOF cf_authors LANGUAGE sql STABLE AS $$ SELECT * FROM cf_authors $$;
INSERT INTO cf_authors VALUES (1, 'Ursula', 'Le Guin'), (2, 'Octavia', 'Butler'), (3, 'Iain', 'Banks');
INSERT INTO cf_books VALUES (1, 1, 'Earthsea'), (2, 1, 'The Dispossessed'), (3, 2, 'Kindred');
INSERT INTO cf_tallies VALUES (1, 7), (2, 9);`);
});
afterAll(() => t.close());

describe('computed fields', () => {
  it('selects, filters and orders on a function of the row, like a column', async () => {
    const r = await t.call(
      'GET',
      '/cf_authors?select=id,name:cf_full_name,shout:cf_full_name::varchar&cf_full_name=like.*Butler&order=id',
    );
    expect([r.status, r.json]).toEqual([200, [{ id: 2, name: 'Octavia Butler', shout: 'Octavia Butler' }]]);
    const ordered = await t.call('GET', '/cf_authors?select=cf_full_name&order=cf_full_name.desc');
    expect(ordered.json).toEqual([
      { cf_full_name: 'Ursula Le Guin' },
      { cf_full_name: 'Octavia Butler' },
      { cf_full_name: 'Iain Banks' },
    ]);
  });

  it('works inside an embedded resource and on a function result of the table type', async () => {
    const embedded = await t.call('GET', '/cf_books?select=title,cf_authors(cf_full_name)&id=eq.3');
    expect(embedded.json).toEqual([{ title: 'Kindred', cf_authors: { cf_full_name: 'Octavia Butler' } }]);
    const rpc = await t.call('GET', '/rpc/cf_everyone?select=cf_full_name&cf_full_name=ilike.iain*');
    expect(rpc.json).toEqual([{ cf_full_name: 'Iain Banks' }]);
  });

  it('finds a function created after the schema was loaded', async () => {
    expect((await t.call('GET', '/cf_authors?select=id&limit=1')).status).toBe(200);
    await ownerQuery(
      `CREATE FUNCTION cf_initials(cf_authors) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT left($1.first, 1) || left($1.last, 1) $$`,
    );
    const r = await t.call('GET', '/cf_authors?select=cf_initials&id=eq.1');
    expect([r.status, r.json]).toEqual([200, [{ cf_initials: 'UL' }]]);
  });

  it('still answers 42703 for a name that is neither column nor computed field', async () => {
    const r = await t.call('GET', '/cf_authors?select=cf_nope');
    expect([r.status, r.json]).toEqual([
      400,
      { code: '42703', message: 'column cf_authors.cf_nope does not exist', details: null, hint: null },
    ]);
  });
});

describe('count as a column (PostgREST backwards compatibility)', () => {
  it('select=count counts the rows that match, with or without an alias', async () => {
    expect((await t.call('GET', '/cf_books?select=count')).json).toEqual([{ count: 3 }]);
    expect((await t.call('GET', '/cf_books?select=n:count&author_id=eq.1')).json).toEqual([{ n: 2 }]);
  });

  it('an embedded count gives every parent its number of related rows, 0 included', async () => {
    const r = await t.call('GET', '/cf_authors?select=first,cf_books(count)&order=id');
    expect(r.json).toEqual([
      { first: 'Ursula', cf_books: [{ count: 2 }] },
      { first: 'Octavia', cf_books: [{ count: 1 }] },
      { first: 'Iain', cf_books: [{ count: 0 }] },
    ]);
    const filtered = await t.call(
      'GET',
      '/cf_authors?select=first,cf_books(count)&cf_books.title=like.The*&id=eq.1',
    );
    expect(filtered.json).toEqual([{ first: 'Ursula', cf_books: [{ count: 1 }] }]);
  });

  it('a real column named count wins; count is no filter; count() stays an aggregate (not allowed)', async () => {
    expect((await t.call('GET', '/cf_tallies?select=count&order=id')).json).toEqual([
      { count: 7 },
      { count: 9 },
    ]);
    // PostgREST's `"cf_books"."count" > '1'` is the aggregate `count(cf_books)` to Postgres.
    const filter = await t.call('GET', '/cf_books?count=gt.1');
    expect([filter.status, filter.json]).toEqual([
      400,
      { code: '42803', message: 'aggregate functions are not allowed in WHERE', details: null, hint: null },
    ]);
    const aggregate = await t.call('GET', '/cf_books?select=count()');
    expect([aggregate.status, (aggregate.json as { code: string }).code]).toEqual([400, 'PGRST123']);
  });
});
