import { PostgrestClient } from '@supabase/postgrest-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RestServer, startRestServer } from './server.js';
import { adminQuery, JWT_SECRET, ownerQuery, tokenFor, USER_A } from './test/helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: the compat suite uses the untyped client, as most apps do.
type Client = PostgrestClient<any>;
let server: RestServer;
let db: Client;

/** The same query run directly in SQL, as JSON (so numbers and nulls compare like the API's). */
async function sql(query: string, params: unknown[] = []): Promise<unknown> {
  const [row] = await adminQuery<{ j: unknown }>(
    `SELECT coalesce(json_agg(q), '[]'::json) AS j FROM (${query}) q`,
    params,
  );
  return row?.j;
}

beforeAll(async () => {
  await ownerQuery('CREATE TABLE c_notes (id int PRIMARY KEY, body text NOT NULL, stars int DEFAULT 0)');
  server = await startRestServer({
    port: 0,
    dbUrl: inject('restDbUrl'),
    schemas: ['public', 'other'],
    jwtSecret: JWT_SECRET,
    listenForReload: false,
    poolMax: 3,
  });
  db = new PostgrestClient(`${server.url}/rest/v1`, { retry: false }) as Client;
});
afterAll(() => server?.close());

describe('@supabase/postgrest-js over HTTP matches SQL', () => {
  it('filters', async () => {
    const cases: [() => PromiseLike<{ data: unknown; error: unknown }>, string][] = [
      [
        () => db.from('books').select('id,title').eq('author_id', 1).order('id'),
        'SELECT id, title FROM books WHERE author_id = 1 ORDER BY id',
      ],
      [
        () => db.from('books').select('id').in('id', [2, 4, 6]).order('id'),
        'SELECT id FROM books WHERE id IN (2,4,6) ORDER BY id',
      ],
      [() => db.from('books').select('id').is('price', null), 'SELECT id FROM books WHERE price IS NULL'],
      [
        () => db.from('books').select('id').not('price', 'is', null).order('id'),
        'SELECT id FROM books WHERE price IS NOT NULL ORDER BY id',
      ],
      [
        () => db.from('books').select('id').or('id.eq.1,title.ilike.*sower*').order('id'),
        "SELECT id FROM books WHERE id = 1 OR title ILIKE '%sower%' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').ilike('title', '%the%').order('id'),
        "SELECT id FROM books WHERE title ILIKE '%the%' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').gte('id', 2).lt('id', 5).neq('id', 3).order('id'),
        'SELECT id FROM books WHERE id >= 2 AND id < 5 AND id <> 3 ORDER BY id',
      ],
      [
        () => db.from('books').select('id').contains('tags', ['classic']).order('id'),
        "SELECT id FROM books WHERE tags @> '{classic}' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').containedBy('tags', ['scifi', 'space']).order('id'),
        "SELECT id FROM books WHERE tags <@ '{scifi,space}' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').overlaps('tags', ['fantasy', 'space']).order('id'),
        "SELECT id FROM books WHERE tags && '{fantasy,space}' ORDER BY id",
      ],
      [
        () =>
          db
            .from('books')
            .select('id')
            .contains('meta', { stats: { rating: 5 } })
            .order('id'),
        `SELECT id FROM books WHERE meta @> '{"stats":{"rating":5}}' ORDER BY id`,
      ],
      [
        () => db.from('books').select('id').rangeGt('pages', '[1,250)').order('id'),
        "SELECT id FROM books WHERE pages >> '[1,250)' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').rangeAdjacent('pages', '[200,300)').order('id'),
        "SELECT id FROM books WHERE pages -|- '[200,300)' ORDER BY id",
      ],
      [
        () => db.from('books').select('id').textSearch('search', "'culture' & 'war'", { config: 'english' }),
        "SELECT id FROM books WHERE search @@ to_tsquery('english', '''culture'' & ''war''')",
      ],
      [
        () => db.from('books').select('id').textSearch('search', 'time travel', { type: 'plain' }),
        "SELECT id FROM books WHERE search @@ plainto_tsquery('time travel')",
      ],
      [
        () =>
          db
            .from('books')
            .select('id')
            .textSearch('search', '"culture war"', { type: 'websearch', config: 'english' }),
        `SELECT id FROM books WHERE search @@ websearch_to_tsquery('english', '"culture war"')`,
      ],
      [
        () => db.from('books').select('id').match({ author_id: 1, publisher_id: 1 }).order('id'),
        'SELECT id FROM books WHERE author_id = 1 AND publisher_id = 1 ORDER BY id',
      ],
      [
        () => db.from('books').select('id').filter('id', 'in', '(1,5)').order('id'),
        'SELECT id FROM books WHERE id IN (1,5) ORDER BY id',
      ],
      [
        () => db.from('books').select('isbn:meta->>isbn').eq('id', 2),
        "SELECT meta->>'isbn' AS isbn FROM books WHERE id = 2",
      ],
      [
        () =>
          db
            .from('books')
            .select('id')
            .order('price', { ascending: false, nullsFirst: true })
            .order('id')
            .limit(3),
        'SELECT id FROM books ORDER BY price DESC NULLS FIRST, id LIMIT 3',
      ],
      [
        () => db.from('books').select('id').order('id').range(2, 4),
        'SELECT id FROM books ORDER BY id LIMIT 3 OFFSET 2',
      ],
    ];
    for (const [query, expected] of cases) {
      const { data, error } = await query();
      expect(error, expected).toBeNull();
      expect(data, expected).toEqual(await sql(expected));
    }
  });

  it('single, maybeSingle, count, head and csv', async () => {
    const single = await db.from('books').select('id,title').eq('id', 3).single();
    expect(single.data).toEqual({ id: 3, title: 'Kindred' });
    const many = await db.from('books').select('id').single();
    expect(many.error).toMatchObject({ code: 'PGRST116' });
    const none = await db.from('books').select('id').eq('id', 999).maybeSingle();
    expect(none).toMatchObject({ data: null, error: null });
    const counted = await db.from('books').select('id', { count: 'exact' }).order('id').range(0, 1);
    expect(counted.count).toBe(6);
    expect(counted.status).toBe(206);
    expect(counted.data).toEqual(await sql('SELECT id FROM books ORDER BY id LIMIT 2'));
    const head = await db.from('books').select('*', { count: 'exact', head: true }).eq('author_id', 2);
    expect(head).toMatchObject({ data: null, count: 2, error: null });
    const csv = await db.from('authors').select('id,name').order('id').csv();
    expect(csv.data).toBe('id,name\n1,Ursula\n2,Octavia\n3,Iain');
  });

  it('embeds with referenced-table order and limit', async () => {
    const { data, error } = await db
      .from('authors')
      .select('name, books!author_id(title)')
      .order('id')
      .order('title', { referencedTable: 'books', ascending: false })
      .limit(1, { referencedTable: 'books' });
    expect(error).toBeNull();
    expect(data).toEqual(
      await sql(`SELECT a.name, (SELECT json_agg(b) FROM (SELECT title FROM books WHERE author_id = a.id ORDER BY title DESC LIMIT 1) b) AS books
                 FROM authors a ORDER BY a.id`),
    );
    const inner = await db
      .from('books')
      .select('id, publishers!inner(name)')
      .eq('publishers.name', 'Orbit')
      .order('id');
    expect((inner.data as { id: number }[]).map((b) => b.id)).toEqual([3, 4, 6]);
  });

  it('insert, upsert, update and delete', async () => {
    const inserted = await db
      .from('c_notes')
      .insert([
        { id: 1, body: 'one' },
        { id: 2, body: 'two' },
      ])
      .select();
    expect(inserted.status).toBe(201);
    expect(inserted.data).toEqual(await sql('SELECT * FROM c_notes ORDER BY id'));
    const minimal = await db.from('c_notes').insert({ id: 3, body: 'three' });
    expect(minimal).toMatchObject({ status: 201, data: null, error: null });
    const upserted = await db
      .from('c_notes')
      .upsert({ id: 1, body: 'uno', stars: 5 })
      .select('id,body,stars');
    expect(upserted.data).toEqual([{ id: 1, body: 'uno', stars: 5 }]);
    const ignored = await db
      .from('c_notes')
      .upsert({ id: 2, body: 'dos' }, { ignoreDuplicates: true })
      .select();
    expect(ignored.data).toEqual([]);
    const updated = await db.from('c_notes').update({ stars: 2 }).in('id', [2, 3]).select('id,stars');
    expect(updated.data).toEqual([
      { id: 2, stars: 2 },
      { id: 3, stars: 2 },
    ]);
    const deleted = await db.from('c_notes').delete({ count: 'exact' }).eq('id', 3);
    expect(deleted).toMatchObject({ status: 204, count: 1, error: null });
    expect(await sql('SELECT id, body, stars FROM c_notes ORDER BY id')).toEqual([
      { id: 1, body: 'uno', stars: 5 },
      { id: 2, body: 'two', stars: 2 },
    ]);
    const dup = await db.from('c_notes').insert({ id: 1, body: 'again' });
    expect(dup.error).toMatchObject({ code: '23505' });
    expect(dup.status).toBe(409);
  });

  it('maxAffected and limited update/delete', async () => {
    await ownerQuery(`CREATE TABLE c_queue (id int PRIMARY KEY, done boolean NOT NULL DEFAULT false);
      INSERT INTO c_queue SELECT generate_series(1, 5)`);
    // postgrest-js types maxAffected for PostgREST 13+; the engine (like 12.2) honours it.
    // biome-ignore lint/suspicious/noExplicitAny: untyped client, as above.
    const db13 = db as unknown as PostgrestClient<any, { PostgrestVersion: '13' }>;
    const tooMany = await db13.from('c_queue').update({ done: true }).gt('id', 1).maxAffected(2);
    expect(tooMany.error).toMatchObject({ code: 'PGRST124', details: 'The query affects 4 rows' });
    expect(tooMany.status).toBe(400);
    const within = await db13.from('c_queue').update({ done: true }).lte('id', 2).maxAffected(2).select('id');
    expect(within.data).toEqual([{ id: 1 }, { id: 2 }]);
    const limited = await db
      .from('c_queue')
      .delete()
      .eq('done', false)
      .order('id', { ascending: false })
      .limit(2);
    expect(limited).toMatchObject({ status: 204, error: null });
    expect(await sql('SELECT id, done FROM c_queue ORDER BY id')).toEqual([
      { id: 1, done: true },
      { id: 2, done: true },
      { id: 3, done: false },
    ]);
  });

  it('rpc, errors, schemas and user tokens', async () => {
    expect((await db.rpc('add', { a: 2, b: 3 })).data).toBe(5);
    const set = await db.rpc('books_by_author', { author: 3 }).select('title').order('id');
    expect(set.data).toEqual(await sql('SELECT title FROM books WHERE author_id = 3 ORDER BY id'));
    const get = await db.rpc('author_stats', {}, { get: true }).eq('author_id', 1);
    expect(get.data).toEqual([{ author_id: 1, book_count: 2 }]);
    const missingTable = await db.from('nope').select();
    expect(missingTable.error).toMatchObject({ code: 'PGRST205' });
    expect(missingTable.status).toBe(404);
    const other = await db.schema('other').from('items').select('label');
    expect(other.data).toEqual([{ label: 'other-one' }]);
    const user = new PostgrestClient(`${server.url}/rest/v1`, {
      retry: false,
      headers: { Authorization: `Bearer ${await tokenFor('authenticated', USER_A)}` },
    }) as Client;
    const todos = await user.from('todos').select('task').order('id');
    expect(todos.data).toEqual([{ task: 'a1' }, { task: 'a2' }]);
    expect((await db.from('todos').select('task')).data).toEqual([]);
  });
});
