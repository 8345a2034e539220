import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test/harness.js';

// `GET /v1/projects/:ref/advisors/{security,performance}`: each check finds exactly the objects made
// here to trip it, and nothing in a schema the data API does not expose.

let h: Harness;

const SCHEMA = `
create table public.open_notes (id int primary key, body text);
create table public.guarded (id int primary key);
alter table public.guarded enable row level security;
create policy "read own" on public.guarded for select using (true);
create table public.sleeping (id int primary key);
create policy "never applies" on public.sleeping for select using (true);
create table public.locked (id int primary key);
alter table public.locked enable row level security;
create table public.server_only (id int primary key);
alter table public.server_only enable row level security;
create policy "all" on public.server_only using (true);
revoke all on public.server_only from anon, authenticated;
create view public.definer_view as select id from public.open_notes;
create view public.invoker_view with (security_invoker = on) as select id from public.open_notes;
create function public.loose() returns int language sql as 'select 1';
create function public.pinned() returns int language sql set search_path = '' as 'select 1';
create table public.children (id int primary key, parent int references public.guarded(id), other int references public.guarded(id));
create index on public.children (other);
create table public.heap_table (v int);
alter table public.heap_table enable row level security;
create policy "all" on public.heap_table using (true);
create index twin_a on public.heap_table (v);
create index twin_b on public.heap_table (v);
create schema private;
create table private.hidden (v int);
`;

/** `[name, detail]` of every lint of `kind`. */
async function lints(kind: string): Promise<[string, string][]> {
  const response = await h.call('GET', `/v1/projects/advise-one/advisors/${kind}`);
  expect(response.statusCode, response.body).toBe(200);
  return (response.json().lints as { name: string; detail: string }[]).map((l) => [l.name, l.detail]);
}

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('advisors', 10);
  expect((await h.createProject('advise-one')).statusCode).toBe(201);
  const ddl = await h.call('POST', '/v1/projects/advise-one/database/query', { query: SCHEMA });
  expect(ddl.statusCode, ddl.body).toBe(201);
});
afterAll(() => h?.close());

describe('advisors', () => {
  it('security: open tables, policies without RLS, RLS without policies, definer views, mutable search paths', async () => {
    const found = await lints('security');
    expect(found.filter(([name]) => name === 'rls_disabled_in_public')).toEqual([
      ['rls_disabled_in_public', 'Table public.children is public, but RLS has not been enabled.'],
      ['rls_disabled_in_public', 'Table public.open_notes is public, but RLS has not been enabled.'],
      ['rls_disabled_in_public', 'Table public.sleeping is public, but RLS has not been enabled.'],
    ]);
    expect(found.filter(([name]) => name === 'policy_exists_rls_disabled')).toEqual([
      [
        'policy_exists_rls_disabled',
        'Table public.sleeping has RLS policies (never applies) but RLS is not enabled on the table.',
      ],
    ]);
    expect(found.filter(([name]) => name === 'rls_enabled_no_policy')).toEqual([
      ['rls_enabled_no_policy', 'Table public.locked has RLS enabled, but no policies exist.'],
    ]);
    expect(found.filter(([name]) => name === 'security_definer_view')).toEqual([
      ['security_definer_view', 'View public.definer_view is defined with the SECURITY DEFINER property.'],
    ]);
    expect(found.filter(([name]) => name === 'function_search_path_mutable')).toEqual([
      ['function_search_path_mutable', 'Function public.loose has a role mutable search_path'],
    ]);
    expect(found.some(([, detail]) => detail.includes('private.') || detail.includes('server_only'))).toBe(
      false,
    );
  });

  it('performance: unindexed foreign keys, tables without a primary key, duplicate indexes', async () => {
    expect(await lints('performance')).toEqual([
      [
        'unindexed_foreign_keys',
        'Table public.children has a foreign key children_parent_fkey without a covering index.',
      ],
      ['no_primary_key', 'Table public.heap_table does not have a primary key'],
      ['duplicate_index', 'Table public.heap_table has identical indexes twin_a, twin_b.'],
    ]);
  });

  it("answers Supabase's lint shape, and refuses an unknown kind or project", async () => {
    const response = await h.call('GET', '/v1/projects/advise-one/advisors/performance');
    expect(response.json().lints[0]).toEqual({
      name: 'unindexed_foreign_keys',
      title: 'Unindexed foreign keys',
      level: 'INFO',
      facing: 'EXTERNAL',
      categories: ['PERFORMANCE'],
      description: expect.any(String),
      detail: expect.any(String),
      remediation: expect.any(String),
      metadata: {
        schema: 'public',
        name: 'children',
        type: 'table',
        fkey_name: 'children_parent_fkey',
        fkey_columns: ['parent'],
      },
      cache_key: 'unindexed_foreign_keys_public_children_children_parent_fkey',
    });
    expect((await h.call('GET', '/v1/projects/advise-one/advisors/style')).statusCode).toBe(400);
    expect((await h.call('GET', '/v1/projects/advise-none/advisors/security')).statusCode).toBe(404);
  });
});
