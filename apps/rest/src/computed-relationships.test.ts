import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, ownerQuery, type TestEngine, testEngine, USER_A, USER_B } from './test/helpers.js';

const t: TestEngine = testEngine();

beforeAll(async () => {
  // cr_premieres has no foreign key (like a foreign table): only functions relate it to cr_films.
  await ownerQuery(`
CREATE TABLE cr_directors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE cr_films (
  id int PRIMARY KEY, title text NOT NULL,
  director_id int REFERENCES cr_directors(id), producer_id int REFERENCES cr_directors(id)
);
CREATE TABLE cr_premieres (id int PRIMARY KEY, film_id int NOT NULL, location text NOT NULL);
CREATE VIEW cr_film_titles AS SELECT id, title FROM cr_films;
CREATE TABLE cr_notes (id int PRIMARY KEY, film_id int NOT NULL, owner uuid NOT NULL, body text NOT NULL);
ALTER TABLE cr_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY cr_notes_own ON cr_notes FOR SELECT USING (owner = auth.uid());

CREATE FUNCTION cr_premieres(cr_films) RETURNS SETOF cr_premieres LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_premieres WHERE film_id = $1.id $$;
CREATE FUNCTION cr_premieres(cr_film_titles) RETURNS SETOF cr_premieres LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_premieres WHERE film_id = $1.id $$;
CREATE FUNCTION cr_film(cr_premieres) RETURNS SETOF cr_films ROWS 1 LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_films WHERE id = $1.film_id $$;
CREATE FUNCTION cr_film_row(cr_premieres) RETURNS cr_films LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_films WHERE id = $1.film_id $$;
CREATE FUNCTION cr_directors(cr_films) RETURNS SETOF cr_directors ROWS 1 LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_directors WHERE id = $1.director_id $$;
CREATE FUNCTION cr_label(cr_films) RETURNS text LANGUAGE sql STABLE AS $$ SELECT $1.title || ' (' || $1.id || ')' $$;
CREATE FUNCTION cr_notes(cr_films) RETURNS SETOF cr_notes LANGUAGE sql STABLE AS
  $$ SELECT * FROM cr_notes WHERE film_id = $1.id ORDER BY id $$;
CREATE FUNCTION cr_all_films() RETURNS SETOF cr_films LANGUAGE sql STABLE AS $$ SELECT * FROM cr_films $$;

INSERT INTO cr_directors VALUES (1, 'Varda'), (2, 'Kurosawa'), (3, 'Ozu');
INSERT INTO cr_films VALUES (1, 'Cleo from 5 to 7', 1, 3), (2, 'Ikiru', 2, NULL), (3, 'Tokyo Story', 3, 3);
INSERT INTO cr_premieres VALUES (1, 1, 'Cannes'), (2, 1, 'Venice'), (3, 2, 'Tokyo'), (4, 9, 'Nowhere');
INSERT INTO cr_notes VALUES
  (1, 1, '${USER_A}', 'a on cleo'), (2, 1, '${USER_B}', 'b on cleo'), (3, 2, '${USER_A}', 'a on ikiru');`);
});
afterAll(() => t.close());

