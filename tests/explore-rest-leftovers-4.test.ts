import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';

// The fourth PostgREST 12.2 sweep: what supabase-js users send that the earlier ones did not cover
// (spread embeds, modifiers of embedded resources, JSON paths, counts and ranges at their edges,
// Prefer and Preference-Applied on every kind of request), through gateway, SigV4 and the Lambda
// emulator. Every expected answer is PostgREST 12.2's (its source and test/spec; the commits of
// apps/rest name where).

const SCHEMA = `
create table public.profiles (id int primary key, name text not null, settings jsonb);
create table public.posts (
  id int primary key, title text not null, author_id int references public.profiles(id),
  rating numeric, tags text[] not null default '{}', meta jsonb
);
create table public.avatars (profile_id int primary key references public.profiles(id), url text);
insert into public.profiles values
  (1, 'ann', '{"theme": "dark", "langs": ["en", "fr"]}'),
  (2, 'bob', '{"theme": "light", "langs": ["de"]}'),
  (3, 'cyd', null);
insert into public.posts values
  (1, 'hello', 1, 4.5, '{intro,news}', '{"views": 10, "stats": {"likes": 3}}'),
  (2, 'again', 1, null, '{news}', '{"views": 5}'),
  (3, 'third', 1, 2, '{}', null),
  (4, 'bobs', 2, 5, '{misc}', '{"views": 7, "stats": {"likes": 9}}');
create table public.tags (code text primary key);
insert into public.avatars values (1, 'https://a.example/ann.png');
`;

const project = exploreProjects('leftovers4', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);

describe('return=headers-only', () => {
  it('on PATCH and DELETE → 204 with Content-Range and Preference-Applied, no body or Location (UpdateSpec)', async () => {
    const created = await raw('profiles', {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'return=headers-only' },
      body: JSON.stringify({ id: 9, name: 'tmp' }),
    });
    expect([created.status, created.headers.location]).toEqual([201, '/profiles?id=eq.9']);
    const patched = await raw('profiles?id=eq.9', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', prefer: 'return=headers-only, count=exact' },
      body: JSON.stringify({ name: 'tmp2' }),
    });
    expect([
      patched.status,
      patched.text,
      patched.headers['content-range'],
      patched.headers['preference-applied'],
      patched.headers.location,
      patched.headers['content-type'],
    ]).toEqual([204, '', '0-0/1', 'return=headers-only, count=exact', undefined, undefined]);
    const located = await raw('tags', {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'return=headers-only' },
      body: JSON.stringify({ code: "it's (2)" }),
    });
    expect(located.headers.location).toBe('/tags?code=eq.it%27s%20%282%29');
    const deleted = await raw('profiles?id=eq.9', {
      method: 'DELETE',
      headers: { prefer: 'return=headers-only' },
    });
    expect([
      deleted.status,
      deleted.text,
      deleted.headers['content-range'],
      deleted.headers.location,
    ]).toEqual([204, '', '*/*', undefined]);
  });
});

describe('Prefer with handling=strict', () => {
  const strict = (prefer: string) => raw('posts?select=id&id=eq.1', { headers: { prefer } });

  it('a token that is no preference as a whole → 400 PGRST122 naming it (Preferences.hs)', async () => {
    const res = await strict('handling=strict, count=exact=1, max-affected');
    expect([res.status, res.json()]).toEqual([
      400,
      {
        code: 'PGRST122',
        details: 'Invalid preferences: count=exact=1, max-affected',
        hint: null,
        message: 'Invalid preferences given with handling=strict',
      },
    ]);
  });

  it('a repeated preference is no error: the first of each kind applies (PreferencesSpec)', async () => {
    const res = await strict('handling=strict, count=exact, count=planned, tx=rollback');
    expect([res.status, res.headers['content-range'], res.headers['preference-applied']]).toEqual([
      200,
      '0-0/1',
      'count=exact, handling=strict',
    ]);
  });
});

describe('counts and ranges at their edges', () => {
  it("an offset past the counted rows → 416 PGRST103 with the read's headers (Response.hs rangeStatusHeader)", async () => {
    const res = await raw('posts?select=id&offset=10', { headers: { prefer: 'count=exact' } });
    expect([
      res.status,
      res.json(),
      res.headers['content-range'],
      res.headers['content-location'],
      res.headers['preference-applied'],
    ]).toEqual([
      416,
      {
        code: 'PGRST103',
        details: 'An offset of 10 was requested, but there are only 4 rows.',
        hint: null,
        message: 'Requested range not satisfiable',
      },
      '*/4',
      '/posts?offset=10&select=id',
      'count=exact',
    ]);
    const { data, error, count, status } = await project.service
      .from('posts')
      .select('id', { count: 'exact' })
      .range(10, 12);
    expect([data, error?.code, error?.message, count, status]).toEqual([
      null,
      'PGRST103',
      'Requested range not satisfiable',
      null,
      416,
    ]);
  });
});

describe('spread embeds', () => {
  it('is(null) / not(is, null) on a spread keep the parents without / with a related row (FilterNullEmbed)', async () => {
    const { service } = project;
    const none = await service
      .from('profiles')
      .select('name, ...avatars(url)', { count: 'exact' })
      .is('avatars', null)
      .lte('id', 3)
      .order('id');
    expect([none.error, none.data, none.count]).toEqual([
      null,
      [
        { name: 'bob', url: null },
        { name: 'cyd', url: null },
      ],
      2,
    ]);
    const some = await service.from('profiles').select('name, ...avatars(url)').not('avatars', 'is', null);
    expect([some.error, some.data]).toEqual([null, [{ name: 'ann', url: 'https://a.example/ann.png' }]]);
  });
});

