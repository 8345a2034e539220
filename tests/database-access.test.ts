import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, platform, supabaseFor } from './support/clients.js';
import { createProject, deleteProject, type TestProject } from './support/projects.js';

// An app developer's migration over a direct connection (psql, `supabase db push`, an ORM), then the
// app through the gateway: the data API serves the new table at once, under its RLS policies. A
// deployed cluster is reachable only from where the operator's network allows, so this runs against
// the local stack the suites start.

const localOnly = platform().local ? it : it.skip;
const PASSWORD = 'migrations-only 42';
let project: TestProject;

beforeAll(async () => {
  project = await createProject('direct-db');
  const set = await admin('PATCH', `/v1/projects/${project.ref}/database/password`, { password: PASSWORD });
  expect(set.status, set.text).toBe(200);
});
afterAll(async () => {
  if (project) await deleteProject(project.ref);
});

describe('migrations', () => {
  localOnly('over a direct connection: supabase-js sees the new table at once, RLS included', async () => {
    const info = await admin('GET', `/v1/projects/${project.ref}/database/connection`);
    expect(info.status, info.text).toBe(200);
    const { uri } = info.json() as { uri: string };
    const url = new URL(uri);
    url.password = encodeURIComponent(PASSWORD);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await client.query(`
        create table public.songs (id int primary key, title text not null, public boolean not null);
        alter table public.songs enable row level security;
        create policy "public songs" on public.songs for select to anon using (public);
        grant select on public.songs to anon;
        insert into public.songs values (1, 'open', true), (2, 'hidden', false);`);
    } finally {
      await client.end();
    }

    const service = await supabaseFor(project.ref, project.secretKey)
      .from('songs')
      .select('title')
      .order('id');
    expect(service.error).toBeNull();
    expect(service.data).toEqual([{ title: 'open' }, { title: 'hidden' }]);
    const anon = await supabaseFor(project.ref, project.publishableKey).from('songs').select('title');
    expect(anon.error).toBeNull();
    expect(anon.data).toEqual([{ title: 'open' }]);
  });

  it('a migration through the operator API is served at once, and listed', async () => {
    const applied = await admin('POST', `/v1/projects/${project.ref}/database/migrations`, {
      name: 'create_albums',
      query: `create table public.albums (id int primary key, title text not null);
        insert into public.albums values (1, 'first');`,
    });
    expect(applied.status, applied.text).toBe(200);
    const { data, error } = await supabaseFor(project.ref, project.secretKey).from('albums').select('title');
    expect(error).toBeNull();
    expect(data).toEqual([{ title: 'first' }]);
    const listed = await admin('GET', `/v1/projects/${project.ref}/database/migrations`);
    expect(listed.json()).toContainEqual(applied.json());
  });
});