describe('computed relationships', () => {
  it('embeds a SETOF function of the row as to-many, with order, limit and filters inside', async () => {
    const all = await t.call(
      'GET',
      '/cr_films?select=title,cr_premieres(location)&order=id&cr_premieres.order=location.desc',
    );
    expect([all.status, all.json]).toEqual([
      200,
      [
        { title: 'Cleo from 5 to 7', cr_premieres: [{ location: 'Venice' }, { location: 'Cannes' }] },
        { title: 'Ikiru', cr_premieres: [{ location: 'Tokyo' }] },
        { title: 'Tokyo Story', cr_premieres: [] },
      ],
    ]);
    const limited = await t.call(
      'GET',
      '/cr_films?select=id,cr_premieres(location)&id=eq.1&cr_premieres.order=location&cr_premieres.limit=1',
    );
    expect(limited.json).toEqual([{ id: 1, cr_premieres: [{ location: 'Cannes' }] }]);
    const filtered = await t.call(
      'GET',
      '/cr_films?select=id,cr_premieres(id)&cr_premieres.location=like.V*&order=id',
    );
    expect(filtered.json).toEqual([
      { id: 1, cr_premieres: [{ id: 2 }] },
      { id: 2, cr_premieres: [] },
      { id: 3, cr_premieres: [] },
    ]);
  });

  it('embeds from a view row and from a function result of the table type', async () => {
    const view = await t.call('GET', '/cr_film_titles?select=title,cr_premieres(id)&id=eq.2');
    expect(view.json).toEqual([{ title: 'Ikiru', cr_premieres: [{ id: 3 }] }]);
    const rpc = await t.call('GET', '/rpc/cr_all_films?select=title,cr_premieres(location)&id=eq.2');
    expect(rpc.json).toEqual([{ title: 'Ikiru', cr_premieres: [{ location: 'Tokyo' }] }]);
  });

  it('embeds ROWS 1 and non-SETOF functions as to-one, null when the function finds nothing', async () => {
    const r = await t.call(
      'GET',
      '/cr_premieres?select=location,cr_film(title),row:cr_film_row(title,cr_label)&order=id',
    );
    expect([r.status, r.json]).toEqual([
      200,
      [
        {
          location: 'Cannes',
          cr_film: { title: 'Cleo from 5 to 7' },
          row: { title: 'Cleo from 5 to 7', cr_label: 'Cleo from 5 to 7 (1)' },
        },
        {
          location: 'Venice',
          cr_film: { title: 'Cleo from 5 to 7' },
          row: { title: 'Cleo from 5 to 7', cr_label: 'Cleo from 5 to 7 (1)' },
        },
        { location: 'Tokyo', cr_film: { title: 'Ikiru' }, row: { title: 'Ikiru', cr_label: 'Ikiru (2)' } },
        // A non-SETOF function returning NULL is no row, not a row of NULLs.
        { location: 'Nowhere', cr_film: null, row: null },
      ],
    ]);
    const filtered = await t.call(
      'GET',
      '/cr_premieres?select=id,cr_film(title)&cr_film.title=eq.Ikiru&order=id',
    );
    expect(filtered.json).toEqual([
      { id: 1, cr_film: null },
      { id: 2, cr_film: null },
      { id: 3, cr_film: { title: 'Ikiru' } },
      { id: 4, cr_film: null },
    ]);
  });

  it('spreads and orders by a to-one computed relationship, refuses to spread a to-many one', async () => {
    const spread = await t.call(
      'GET',
      '/cr_premieres?select=location,...cr_film(film:title)&id=in.(3,4)&order=id',
    );
    expect(spread.json).toEqual([
      { location: 'Tokyo', film: 'Ikiru' },
      { location: 'Nowhere', film: null },
    ]);
    const ordered = await t.call(
      'GET',
      '/cr_premieres?select=id,cr_film(title)&order=cr_film(title).desc.nullslast,id',
    );
    expect((ordered.json as { id: number }[]).map((p) => p.id)).toEqual([3, 1, 2, 4]);
    // As with a foreign key, the relationship must be embedded (PGRST108).
    const notEmbedded = await t.call('GET', '/cr_premieres?select=id&order=cr_film(title)');
    expect([notEmbedded.status, (notEmbedded.json as { code: string }).code]).toEqual([400, 'PGRST108']);
    const toMany = await t.call('GET', '/cr_films?select=title,...cr_premieres(location)');
    expect([toMany.status, (toMany.json as { code: string }).code]).toEqual([400, 'PGRST119']);
  });

  it('filters parents with !inner and rel=is.null, and takes aliases and *', async () => {
    const inner = await t.call(
      'GET',
      '/cr_films?select=title,shown:cr_premieres!inner(location)&shown.location=eq.Tokyo',
      { headers: { prefer: 'count=exact' } },
    );
    expect(inner.json).toEqual([{ title: 'Ikiru', shown: [{ location: 'Tokyo' }] }]);
    expect(inner.headers['content-range']).toBe('0-0/1');
    const innerToOne = await t.call('GET', '/cr_premieres?select=id,cr_film_row!inner(id)&order=id');
    expect((innerToOne.json as { id: number }[]).map((p) => p.id)).toEqual([1, 2, 3]);
    const without = await t.call('GET', '/cr_premieres?select=id,cr_film(id)&cr_film=is.null');
    expect(without.json).toEqual([{ id: 4, cr_film: null }]);
    const star = await t.call('GET', '/cr_premieres?select=id,film:cr_film(*)&id=eq.3');
    expect(star.json).toEqual([
      { id: 3, film: { id: 2, title: 'Ikiru', director_id: 2, producer_id: null } },
    ]);
  });

  it('nests computed relationships and foreign keys in each other', async () => {
    const r = await t.call(
      'GET',
      '/cr_films?select=title,cr_premieres(location,cr_film(cr_directors(name)))&id=eq.2',
    );
    expect(r.json).toEqual([
      {
        title: 'Ikiru',
        cr_premieres: [{ location: 'Tokyo', cr_film: { cr_directors: { name: 'Kurosawa' } } }],
      },
    ]);
  });

  it('takes precedence over the foreign keys towards a table of the same name, as PostgREST', async () => {
    // Two keys from cr_films to cr_directors: by foreign key alone, embedding is ambiguous.
    const reverse = await t.call('GET', '/cr_directors?select=name,cr_films(title)');
    expect([reverse.status, (reverse.json as { code: string }).code]).toEqual([300, 'PGRST201']);
    const r = await t.call('GET', '/cr_films?select=title,cr_directors(name)&order=id');
    expect([r.status, r.json]).toEqual([
      200,
      [
        { title: 'Cleo from 5 to 7', cr_directors: { name: 'Varda' } },
        { title: 'Ikiru', cr_directors: { name: 'Kurosawa' } },
        { title: 'Tokyo Story', cr_directors: { name: 'Ozu' } },
      ],
    ]);
    // The function replaces those keys: a hint does not bring one back, nor does a key column.
    const hinted = await t.call(
      'GET',
      '/cr_films?select=cr_directors!cr_films_producer_id_fkey(name)&id=eq.1',
    );
    expect(hinted.json).toEqual([{ cr_directors: { name: 'Varda' } }]);
    const byColumn = await t.call('GET', '/cr_films?select=producer_id(name)');
    expect([byColumn.status, (byColumn.json as { code: string }).code]).toEqual([400, 'PGRST200']);
  });

  it('runs the function as the request role, so row level security applies inside it', async () => {
    const path = '/cr_films?select=id,cr_notes(body)&order=id';
    expect((await t.call('GET', path, { headers: await bearer('authenticated', USER_A) })).json).toEqual([
      { id: 1, cr_notes: [{ body: 'a on cleo' }] },
      { id: 2, cr_notes: [{ body: 'a on ikiru' }] },
      { id: 3, cr_notes: [] },
    ]);
    expect((await t.call('GET', path, { headers: await bearer('authenticated', USER_B) })).json).toEqual([
      { id: 1, cr_notes: [{ body: 'b on cleo' }] },
      { id: 2, cr_notes: [] },
      { id: 3, cr_notes: [] },
    ]);
    const anon = await t.call('GET', '/cr_films?select=id,cr_notes!inner(body)');
    expect([anon.status, anon.json]).toEqual([200, []]);
  });

  it('finds a function created after the schema was loaded', async () => {
    expect((await t.call('GET', '/cr_films?select=id&limit=1')).status).toBe(200);
    await ownerQuery(`CREATE FUNCTION cr_crew(cr_films) RETURNS SETOF cr_directors LANGUAGE sql STABLE AS
      $$ SELECT * FROM cr_directors WHERE id IN ($1.director_id, $1.producer_id) ORDER BY id $$`);
    const r = await t.call('GET', '/cr_films?select=id,cr_crew(name)&id=eq.1');
    expect([r.status, r.json]).toEqual([200, [{ id: 1, cr_crew: [{ name: 'Varda' }, { name: 'Ozu' }] }]]);
  });

  it('answers PGRST200 for a name that is no relationship, a computed field included', async () => {
    const unknown = await t.call('GET', '/cr_films?select=title,cr_nothing(*)');
    expect([unknown.status, unknown.json]).toEqual([
      400,
      {
        code: 'PGRST200',
        message: "Could not find a relationship between 'cr_films' and 'cr_nothing' in the schema cache",
        details:
          "Searched for a foreign key relationship between 'cr_films' and 'cr_nothing' in the schema 'public', but no matches were found.",
        hint: null,
      },
    ]);
    const field = await t.call('GET', '/cr_films?select=cr_label(*)');
    expect([field.status, (field.json as { code: string }).code]).toEqual([400, 'PGRST200']);
    // As a column, Postgres reads `"cr_films"."cr_premieres"` as the call `cr_premieres(cr_films)`
    // (PostgREST checks no column of a read): a SETOF function's rows are a row each.
    const column = await t.call('GET', '/cr_films?select=cr_premieres&id=eq.1');
    expect([column.status, column.json]).toEqual([
      200,
      [
        { cr_premieres: { id: 1, film_id: 1, location: 'Cannes' } },
        { cr_premieres: { id: 2, film_id: 1, location: 'Venice' } },
      ],
    ]);
  });

  it('embeds in the representation of a write', async () => {
    const r = await t.call('POST', '/cr_premieres?select=location,cr_film(title)', {
      headers: { prefer: 'return=representation' },
      body: { id: 5, film_id: 3, location: 'Berlin' },
    });
    expect([r.status, r.json]).toEqual([201, [{ location: 'Berlin', cr_film: { title: 'Tokyo Story' } }]]);
    await ownerQuery('DELETE FROM cr_premieres WHERE id = 5');
  });

  // cr_premieres is overloaded (cr_films, cr_film_titles): where the parent row is a CTE's or a
  // subquery's, it is a `record` until cast to its relation, and Postgres cannot choose (42725).
  it('picks the overload of the parent relation in a write representation and under a to-one function', async () => {
    const written = await t.call('POST', '/cr_films?select=id,cr_premieres(location)', {
      headers: { prefer: 'return=representation' },
      body: { id: 8, title: 'Playtime' },
    });
    await ownerQuery('DELETE FROM cr_films WHERE id = 8');
    expect([written.status, written.json]).toEqual([201, [{ id: 8, cr_premieres: [] }]]);
    const nested = await t.call('GET', '/cr_premieres?select=id,cr_film_row(title,cr_premieres(id))&id=eq.3');
    expect([nested.status, nested.json]).toEqual([
      200,
      [{ id: 3, cr_film_row: { title: 'Ikiru', cr_premieres: [{ id: 3 }] } }],
    ]);
  });
});
