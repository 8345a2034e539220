import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, type Harness, startHarness, TEST_APP_CONFIG } from '../../test/harness.js';

// The routes Supabase's MCP server calls when it runs for an account (no --project-ref): the one
// organization of the platform, the project fields its account tools read, the organization a create
// names, and the list of Edge Functions (none are hosted here).

let h: Harness;
const organization = { slug: 'acme-ops', name: 'Acme Operations' };

beforeAll(async () => {
  h = await startHarness({
    resume: false,
    reconcileFunctions: false,
    config: { ...TEST_APP_CONFIG, organization },
  });
  await h.registerCluster('orgs', 10, { region: 'eu-west-1' });
  expect((await h.createProject('orgs-one')).statusCode).toBe(201);
});
afterAll(() => h?.close());

describe('GET /v1/organizations', () => {
  it("lists the platform's one organization, its id being its slug (as Supabase's)", async () => {
    const listed = await h.call('GET', '/v1/organizations');
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual([{ id: 'acme-ops', slug: 'acme-ops', name: 'Acme Operations' }]);
  });

  it('answers the organization by its slug: the free plan (no billing), no opt-in tags', async () => {
    const got = await h.call('GET', '/v1/organizations/acme-ops');
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual({
      id: 'acme-ops',
      slug: 'acme-ops',
      name: 'Acme Operations',
      plan: 'free',
      opt_in_tags: [],
      allowed_release_channels: ['ga'],
    });
  });

  it('answers another slug 404 and one that is no slug 400, both {message, code}', async () => {
    const other = await h.call('GET', '/v1/organizations/someone-else');
    expect(other.statusCode).toBe(404);
    expect(other.json()).toEqual({ message: 'organization not found', code: 'not_found' });
    const malformed = await h.call('GET', '/v1/organizations/Acme%20Ops');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toEqual({ message: expect.stringContaining('slug'), code: 'validation_failed' });
  });

  it('needs the admin key', async () => {
    for (const url of ['/v1/organizations', '/v1/organizations/acme-ops']) {
      const anonymous = await h.tm.publicApp.inject({ url });
      expect(anonymous.statusCode, url).toBe(401);
      const wrong = await h.tm.publicApp.inject({ url, headers: { authorization: `Bearer ${ADMIN_KEY}x` } });
      expect(wrong.statusCode, url).toBe(401);
    }
  });

  it('defaults to the organization `supaplane`', async () => {
    const plain = await startHarness({ resume: false, reconcileFunctions: false });
    try {
      expect((await plain.call('GET', '/v1/organizations')).json()).toEqual([
        { id: 'supaplane', slug: 'supaplane', name: 'Supaplane' },
      ]);
    } finally {
      await plain.close();
    }
  });
});

describe('projects and the organization', () => {
  it('names the organization in every project object, with its region and status', async () => {
    const got = (await h.call('GET', '/v1/projects/orgs-one')).json();
    expect(got).toMatchObject({
      ref: 'orgs-one',
      organization_id: 'acme-ops',
      organization_slug: 'acme-ops',
      region: 'eu-west-1',
      status: 'ACTIVE_HEALTHY',
      created_at: expect.any(String),
    });
    const listed = (await h.call('GET', '/v1/projects')).json() as Record<string, unknown>[];
    expect(listed.find((p) => p['ref'] === 'orgs-one')).toEqual(got);
  });

  it("creates a project in the organization a create names (Supabase's organization_slug)", async () => {
    const created = await h.call('POST', '/v1/projects', {
      name: 'Orgs Two',
      ref: 'orgs-two',
      region: 'eu-west-1',
      organization_slug: 'acme-ops',
      db_pass: 'Generated16Chars',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ ref: 'orgs-two', organization_slug: 'acme-ops' });
  });

  it('refuses another organization (400 invalid_organization, nothing created) and a wrong type', async () => {
    const other = await h.call('POST', '/v1/projects', {
      name: 'Elsewhere',
      ref: 'orgs-elsewhere',
      organization_slug: 'someone-else',
    });
    expect(other.statusCode).toBe(400);
    expect(other.json()).toEqual({
      message: 'unknown organization someone-else (this platform has one: acme-ops)',
      code: 'invalid_organization',
    });
    expect((await h.call('GET', '/v1/projects/orgs-elsewhere')).statusCode).toBe(404);
    const typed = await h.call('POST', '/v1/projects', { name: 'Typed', organization_slug: 7 });
    expect(typed.statusCode).toBe(400);
    expect(typed.json()).toMatchObject({
      code: 'validation_failed',
      message: expect.stringContaining('organization_slug'),
    });
  });
});

describe('GET /v1/projects/:ref/functions', () => {
  it("answers no Edge Functions for a project (the platform hosts none), Supabase's list shape", async () => {
    const listed = await h.call('GET', '/v1/projects/orgs-one/functions');
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual([]);
  });

  it('answers an unknown project 404 and a malformed ref 400', async () => {
    const missing = await h.call('GET', '/v1/projects/orgs-missing/functions');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ message: 'project not found', code: 'not_found' });
    const malformed = await h.call('GET', '/v1/projects/Not_A_Ref/functions');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ code: 'invalid_ref' });
  });
});

const uuidOf = async (ref: string) =>
  (
    await h.db.query<{ id: string }>(`SELECT id FROM tm.projects WHERE ref = $1 AND status <> 'REMOVED'`, [
      ref,
    ])
  ).rows[0]!.id;

describe("a project's id where its ref goes", () => {
  it("is the ref, as Supabase's deprecated id is", async () => {
    const project = (await h.call('GET', '/v1/projects/orgs-one')).json() as { id: string; ref: string };
    expect(project.id).toBe('orgs-one');
    const listed = (await h.call('GET', '/v1/projects')).json() as { id: string; ref: string }[];
    for (const p of listed) expect(p.id).toBe(p.ref);
  });

  it('takes the uuid older versions answered as id, as that project (get, pause, restore)', async () => {
    const uuid = await uuidOf('orgs-one');
    const got = await h.call('GET', `/v1/projects/${uuid}`);
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json()).toMatchObject({ id: 'orgs-one', ref: 'orgs-one' });
    expect((await h.call('GET', `/v1/projects/${uuid.toUpperCase()}/api-keys`)).statusCode).toBe(200);
    const paused = await h.call('POST', `/v1/projects/${uuid}/pause`);
    expect(paused.statusCode, paused.body).toBe(200);
    expect((await h.call('GET', '/v1/projects/orgs-one')).json().status).toBe('INACTIVE');
    const restored = await h.call('POST', `/v1/projects/${uuid}/restore`);
    expect(restored.statusCode, restored.body).toBe(200);
    expect((await h.call('GET', '/v1/projects/orgs-one')).json().status).toBe('ACTIVE_HEALTHY');
  });

  it('names nothing once its project is removed, not the project that took the ref since', async () => {
    expect((await h.createProject('orgs-reused')).statusCode).toBe(201);
    const old = await uuidOf('orgs-reused');
    expect((await h.call('DELETE', '/v1/projects/orgs-reused')).statusCode).toBe(200);
    expect((await h.createProject('orgs-reused')).statusCode).toBe(201);
    const byOldId = await h.call('GET', `/v1/projects/${old}`);
    expect(byOldId.statusCode).toBe(404);
    expect(byOldId.json()).toEqual({ message: 'project not found', code: 'not_found' });
  });

  it('is a 404 like any unknown project when no project has it', async () => {
    const unknown = await h.call('GET', '/v1/projects/00000000-0000-4000-8000-000000000000');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ message: 'project not found', code: 'not_found' });
  });
});