describe('upsert onConflict naming no column of the table', () => {
  it('→ 400 42703 from Postgres, as PostgREST passes on_conflict on unchecked (Plan.hs mutatePlan)', async () => {
    const res = await project.service
      .from('avatars')
      .upsert({ profile_id: 2, url: 'x' }, { onConflict: 'nope' });
    expect([res.status, res.error?.code, res.error?.message]).toEqual([
      400,
      '42703',
      'column "nope" does not exist',
    ]);
  });
});

describe('checked against PostgREST 12.2 and already alike', () => {
  it('spreads: aliases inside, nested spreads, ordering by the spread relation; a to-many spread → 400 PGRST119', async () => {
    const { service } = project;
    const spread = await service
      .from('posts')
      .select('title, ...profiles(author:name, ...avatars(url))')
      .in('id', [1, 4])
      .order('id');
    expect([spread.error, spread.data]).toEqual([
      null,
      [
        { title: 'hello', author: 'ann', url: 'https://a.example/ann.png' },
        { title: 'bobs', author: 'bob', url: null },
      ],
    ]);
    const toMany = await service.from('profiles').select('name, ...posts(title)');
    expect([toMany.status, toMany.error?.code, toMany.error?.details]).toEqual([
      400,
      'PGRST119',
      "'profiles' and 'posts' do not form a many-to-one or one-to-one relationship",
    ]);
  });

  it('embedded order with nullslast, limit, offset and or(); !inner with a filter on the embed', async () => {
    const { service } = project;
    const paged = await service
      .from('profiles')
      .select('name, posts(title, rating)')
      .order('rating', { referencedTable: 'posts', ascending: false, nullsFirst: false })
      .range(1, 2, { referencedTable: 'posts' })
      .order('id')
      .limit(2);
    expect([paged.error, paged.data]).toEqual([
      null,
      [
        {
          name: 'ann',
          posts: [
            { title: 'third', rating: 2 },
            { title: 'again', rating: null },
          ],
        },
        { name: 'bob', posts: [] },
      ],
    ]);
    const inner = await service
      .from('profiles')
      .select('name, posts!inner(title)', { count: 'exact' })
      .or('rating.is.null,rating.gte.5', { referencedTable: 'posts' })
      .order('id');
    expect([inner.error, inner.data, inner.count]).toEqual([
      null,
      [
        { name: 'ann', posts: [{ title: 'again' }] },
        { name: 'bob', posts: [{ title: 'bobs' }] },
      ],
      2,
    ]);
  });

  it('JSON paths: aliases and casts in select, array indexes, nested keys in filters and order', async () => {
    const { service } = project;
    const paths = await service
      .from('posts')
      .select('id, views:meta->views::int, meta->stats->>likes, first:tags->>0, tags->-1')
      .gt('meta->stats->likes', 5);
    expect([paths.error, paths.data]).toEqual([
      null,
      [{ id: 4, views: 7, likes: '9', first: 'misc', tags: 'misc' }],
    ]);
    const ordered = await service
      .from('profiles')
      .select('name, settings->langs->0')
      .order('settings->>theme', { ascending: true, nullsFirst: true });
    expect([ordered.error, ordered.data]).toEqual([
      null,
      [
        { name: 'cyd', langs: null },
        { name: 'ann', langs: 'en' },
        { name: 'bob', langs: 'de' },
      ],
    ]);
  });

  it('HEAD with count=exact|planned|estimated: the count, no body; 206 when the rows are fewer (RangeQuery.hs)', async () => {
    for (const count of ['exact', 'planned', 'estimated'] as const) {
      const {
        data,
        count: n,
        status,
        error,
      } = await project.service.from('posts').select('*', { count, head: true });
      expect([count, data, error, typeof n]).toEqual([count, null, null, 'number']);
      // The planner's estimate may be any number; below max_rows, estimated is the exact count.
      if (count !== 'planned') expect(n).toBe(4);
      expect(status).toBe(n! > 4 ? 206 : 200);
    }
  });

  it('upserts: ignoreDuplicates returns only the inserted rows; onConflict on a non-unique column → 400 42P10', async () => {
    const { service } = project;
    const ignored = await service
      .from('avatars')
      .upsert(
        [
          { profile_id: 1, url: 'changed' },
          { profile_id: 3, url: 'new' },
        ],
        { ignoreDuplicates: true },
      )
      .select();
    expect([ignored.status, ignored.error, ignored.data]).toEqual([
      201,
      null,
      [{ profile_id: 3, url: 'new' }],
    ]);
    const notUnique = await service
      .from('avatars')
      .upsert({ profile_id: 2, url: 'x' }, { onConflict: 'url' });
    expect([notUnique.status, notUnique.error?.code, notUnique.error?.message]).toEqual([
      400,
      '42P10',
      'there is no unique or exclusion constraint matching the ON CONFLICT specification',
    ]);
    await service.from('avatars').delete().eq('profile_id', 3);
  });
});

project.secondProjectUntouched('select id, name from public.profiles order by id', [
  { id: 1, name: 'ann' },
  { id: 2, name: 'bob' },
  { id: 3, name: 'cyd' },
]);
