import { afterAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const t: TestEngine = testEngine();
afterAll(() => t.close());

describe('embedding', () => {
  it('embeds many-to-one with hints for two keys to the same table, and asks to disambiguate otherwise', async () => {
    const r = await t.call(
      'GET',
      '/books?select=title,author:authors!author_id(name),editor:authors!books_editor_id_fkey(name)&id=in.(1,4)&order=id',
    );
    expect(r.json).toEqual([
      { title: 'A Wizard of Earthsea', author: { name: 'Ursula' }, editor: { name: 'Octavia' } },
      { title: 'Parable of the Sower', author: { name: 'Octavia' }, editor: null },
    ]);
    const ambiguous = await t.call('GET', '/books?select=title,authors(name)');
    expect(ambiguous.status).toBe(300);
    expect(ambiguous.json).toMatchObject({
      code: 'PGRST201',
      message: "Could not embed because more than one relationship was found for 'books' and 'authors'",
      hint: "Try changing 'authors' to one of the following: 'authors!books_author_id_fkey', 'authors!books_editor_id_fkey'. Find the desired relationship in the 'details' key.",
    });
    expect((ambiguous.json as { details: unknown[] }).details).toHaveLength(2);
    const byColumn = await t.call('GET', '/books?select=title,author_id(name)&id=eq.3');
    expect(byColumn.json).toEqual([{ title: 'Kindred', author_id: { name: 'Octavia' } }]);
  });

  it('names the target of each relationship in the hint when an embed by column is ambiguous', async () => {
    await ownerQuery(`CREATE TABLE e_staff (id int PRIMARY KEY, name text, boss_id int REFERENCES e_staff(id));
      CREATE VIEW e_staff_names AS SELECT id, name FROM e_staff`);
    const r = await t.call('GET', '/e_staff?select=name,boss_id(name)');
    expect(r.status).toBe(300);
    expect(r.json).toMatchObject({
      code: 'PGRST201',
      hint: "Try changing 'boss_id' to one of the following: 'e_staff!e_staff_boss_id_fkey', 'e_staff_names!e_staff_boss_id_fkey'. Find the desired relationship in the 'details' key.",
    });
  });

  it('embeds one-to-many with embedded filters, order and limit; one-to-one as an object', async () => {
    const r = await t.call(
      'GET',
      '/authors?select=name,written:books!author_id(title),author_profiles(website)&written.order=title.desc&written.limit=1&written.title=not.like.*Darkness*&order=id',
    );
    expect(r.json).toEqual([
      {
        name: 'Ursula',
        written: [{ title: 'A Wizard of Earthsea' }],
        author_profiles: { website: 'https://u.example' },
      },
      { name: 'Octavia', written: [{ title: 'Parable of the Sower' }], author_profiles: null },
      { name: 'Iain', written: [{ title: 'Excession' }], author_profiles: { website: 'https://i.example' } },
    ]);
    const empty = await t.call(
      'GET',
      '/authors?select=name,books!author_id(title)&books.title=eq.none&id=eq.1',
    );
    expect(empty.json).toEqual([{ name: 'Ursula', books: [] }]);
  });

  it('applies logic trees inside an embedded resource', async () => {
    const r = await t.call(
      'GET',
      '/authors?select=name,books!author_id(id)&books.or=(id.eq.1,id.eq.6)&books.order=id&order=id',
    );
    expect(r.json).toEqual([
      { name: 'Ursula', books: [{ id: 1 }] },
      { name: 'Octavia', books: [] },
      { name: 'Iain', books: [{ id: 6 }] },
    ]);
  });

  it('embeds many-to-many through the join table, nested', async () => {
    const r = await t.call(
      'GET',
      '/authors?select=name,books!author_id(title,genres(name))&id=eq.2&books.order=id',
    );
    expect(r.json).toEqual([
      {
        name: 'Octavia',
        books: [
          { title: 'Kindred', genres: [{ name: 'science fiction' }] },
          { title: 'Parable of the Sower', genres: [{ name: 'science fiction' }, { name: 'dystopian' }] },
        ],
      },
    ]);
  });

  it('filters parents with !inner and rel=not.is.null, counting only what remains', async () => {
    const inner = await t.call('GET', '/authors?select=name,author_profiles!inner(website)&order=id', {
      headers: { prefer: 'count=exact' },
    });
    expect(inner.json).toEqual([
      { name: 'Ursula', author_profiles: { website: 'https://u.example' } },
      { name: 'Iain', author_profiles: { website: 'https://i.example' } },
    ]);
    expect(inner.headers['content-range']).toBe('0-1/2');
    const filtered = await t.call(
      'GET',
      '/books?select=title,publishers!inner(name)&publishers.name=eq.Ace&order=id',
    );
    expect(filtered.json).toEqual([
      { title: 'A Wizard of Earthsea', publishers: { name: 'Ace' } },
      { title: 'The Left Hand of Darkness', publishers: { name: 'Ace' } },
    ]);
    const toMany = await t.call('GET', '/genres?select=name,books!inner(id)&books.id=eq.1');
    expect(toMany.json).toEqual([{ name: 'fantasy', books: [{ id: 1 }] }]);
    const notNull = await t.call('GET', '/books?select=id,publishers(name)&publishers=not.is.null&order=id');
    expect((notNull.json as { id: number }[]).map((b) => b.id)).toEqual([1, 2, 3, 4, 6]);
    const isNull = await t.call('GET', '/books?select=id,publishers(name)&publishers=is.null');
    expect(isNull.json).toEqual([{ id: 5, publishers: null }]);
  });

  it('filters parents on related rows inside logic trees (or across embedded resources)', async () => {
    const orNull = await t.call(
      'GET',
      '/books?select=id,publishers(name)&or=(publishers.is.null,id.eq.1)&order=id',
      {
        headers: { prefer: 'count=exact' },
      },
    );
    expect(orNull.json).toEqual([
      { id: 1, publishers: { name: 'Ace' } },
      { id: 5, publishers: null },
    ]);
    expect(orNull.headers['content-range']).toBe('0-1/2');
    const across = await t.call(
      'GET',
      '/books?select=id,publishers(),authors!author_id()&publishers.name=eq.Ace&authors.name=eq.Iain&or=(publishers.not.is.null,authors.not.is.null)&order=id',
    );
    expect(across.json).toEqual([{ id: 1 }, { id: 2 }, { id: 5 }, { id: 6 }]);
  });

  it('leaves an empty embed out of the response: it only joins for filtering', async () => {
    const inner = await t.call(
      'GET',
      '/books?select=id,authors!author_id!inner()&authors.name=eq.Iain&order=id',
    );
    expect(inner.json).toEqual([{ id: 5 }, { id: 6 }]);
    const antiJoin = await t.call('GET', '/authors?select=name,author_profiles()&author_profiles=is.null');
    expect(antiJoin.json).toEqual([{ name: 'Octavia' }]);
    // An embed of only empty embeds is empty too (PostgREST 12.2.2+, Plan.hs rsEmptyEmbed).
    const nested = await t.call('GET', '/authors?select=id,books!author_id(genres())&id=eq.1');
    expect(nested.json).toEqual([{ id: 1 }]);
  });

  it('embeds through views, with keys traced to their base tables', async () => {
    const m2o = await t.call('GET', '/book_titles?select=title,authors(name)&id=eq.3');
    expect(m2o.json).toEqual([{ title: 'Kindred', authors: { name: 'Octavia' } }]);
    const o2m = await t.call('GET', '/authors?select=name,book_titles(title)&id=eq.1&book_titles.order=id');
    expect(o2m.json).toEqual([
      {
        name: 'Ursula',
        book_titles: [{ title: 'A Wizard of Earthsea' }, { title: 'The Left Hand of Darkness' }],
      },
    ]);
    // The view does not expose editor_id, so authors→book_titles is not ambiguous; genres through
    // the real join table still are one relationship.
    const m2m = await t.call('GET', '/books?select=id,genres(name)&id=eq.4&genres.order=id');
    expect(m2m.json).toEqual([{ id: 4, genres: [{ name: 'science fiction' }, { name: 'dystopian' }] }]);
  });

  it('orders parents by a to-one related column, refuses to-many', async () => {
    const r = await t.call(
      'GET',
      '/books?select=id,publishers(name)&order=publishers(name).desc.nullslast,id',
    );
    expect((r.json as { id: number }[]).map((b) => b.id)).toEqual([3, 4, 6, 1, 2, 5]);
    // The relation is the embed of that alias (or name), with its hint: two keys lead to authors.
    const byAlias = await t.call(
      'GET',
      '/books?select=id,writer:authors!author_id(name)&order=writer(name).desc,id&limit=3',
    );
    expect(byAlias.json).toEqual([
      { id: 1, writer: { name: 'Ursula' } },
      { id: 2, writer: { name: 'Ursula' } },
      { id: 3, writer: { name: 'Octavia' } },
    ]);
    const byHintedName = await t.call(
      'GET',
      '/books?select=id,authors!editor_id(name)&order=authors(name).nullsfirst,id&limit=3',
    );
    expect((byHintedName.json as { id: number }[]).map((b) => b.id)).toEqual([4, 6, 2]);
    const toMany = await t.call('GET', '/publishers?select=id,books(title)&order=books(title)');
    expect(toMany.status).toBe(400);
    expect(toMany.json).toMatchObject({
      code: 'PGRST118',
      message: "A related order on 'books' is not possible",
    });
    const aggregate = await t.call('GET', '/books?select=price.sum()');
    expect(aggregate.json).toMatchObject({
      code: 'PGRST123',
      message: 'Use of aggregate functions is not allowed',
    });
    expect((await t.call('GET', '/books?select=count()')).status).toBe(400);
  });

  it('refuses a related order on a resource the select does not embed, by its alias if it has one (PGRST108)', async () => {
    // PostgREST 12.2 Plan.hs addRelatedOrders; spec RelatedQueriesSpec "fails when the resource is
    // not embedded".
    const notEmbedded = (name: string) => ({
      code: 'PGRST108',
      details: null,
      hint: `Verify that '${name}' is included in the 'select' query parameter.`,
      message: `'${name}' is not an embedded resource in this request`,
    });
    const answers = await Promise.all(
      [
        '/books?select=id&order=publishers(name)',
        '/publishers?order=books(title)',
        '/books?select=id,writer:authors!author_id(name)&order=authors(name)',
        '/books?select=id,publishers(name)&order=id,authors(name).desc',
      ].map(async (url) => {
        const r = await t.call('GET', url);
        return [r.status, r.json];
      }),
    );
    expect(answers).toEqual([
      [400, notEmbedded('publishers')],
      [400, notEmbedded('books')],
      [400, notEmbedded('authors')],
      [400, notEmbedded('authors')],
    ]);
  });

  it('names an embedded relation in a 42703 as PostgREST’s query does: <table>_<depth>, a related order by its join', async () => {
    const messages = await Promise.all(
      [
        '/authors?select=id,books!author_id(nope)',
        '/authors?select=id,books!author_id(id)&books.nope=eq.1',
        '/authors?select=id,writings:books!author_id(id,publishers(nope))',
        '/books?select=id,writer:authors!author_id(name)&order=writer(nope)',
      ].map(async (url) => (await t.call('GET', url)).json),
    );
    expect(messages.map((m) => (m as { message: string }).message)).toEqual([
      'column books_1.nope does not exist',
      'column books_1.nope does not exist',
      'column publishers_2.nope does not exist',
      'column books_writer_1.nope does not exist',
    ]);
  });

  it('spreads to-one columns into the parent', async () => {
    const r = await t.call('GET', '/books?select=title,...publishers(publisher:name)&id=in.(3,5)&order=id');
    expect(r.json).toEqual([
      { title: 'Kindred', publisher: 'Orbit' },
      { title: 'Consider Phlebas', publisher: null },
    ]);
    const toMany = await t.call('GET', '/authors?select=name,...books!author_id(title)');
    expect(toMany.status).toBe(400);
    expect(toMany.json).toMatchObject({
      code: 'PGRST119',
      message: "A spread operation on 'books' is not possible",
      details: "'authors' and 'books' do not form a many-to-one or one-to-one relationship",
    });
  });

  it('answers PGRST200 for unknown relationships and PGRST108 for filters on missing embeds', async () => {
    const unknown = await t.call('GET', '/books?select=*,nope(*)');
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({
      code: 'PGRST200',
      message: "Could not find a relationship between 'books' and 'nope' in the schema cache",
      details:
        "Searched for a foreign key relationship between 'books' and 'nope' in the schema 'public', but no matches were found.",
      hint: null,
    });
    // A misspelt embed is offered the closest table it relates to (through a join table too), as in
    // PostgREST; a related table whose hint matched nothing is offered none.
    const hints = await Promise.all(
      ['autors!author_id(name)', 'genre(name)', 'authors!nope(name)'].map(async (embed) => {
        const r = await t.call('GET', `/books?select=id,${embed}`);
        return [r.status, (r.json as { hint: unknown }).hint];
      }),
    );
    expect(hints).toEqual([
      [400, "Perhaps you meant 'authors' instead of 'autors'."],
      [400, "Perhaps you meant 'genres' instead of 'genre'."],
      [400, null],
    ]);
    // A parent with no relationships at all is offered the closest table that has some, as in
    // PostgREST (the parent may be what is misspelt); with none close, nothing.
    await ownerQuery(`CREATE TABLE e_ledger (id int PRIMARY KEY);
      CREATE TABLE e_ledger_lines (id int PRIMARY KEY, ledger_id int REFERENCES e_ledger(id));
      CREATE TABLE e_ledgers (id int PRIMARY KEY)`);
    const parents = await Promise.all(
      ['/e_ledgers?select=*,e_ledger_lines(*)', '/secrets?select=*,authors(*)'].map(async (path) => {
        const r = await t.call('GET', path);
        return [r.status, (r.json as { hint: unknown }).hint];
      }),
    );
    expect(parents).toEqual([
      [400, "Perhaps you meant 'e_ledger' instead of 'e_ledgers'."],
      [400, null],
    ]);
    const missing = await t.call('GET', '/books?select=title&publishers.name=eq.Ace');
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({
      code: 'PGRST108',
      message: "'publishers' is not an embedded resource in this request",
    });
  });
});

describe('is.null on a spread embed', () => {
  it('keeps the parents without (is.null) or with (not.is.null) a related row, counted alike (PostgREST FilterNullEmbed)', async () => {
    await ownerQuery(`CREATE TABLE e_people (id int PRIMARY KEY, name text);
      CREATE TABLE e_tasks (id int PRIMARY KEY, title text, owner_id int REFERENCES e_people(id));
      INSERT INTO e_people VALUES (1, 'ann'), (2, NULL);
      INSERT INTO e_tasks VALUES (1, 'a', 1), (2, 'b', NULL), (3, 'c', 2)`);
    const without = await t.call('GET', '/e_tasks?select=title,...e_people(name)&e_people=is.null', {
      headers: { prefer: 'count=exact' },
    });
    expect([without.status, without.json, without.headers['content-range']]).toEqual([
      200,
      [{ title: 'b', name: null }],
      '0-0/1',
    ]);
    // A related row whose selected columns are all null is still a related row.
    const withRow = await t.call(
      'GET',
      '/e_tasks?select=title,...e_people(name)&e_people=not.is.null&order=id',
      { headers: { prefer: 'count=exact' } },
    );
    expect([withRow.status, withRow.json, withRow.headers['content-range']]).toEqual([
      200,
      [
        { title: 'a', name: 'ann' },
        { title: 'c', name: null },
      ],
      '0-1/2',
    ]);
    const inTree = await t.call(
      'GET',
      '/e_tasks?select=title,...e_people(name)&or=(e_people.is.null,title.eq.a)&order=id',
    );
    expect(inTree.json).toEqual([
      { title: 'a', name: 'ann' },
      { title: 'b', name: null },
    ]);
  });
});
