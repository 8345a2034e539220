import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, supabaseFor } from './support/clients.js';
import { createProjects, deleteProject, sql, type TestProject, waitForStatus } from './support/projects.js';

// What the Supabase CLI (its generated Go client, pkg/api), Supabase's MCP server and scripts
// written for api.supabase.com decode from the operator API, against the definitions of Supabase's
// Management API: V1ProjectRefResponse for a delete or a rename (`supabase projects delete`),
// INACTIVE for a paused project (`supabase link` looks for it), the project's `database`, and the
// signing-key routes under /config/auth.

let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('mgmt2-a', 'mgmt2-b');
  await sql(a.ref, 'create table public.notes (id int primary key); insert into public.notes values (1);');
});

afterAll(async () => {
  await Promise.all([a, b].filter(Boolean).map((p) => deleteProject(p.ref)));
});

describe("a project as Supabase's V1ProjectWithDatabaseResponse", () => {
  it('has its ref as id, and database: the host a client connects to and the server version', async () => {
    const [row] = await sql<{ version: string }>(
      a.ref,
      "select current_setting('server_version') as version",
    );
    const version = row!.version;
    const connection = (await admin('GET', `/v1/projects/${a.ref}/database/connection`)).json() as {
      host: string;
    };
    const expected = {
      host: connection.host,
      version: version.split(' ')[0],
      postgres_engine: version.split('.')[0],
      release_channel: 'ga',
    };
    const got = (await admin('GET', `/v1/projects/${a.ref}`)).json();
    expect(got).toMatchObject({ id: a.ref, ref: a.ref, database: expected });
    const listed = (await admin('GET', '/v1/projects')).json() as {
      ref: string;
      id: string;
      database: object;
    }[];
    expect(listed.find((p) => p.ref === a.ref)).toMatchObject({ id: a.ref, database: expected });
  });
});

describe('a paused project is INACTIVE', () => {
  it('in the pause answer, a get and the list, while the gateway refuses it; the restore serves again', async () => {
    const paused = await admin('POST', `/v1/projects/${b.ref}/pause`);
    expect(paused.status, paused.text).toBe(200);
    expect(paused.json()).toMatchObject({ status: 'INACTIVE' });
    await waitForStatus(b.ref, 'INACTIVE');
    const inactive = (await admin('GET', '/v1/projects?status=INACTIVE')).json() as { ref: string }[];
    expect(inactive.map((p) => p.ref)).toContain(b.ref);
    const refused = await supabaseFor(b.ref, b.secretKey).from('anything').select('*');
    expect(refused.status).toBe(503);
    expect((await admin('POST', `/v1/projects/${b.ref}/restore`)).json()).toMatchObject({
      status: 'ACTIVE_HEALTHY',
    });
    // the other project served throughout
    const { data, error } = await supabaseFor(a.ref, a.secretKey).from('notes').select('id');
    expect(error).toBeNull();
    expect(data).toEqual([{ id: 1 }]);
  });
});

describe("DELETE and PATCH answer Supabase's V1ProjectRefResponse", () => {
  it('{id: <integer>, ref, name}, the same id for both, as `supabase projects delete` decodes it', async () => {
    const [c] = await createProjects('mgmt2-gone');
    const renamed = await admin('PATCH', `/v1/projects/${c!.ref}`, { name: 'mgmt2 renamed' });
    expect(renamed.status, renamed.text).toBe(200);
    const { id } = renamed.json() as { id: number };
    expect(Number.isInteger(id)).toBe(true);
    expect(renamed.json()).toMatchObject({ id, ref: c!.ref, name: 'mgmt2 renamed' });
    const deleted = await admin('DELETE', `/v1/projects/${c!.ref}`);
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.json()).toEqual({ id, ref: c!.ref, name: 'mgmt2 renamed' });
    expect((await admin('GET', `/v1/projects/${c!.ref}`)).status).toBe(404);
  });
});

describe("signing keys at Supabase's /config/auth/signing-keys", () => {
  it('creates one in use, moves and removes keys, and the project JWKS follows', async () => {
    const base = `/v1/projects/${a.ref}/config/auth/signing-keys`;
    const kids = async () =>
      ((await admin('GET', `/v1/projects/${a.ref}/jwks`)).json() as { keys: { kid: string }[] }).keys.map(
        (k) => k.kid,
      );
    const first = await admin('POST', base, { algorithm: 'ES256', status: 'in_use' });
    expect(first.status, first.text).toBe(201);
    expect(first.json()).toMatchObject({ algorithm: 'ES256', status: 'in_use' });
    const rsa = await admin('POST', base, { algorithm: 'RS256' });
    expect(rsa.status, rsa.text).toBe(201);
    expect(rsa.json()).toMatchObject({ algorithm: 'RS256', status: 'standby', public_jwk: { kty: 'RSA' } });
    const refused = await admin('POST', base, { algorithm: 'PS256' });
    expect(refused.status, refused.text).toBe(400);
    const firstId = (first.json() as { id: string }).id;
    const second = (await admin('POST', base, { algorithm: 'ES256' })).json() as { id: string };
    const statusOf = (res: { json(): unknown }) => (res.json() as { status: string }).status;
    expect(await kids()).toEqual(
      expect.arrayContaining([firstId, second.id, (rsa.json() as { id: string }).id]),
    );
    expect(statusOf(await admin('PATCH', `${base}/${second.id}`, { status: 'in_use' }))).toBe('in_use');
    expect(statusOf(await admin('GET', `${base}/${firstId}`))).toBe('previously_used');
    const listed = (await admin('GET', base)).json() as { keys: { id: string; status: string }[] };
    expect(listed.keys.filter((k) => k.status === 'in_use').map((k) => k.id)).toEqual([second.id]);
    expect((await admin('PATCH', `${base}/${firstId}`, { status: 'revoked' })).status).toBe(200);
    expect(await kids()).not.toContain(firstId);
    expect((await admin('DELETE', `${base}/${firstId}`)).status).toBe(200);
    expect((await admin('GET', `${base}/${firstId}`)).status).toBe(404);
  });
});
