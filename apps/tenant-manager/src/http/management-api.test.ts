import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, TEST_APP_CONFIG } from '../../test/harness.js';

// What tools written for Supabase's Management API send and read where its definitions
// (V1CreateProjectBody, V1ProjectResponse, LegacyApiKeysResponse in api.supabase.com/api/v1-json)
// and ours meet: the fields it has that are deprecated or ignored, the ones this platform cannot
// honour (each refused saying so), and answers its generated clients decode strictly.

let h: Harness;
const organization = { slug: 'mgmt-org', name: 'Management' };

beforeAll(async () => {
  h = await startHarness({
    resume: false,
    reconcileFunctions: false,
    config: { ...TEST_APP_CONFIG, organization },
  });
  await h.registerCluster('mgmt', 20, { region: 'eu-west-1' });
});
afterAll(() => h?.close());

const create = (body: object) => h.call('POST', '/v1/projects', body);

describe("POST /v1/projects with Supabase's V1CreateProjectBody", () => {
  it('takes the deprecated organization_id, and the plan and kps_enabled Supabase ignores', async () => {
    const created = await create({
      name: 'Deprecated Fields',
      ref: 'mgmt-deprecated',
      organization_id: 'mgmt-org',
      plan: 'free',
      kps_enabled: false,
      db_pass: 'Generated16Chars',
      region: 'eu-west-1',
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ ref: 'mgmt-deprecated', organization_slug: 'mgmt-org' });
  });

  it("takes region_selection {type: 'specific', code} as the region", async () => {
    const created = await create({
      name: 'Region Selection',
      ref: 'mgmt-selection',
      organization_slug: 'mgmt-org',
      db_pass: 'Generated16Chars',
      region_selection: { type: 'specific', code: 'eu-west-1' },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ ref: 'mgmt-selection', region: 'eu-west-1' });
    const elsewhere = await create({
      name: 'Elsewhere',
      ref: 'mgmt-elsewhere',
      region_selection: { type: 'specific', code: 'us-east-1' },
    });
    expect(elsewhere.statusCode).toBe(400);
    expect(elsewhere.json()).toEqual({
      message: 'no active worker cluster in region us-east-1 (regions: eu-west-1)',
      code: 'invalid_region',
    });
  });

  it('refuses what it cannot honour with a message saying so, and creates nothing', async () => {
    const cases: [object, string, string | RegExp][] = [
      [
        { desired_instance_size: 'small' },
        'unsupported_setting',
        /desired_instance_size: instance sizes are not offered here.*limits/,
      ],
      [
        { template_url: 'https://example.com/t.zip' },
        'unsupported_setting',
        /template_url: .*not offered here/,
      ],
      [
        { region_selection: { type: 'smartGroup', code: 'emea' } },
        'unsupported_setting',
        /smart region groups are not offered here.*eu-west-1/,
      ],
      [
        { region: 'eu-west-1', region_selection: { type: 'specific', code: 'eu-west-1' } },
        'validation_failed',
        'only one of region or region_selection can be given',
      ],
      [
        { organization_id: 'mgmt-org', organization_slug: 'other' },
        'invalid_organization',
        /organization_id and organization_slug name different organizations/,
      ],
      [
        { organization_id: 'someone-else' },
        'invalid_organization',
        'unknown organization someone-else (this platform has one: mgmt-org)',
      ],
      [{ plan: 'enterprise' }, 'validation_failed', /plan/],
      [{ region_selection: { type: 'specific' } }, 'validation_failed', /region_selection/],
    ];
    for (const [extra, code, message] of cases) {
      const response = await create({ name: 'Refused', ref: 'mgmt-refused', ...extra });
      const where = JSON.stringify(extra);
      expect(response.statusCode, where).toBe(400);
      expect(response.json(), where).toEqual({
        message: typeof message === 'string' ? message : expect.stringMatching(message),
        code,
      });
    }
    expect((await h.call('GET', '/v1/projects/mgmt-refused')).statusCode).toBe(404);
  });
});

describe('project objects', () => {
  it("always carry a region string, as Supabase's (required there; Supabase's MCP server checks it)", async () => {
    expect((await h.createProject('mgmt-unplaced')).statusCode).toBe(201);
    // A project that never got a cluster (no room when it was placed) and asked for no region.
    await h.db.query(
      `UPDATE tm.projects SET status = 'INIT_FAILED', cluster_id = NULL, region = NULL, requested_region = NULL
       WHERE ref = 'mgmt-unplaced'`,
    );
    const got = (await h.call('GET', '/v1/projects/mgmt-unplaced')).json();
    expect(got).toMatchObject({ status: 'INIT_FAILED', region: '', cluster_id: null });
    const listed = (await h.call('GET', '/v1/projects')).json() as { region: unknown }[];
    expect(listed.map((p) => typeof p.region)).not.toContain('object');
  });
});

describe('GET/PUT /v1/projects/:ref/api-keys/legacy', () => {
  it('says the JWT-based legacy keys (anon, service_role) are off here, as Supabase answers it', async () => {
    expect((await h.createProject('mgmt-legacy')).statusCode).toBe(201);
    const got = await h.call('GET', '/v1/projects/mgmt-legacy/api-keys/legacy');
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json()).toEqual({ enabled: false });
    const off = await h.call('PUT', '/v1/projects/mgmt-legacy/api-keys/legacy?enabled=false');
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json()).toEqual({ enabled: false });
    const on = await h.call('PUT', '/v1/projects/mgmt-legacy/api-keys/legacy?enabled=true');
    expect(on.statusCode).toBe(400);
    expect(on.json()).toEqual({
      message: expect.stringMatching(/legacy JWT API keys .* are not offered here.*sb_publishable_/),
      code: 'unsupported_setting',
    });
    expect((await h.call('PUT', '/v1/projects/mgmt-legacy/api-keys/legacy')).statusCode).toBe(400);
    const missing = await h.call('GET', '/v1/projects/mgmt-nope/api-keys/legacy');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ message: 'project not found', code: 'not_found' });
  });
});
