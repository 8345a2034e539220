import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, pgUrl, startHarness } from '../../test/harness.js';
import { clusterPasswordAad } from '../lib/cluster-pools.js';

// Answers as Supabase's Management API gives them (the definitions in supabase/cli's openapi.json and
// the Go client it generates, pkg/api/types.gen.go), where the Supabase CLI, its MCP server and
// scripts written for api.supabase.com decode them: project statuses (a paused project is INACTIVE),
// V1ProjectRefResponse for a delete or an update, the project's database, and the signing-key routes
// under /config/auth.

let h: Harness;
let clusterId: string;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  clusterId = await h.registerCluster('shapes', 20);
  for (const ref of ['shape-one', 'shape-two', 'shape-keys']) {
    expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
  }
});
afterAll(() => h?.close());

const call = (...args: Parameters<Harness['call']>) => h.call(...args);

/** Supabase's status enum of V1ProjectResponse / V1ProjectWithDatabaseResponse. */
const SUPABASE_STATUSES = [
  'INACTIVE',
  'ACTIVE_HEALTHY',
  'ACTIVE_UNHEALTHY',
  'COMING_UP',
  'UNKNOWN',
  'GOING_DOWN',
  'INIT_FAILED',
  'REMOVED',
  'RESTORING',
  'UPGRADING',
  'PAUSING',
  'RESTORE_FAILED',
  'RESTARTING',
  'PAUSE_FAILED',
  'RESIZING',
];

/** What a decoder of V1ProjectWithDatabaseResponse requires: every field, each a string. */
function expectProjectWithDatabase(project: Record<string, unknown>) {
  for (const field of ['id', 'ref', 'organization_id', 'organization_slug', 'name', 'region', 'created_at']) {
    expect(typeof project[field], field).toBe('string');
  }
  expect(SUPABASE_STATUSES).toContain(project.status);
  const database = project.database as Record<string, unknown>;
  for (const field of ['host', 'version', 'postgres_engine', 'release_channel']) {
    expect(typeof database?.[field], `database.${field}`).toBe('string');
  }
}

const serverVersion = async () => {
  const { rows } = await h.db.query<{ server_version: string }>('SHOW server_version');
  return rows[0]!.server_version.split(' ')[0]!;
};

describe('a paused project is INACTIVE, as Supabase names it', () => {
  it('in the pause answer, a get, the list (and its filter), health and 409s; the restore brings ACTIVE_HEALTHY', async () => {
    const paused = await call('POST', '/v1/projects/shape-one/pause');
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json().status).toBe('INACTIVE');
    expectProjectWithDatabase(paused.json());
    expect((await call('GET', '/v1/projects/shape-one')).json().status).toBe('INACTIVE');
    const listed = (await call('GET', '/v1/projects')).json() as { ref: string; status: string }[];
    expect(listed.find((p) => p.ref === 'shape-one')?.status).toBe('INACTIVE');
    for (const p of listed) expect(SUPABASE_STATUSES).toContain(p.status);
    const filtered = (await call('GET', '/v1/projects?status=INACTIVE')).json() as { ref: string }[];
    expect(filtered.map((p) => p.ref)).toEqual(['shape-one']);

    const health = (await call('GET', '/v1/projects/shape-one/health?services=db')).json();
    expect(health).toEqual([
      expect.objectContaining({ name: 'db', status: 'UNHEALTHY', error: 'the project is paused (INACTIVE)' }),
    ]);
    const sql = await call('POST', '/v1/projects/shape-one/database/query', { query: 'select 1' });
    expect(sql.json()).toEqual({
      message: 'project is INACTIVE; the database is not available',
      code: 'project_not_active',
    });
    const restoreless = await call('POST', '/v1/projects/shape-two/pause');
    expect(restoreless.json().status).toBe('INACTIVE');
    expect((await call('POST', '/v1/projects/shape-two/restore')).json().status).toBe('ACTIVE_HEALTHY');

    // Stored, and told to the gateways, as before: PAUSED (read by every version during a rolling deploy).
    const stored = await h.db.query(`SELECT status FROM tm.projects WHERE ref = 'shape-one'`);
    expect(stored.rows).toEqual([{ status: 'PAUSED' }]);
    expect((await call('POST', '/v1/projects/shape-one/restore')).json().status).toBe('ACTIVE_HEALTHY');
  });
});

