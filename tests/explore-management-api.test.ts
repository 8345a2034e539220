import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, supabaseFor } from './support/clients.js';
import {
  createProjects,
  deleteProject,
  sql,
  type TestProject,
  uniqueName,
  waitForStatus,
} from './support/projects.js';

// What tools written for Supabase's Management API (api.supabase.com/api/v1-json) send the operator
// API where the two serve the same thing: the body `supabase config push` PATCHes to /postgrest, a
// create in V1CreateProjectBody's shape (deprecated and ignored fields included), the legacy-keys
// switch Supabase's MCP server reads, and the fields Supabase's clients require in the answers.
// What the platform cannot honour is refused with a message saying so.

let a: TestProject;
let b: TestProject;
const created: string[] = [];

beforeAll(async () => {
  [a, b] = await createProjects('mgmt-a', 'mgmt-b');
  const table = `create table public.items (id int primary key);
    insert into public.items values (1), (2);`;
  await Promise.all([sql(a.ref, table), sql(b.ref, table)]);
});

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((p) => deleteProject(p.ref)));
  await Promise.all(created.map((ref) => deleteProject(ref)));
});

const errorOf = (res: { status: number; json(): unknown }) => ({ status: res.status, body: res.json() });

describe('data-API settings as the Supabase CLI reads and pushes them', () => {
  it("answers Supabase's required db_extra_search_path and db_pool, and takes what `config push` sends", async () => {
    const before = await admin('GET', `/v1/projects/${a.ref}/postgrest`);
    expect(before.status).toBe(200);
    expect(before.json()).toMatchObject({ db_extra_search_path: 'public, extensions', db_pool: null });
    const otherBefore = (await admin('GET', `/v1/projects/${b.ref}/postgrest`)).json();

    // The CLI's default config.toml: [api] schemas = ["public", "graphql_public"],
    // extra_search_path = ["public", "extensions"], max_rows = 1000.
    const pushed = await admin('PATCH', `/v1/projects/${a.ref}/postgrest`, {
      db_schema: 'public,graphql_public',
      db_extra_search_path: 'public,extensions',
      max_rows: 1000,
    });
    expect(pushed.status, pushed.text).toBe(200);
    expect(pushed.json()).toMatchObject({
      db_schema: 'public,graphql_public',
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      max_rows: 1000,
    });
    const { data, error } = await supabaseFor(a.ref, a.publishableKey).from('items').select('id').order('id');
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 1 }, { id: 2 }]);
    expect((await admin('GET', `/v1/projects/${b.ref}/postgrest`)).json()).toEqual(otherBefore);
  });

  it('refuses another search path, a pool size and turning the data API off, saying why', async () => {
    for (const [body, says] of [
      [{ db_extra_search_path: 'public' }, /db_extra_search_path is fixed at 'public, extensions'/],
      [{ db_pool: 20 }, /db_pool is not configurable here/],
      [{ db_schema: '' }, /the data API cannot be turned off here/],
    ] as const) {
      expect(errorOf(await admin('PATCH', `/v1/projects/${a.ref}/postgrest`, body))).toEqual({
        status: 400,
        body: { message: expect.stringMatching(says), code: 'unsupported_setting' },
      });
    }
    const { data } = await supabaseFor(a.ref, a.publishableKey).from('items').select('id').order('id');
    expect(data).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe("a create in Supabase's V1CreateProjectBody shape", () => {
  it('takes organization_id, plan, kps_enabled and a specific region_selection, and the project serves', async () => {
    const [organization] = (await admin('GET', '/v1/organizations')).json() as { slug: string }[];
    const { region } = (await admin('GET', `/v1/projects/${a.ref}`)).json() as { region: string };
    const name = uniqueName('mgmt-supabase-body');
    const res = await admin('POST', '/v1/projects', {
      name,
      organization_id: organization!.slug,
      plan: 'free',
      kps_enabled: false,
      db_pass: 'Generated16Chars',
      region_selection: { type: 'specific', code: region },
    });
    expect(res.status, res.text).toBe(201);
    const project = res.json() as { ref: string; region: unknown; organization_slug: string };
    created.push(project.ref);
    expect(project).toMatchObject({ region, organization_slug: organization!.slug });
    await waitForStatus(project.ref, 'ACTIVE_HEALTHY');
    expect(await sql(project.ref, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('refuses an instance size, a template and a smart region group, saying so, and creates nothing', async () => {
    const name = uniqueName('mgmt-refused');
    for (const [extra, says] of [
      [{ desired_instance_size: 'micro' }, /instance sizes are not offered here/],
      [{ template_url: 'https://example.com/template.zip' }, /template_url: .*not offered here/],
      [
        { region_selection: { type: 'smartGroup', code: 'emea' } },
        /smart region groups are not offered here/,
      ],
    ] as const) {
      expect(errorOf(await admin('POST', '/v1/projects', { name, ...extra }))).toEqual({
        status: 400,
        body: { message: expect.stringMatching(says), code: 'unsupported_setting' },
      });
    }
    const listed = (await admin('GET', '/v1/projects')).json() as { name: string; region: unknown }[];
    expect(listed.filter((p) => p.name === name)).toEqual([]);
    // Supabase's region is a required string; its MCP server's project schema refuses anything else.
    expect(listed.filter((p) => typeof p.region !== 'string')).toEqual([]);
  });
});

describe("Supabase's legacy JWT keys switch", () => {
  it('says they are off (only sb_ keys here) and cannot be turned on', async () => {
    const got = await admin('GET', `/v1/projects/${a.ref}/api-keys/legacy`);
    expect(got.status, got.text).toBe(200);
    expect(got.json()).toEqual({ enabled: false });
    expect(errorOf(await admin('PUT', `/v1/projects/${a.ref}/api-keys/legacy?enabled=true`))).toEqual({
      status: 400,
      body: { message: expect.stringMatching(/legacy JWT API keys/), code: 'unsupported_setting' },
    });
    expect((await admin('GET', `/v1/projects/${uniqueName('mgmt-none')}/api-keys/legacy`)).status).toBe(404);
    // The project's own keys are untouched by either call.
    const { data } = await supabaseFor(a.ref, a.publishableKey).from('items').select('id').order('id');
    expect(data).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