describe("a project's id and database, as Supabase's V1ProjectWithDatabaseResponse", () => {
  it('answers the ref as id, and the cluster host and its real Postgres version as database', async () => {
    const version = await serverVersion();
    const host = new URL(pgUrl()).hostname;
    const got = (await call('GET', '/v1/projects/shape-two')).json();
    expectProjectWithDatabase(got);
    expect(got.id).toBe('shape-two');
    expect(got.database).toEqual({
      host,
      version,
      postgres_engine: version.split('.')[0],
      release_channel: 'ga',
    });
    const listed = (await call('GET', '/v1/projects')).json() as Record<string, unknown>[];
    for (const project of listed) {
      expectProjectWithDatabase(project);
      expect(project.id).toBe(project.ref);
    }
    // The version read is kept on the cluster's row.
    const row = await h.db.query('SELECT server_version FROM tm.clusters WHERE id = $1', [clusterId]);
    expect(row.rows).toEqual([{ server_version: version }]);
  });

  it("answers a cluster's stored version while the cluster is out of reach", async () => {
    const id = randomUUID();
    await h.db.query(
      `INSERT INTO tm.clusters (id, name, host, port, admin_user, admin_password_enc, capacity, region, status,
         server_version, created_at, updated_at)
       VALUES ($1, 'shapes-gone', '127.0.0.1', 1, 'postgres', $2, 0, 'local', 'offline', '15.8', now(), now())`,
      [id, h.tm.ctx.box.seal('unused', clusterPasswordAad(id))],
    );
    try {
      expect(await h.tm.ctx.clusters.serverVersion(id)).toBe('15.8');
      await h.db.query('UPDATE tm.clusters SET server_version = NULL WHERE id = $1', [id]);
      // asked again only after a while: the answer stands meanwhile
      expect(await h.tm.ctx.clusters.serverVersion(id)).toBe('15.8');
      expect(await h.tm.ctx.clusters.serverVersion(id, Date.now() + 60_000)).toBeNull();
    } finally {
      await h.tm.ctx.clusters.evict(id);
      await h.db.query('DELETE FROM tm.clusters WHERE id = $1', [id]);
    }
  });
});

describe("DELETE and PATCH /v1/projects/:ref answer Supabase's V1ProjectRefResponse", () => {
  it('{id: <integer>, ref, name}: a number given once, never again, also not to the same ref', async () => {
    expect((await h.createProject('shape-gone')).statusCode).toBe(201);
    const patched = await call('PATCH', '/v1/projects/shape-gone', { name: 'Renamed' });
    expect(patched.statusCode, patched.body).toBe(200);
    const { id, ...rest } = patched.json();
    expect(Number.isInteger(id)).toBe(true);
    expect(rest).toEqual({ ref: 'shape-gone', name: 'Renamed', limits: expect.any(Object) });

    const deleted = await call('DELETE', '/v1/projects/shape-gone');
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json()).toEqual({ id, ref: 'shape-gone', name: 'Renamed' });

    expect((await h.createProject('shape-gone')).statusCode).toBe(201);
    const again = (await call('PATCH', '/v1/projects/shape-gone', { name: 'Again' })).json();
    expect(again.id).toBeGreaterThan(id);
    const { rows } = await h.db.query<{ number: string }>('SELECT number FROM tm.projects');
    expect(new Set(rows.map((r) => r.number)).size).toBe(rows.length);
    expect((await call('DELETE', '/v1/projects/shape-gone')).json().id).toBe(again.id);
  });
});

describe("signing keys at Supabase's /config/auth/signing-keys", () => {
  const base = '/v1/projects/shape-keys/config/auth/signing-keys';

  it('creates (algorithm required; an imported key must be whole), lists and reads them', async () => {
    const missing = await call('POST', base, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('validation_failed');
    for (const [body, pattern] of [
      [{ algorithm: 'RS512' }, /algorithm/],
      [{ algorithm: 'ES256', private_jwk: { kty: 'EC' } }, /^private_jwk: crv must be "P-256"/],
    ] as const) {
      const refused = await call('POST', base, body);
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json()).toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(pattern),
      });
    }

    const created = await call('POST', base, { algorithm: 'ES256' });
    expect(created.statusCode, created.body).toBe(201);
    const key = created.json();
    expect(Object.keys(key).sort()).toEqual([
      'algorithm',
      'created_at',
      'id',
      'public_jwk',
      'status',
      'updated_at',
    ]);
    expect(key).toMatchObject({ algorithm: 'ES256', status: 'standby' });
    expect(created.headers.location).toBe(`${base}/${key.id}`);
    expect((await call('GET', created.headers.location as string)).json()).toEqual(key);
    const listed = (await call('GET', base)).json();
    expect(Object.keys(listed)).toEqual(['keys']);
    expect(listed.keys.map((k: { id: string }) => k.id)).toContain(key.id);
    expect((await call('GET', `/v1/projects/shape-one/config/auth/signing-keys/${key.id}`)).statusCode).toBe(
      404,
    );
  });

  it('PATCH status moves a key as Supabase does, and DELETE removes standby and revoked keys only', async () => {
    const jwksKids = async () =>
      ((await call('GET', '/v1/projects/shape-keys/jwks')).json().keys as { kid: string }[]).map(
        (k) => k.kid,
      );
    const patch = (id: string, status: string) => call('PATCH', `${base}/${id}`, { status });
    const statusOf = async (id: string) => (await call('GET', `${base}/${id}`)).json().status;
    const refused = async (answer: Awaited<ReturnType<typeof call>>, status: number, code: string) => {
      expect(answer.statusCode, answer.body).toBe(status);
      expect(answer.json().code).toBe(code);
    };

    const first = (await call('POST', base, { algorithm: 'ES256', status: 'in_use' })).json();
    expect(first.status).toBe('in_use');
    const second = (await call('POST', base, { algorithm: 'ES256' })).json();

    const promoted = await patch(second.id, 'in_use');
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.json()).toMatchObject({ id: second.id, status: 'in_use' });
    expect(await statusOf(first.id)).toBe('previously_used');
    expect((await patch(second.id, 'in_use')).json().status).toBe('in_use'); // the same: no change
    await refused(await patch(second.id, 'revoked'), 409, 'signing_key_in_use');
    await refused(await patch(second.id, 'standby'), 409, 'signing_key_in_use');
    expect((await patch(first.id, 'previously_used')).json().status).toBe('previously_used');
    const third = (await call('POST', base, { algorithm: 'ES256' })).json();
    await refused(await patch(third.id, 'previously_used'), 409, 'invalid_signing_key_status');
    await refused(await patch(third.id, 'nonsense'), 400, 'validation_failed');

    // A previously used key may go back to standby, and into use again.
    expect((await patch(first.id, 'standby')).json().status).toBe('standby');
    expect((await patch(first.id, 'in_use')).json().status).toBe('in_use');
    expect(await statusOf(second.id)).toBe('previously_used');

    // Removing: not the key in use, not a previously used key before it is revoked.
    await refused(await call('DELETE', `${base}/${first.id}`), 409, 'signing_key_in_use');
    await refused(await call('DELETE', `${base}/${second.id}`), 409, 'signing_key_not_revoked');
    expect((await patch(second.id, 'revoked')).json().status).toBe('revoked');
    expect(await jwksKids()).not.toContain(second.id);
    await refused(await patch(second.id, 'in_use'), 409, 'signing_key_revoked');
    const removed = await call('DELETE', `${base}/${second.id}`);
    expect(removed.statusCode, removed.body).toBe(200);
    expect(removed.json()).toMatchObject({ id: second.id, status: 'revoked' });
    expect((await call('GET', `${base}/${second.id}`)).statusCode).toBe(404);

    // A standby key is removed at once, out of the JWKS the gateways read.
    expect(await jwksKids()).toContain(third.id);
    expect((await call('DELETE', `${base}/${third.id}`)).json()).toMatchObject({
      id: third.id,
      status: 'standby',
    });
    expect(await jwksKids()).not.toContain(third.id);
    expect((await call('DELETE', `${base}/${third.id}`)).statusCode).toBe(404);
    expect((await call('GET', base)).json().keys.map((k: { id: string }) => k.id)).not.toContain(third.id);
  });
});
