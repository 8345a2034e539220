import { generateApiKey } from '@supaplane/keys';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type HttpResult, http, platform, projectUrl, rest, supabaseFor } from './support/clients.js';
import { expectInvalidApiKey, expectJsonError, expectPaused } from './support/expect.js';
import {
  deleteProject,
  eventually,
  projectCredentials,
  refOf,
  sql,
  sqlRequest,
  type TestProject,
  uniqueName,
  waitForStatus,
} from './support/projects.js';
import { userToken } from './support/tokens.js';

interface ProjectBody {
  id?: string;
  ref?: string;
  name: string;
  status: string;
  created_at?: string;
}

const local = platform().local;
const localOnly = local ? it : it.skip;

let a: TestProject;
let b: TestProject;
const createdAnswers: Array<{ name: string; res: HttpResult }> = [];

/** Creates a project the way an operator does, keeping the raw answer for the first test. */
async function create(label: string): Promise<TestProject> {
  const name = uniqueName(label);
  const res = await admin('POST', '/v1/projects', { name });
  createdAnswers.push({ name, res });
  expect(res.status, res.text).toBe(201);
  const ref = refOf(res.json() as ProjectBody);
  await waitForStatus(ref, 'ACTIVE_HEALTHY');
  return { ref, name, ...(await projectCredentials(ref)) };
}

const seed = (ref: string, label: string) =>
  sql(
    ref,
    `create table public.things (id int primary key, label text); insert into public.things values (1, '${label}');
     create function public.wipe_things() returns void language sql as $$ delete from public.things $$;`,
  );

/** What each project's own keys read through the gateway. */
const readThings = (p: TestProject, key = p.secretKey) => rest(p.ref, 'things?select=id,label', { key });

/** Every kind of data-API request a client can make on p's host (reads, each write, rpc, the OpenAPI root). */
const everyRoute = (p: TestProject, headers: Record<string, string>) =>
  Promise.all(
    [
      { method: 'GET', path: 'things?select=*' },
      { method: 'HEAD', path: 'things?select=*' },
      { method: 'POST', path: 'things', body: { id: 2, label: 'written while away' } },
      { method: 'PATCH', path: 'things?id=eq.1', body: { label: 'changed while away' } },
      { method: 'PUT', path: 'things?id=eq.1', body: { id: 1, label: 'replaced while away' } },
      { method: 'DELETE', path: 'things?id=gt.0' },
      { method: 'POST', path: 'rpc/wipe_things', body: {} },
      { method: 'GET', path: '' },
    ].map(async ({ method, path, body }) => ({
      route: `${method} /rest/v1/${path}`,
      res: await rest(p.ref, path, { method, headers, ...(body ? { body } : {}) }),
    })),
  );

beforeAll(async () => {
  [a, b] = await Promise.all([create('proj-a'), create('proj-b')]);
  await Promise.all([seed(a.ref, 'from a'), seed(b.ref, 'from b')]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('project lifecycle', () => {
  it('create answers 201 with a ref and the name, then the project reaches ACTIVE_HEALTHY', () => {
    expect(createdAnswers).toHaveLength(2);
    for (const { name, res } of createdAnswers) {
      expect(res.status).toBe(201);
      const body = res.json() as ProjectBody;
      expect(refOf(body)).toMatch(/^[a-z0-9][a-z0-9-]{2,62}$/);
      expect(body.name).toBe(name);
      expect(['COMING_UP', 'ACTIVE_HEALTHY']).toContain(body.status);
    }
    expect(a.ref).not.toBe(b.ref);
    expect(a.secretKey).not.toBe(b.secretKey);
    expect(a.jwtSecret).not.toBe(b.jwtSecret);
  });

  it('lists both projects with their names and ACTIVE_HEALTHY status', async () => {
    const res = await admin('GET', '/v1/projects');
    expect(res.status, res.text).toBe(200);
    const list = res.json() as ProjectBody[];
    expect(Array.isArray(list)).toBe(true);
    for (const p of [a, b]) {
      const found = list.find((x) => refOf(x) === p.ref);
      expect(found, `${p.ref} in list`).toMatchObject({ name: p.name, status: 'ACTIVE_HEALTHY' });
    }
  });

  it('gets one project by ref, and answers 404 for an unknown ref', async () => {
    const res = await admin('GET', `/v1/projects/${a.ref}`);
    expect(res.status, res.text).toBe(200);
    const body = res.json() as ProjectBody;
    expect(refOf(body)).toBe(a.ref);
    expect(body).toMatchObject({ name: a.name, status: 'ACTIVE_HEALTHY' });
    expect(res.text).not.toContain(a.jwtSecret);
    expect(res.text).not.toContain(a.secretKey);

    expectJsonError(await admin('GET', '/v1/projects/nosuchprojectref0000'), 404);
  });

  it('serves a fresh project at once through supabase-js with its own keys', async () => {
    const { data, error, status } = await supabaseFor(a.ref, a.publishableKey)
      .from('things')
      .select('id, label')
      .order('id');
    // No RLS on `things`: anon reads it, as on Supabase before RLS is enabled.
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data).toEqual([{ id: 1, label: 'from a' }]);
  });

  it('refuses operator calls without or with a wrong admin key (401 JSON)', async () => {
    const none = await http(`${platform().tenantManagerUrl}/v1/projects`);
    expectJsonError(none, 401);
    const wrong = await http(`${platform().tenantManagerUrl}/v1/projects`, {
      headers: { authorization: `Bearer ${a.secretKey}` },
    });
    expectJsonError(wrong, 401);
    expect(wrong.text).not.toContain(a.secretKey);
  });

  it('answers 404 JSON at the gateway for a project that does not exist', async () => {
    // A well-formed key for that ref (its checksum matches), so only the project lookup can refuse it.
    const res = await rest('nosuchprojectref0000', 'things', {
      key: generateApiKey('nosuchprojectref0000', 'publishable'),
    });
    expectJsonError(res, 404);
    // A's key checked against a host it was not made for: refused before any lookup.
    expectInvalidApiKey(await rest('nosuchprojectref0000', 'things', { key: a.publishableKey }));
  });

  it('answers a clear 404 JSON for a service the project does not have', async () => {
    const res = await http(`${projectUrl(a.ref)}/storage/v1/bucket`, {
      headers: { apikey: a.publishableKey },
    });
    const body = expectJsonError(res, 404);
    expect(String(body.message)).toMatch(/storage/i);
  });

  it('refuses a malformed create (400 JSON) and creates nothing', async () => {
    const before = ((await admin('GET', '/v1/projects')).json() as ProjectBody[]).length;
    expectJsonError(await admin('POST', '/v1/projects', {}), 400);
    expectJsonError(await admin('POST', '/v1/projects', { name: 'bad-ref', ref: 'Not A Ref!' }), 400);
    // A misspelt field is refused rather than ignored (a project with a random ref would be made).
    expectJsonError(await admin('POST', '/v1/projects', { name: uniqueName('typo'), reff: 'typo-ref' }), 400);
    expect(((await admin('GET', '/v1/projects')).json() as ProjectBody[]).length).toBe(before);
  });

  it('renames a project without changing its ref or keys', async () => {
    const name = uniqueName('renamed');
    const res = await admin('PATCH', `/v1/projects/${a.ref}`, { name });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toMatchObject({ name });
    const got = (await admin('GET', `/v1/projects/${a.ref}`)).json() as ProjectBody;
    expect(refOf(got)).toBe(a.ref);
    expect(got).toMatchObject({ name, status: 'ACTIVE_HEALTHY' });
    expect(await projectCredentials(a.ref)).toEqual({
      publishableKey: a.publishableKey,
      secretKey: a.secretKey,
      jwtSecret: a.jwtSecret,
    });
    const served = await readThings(a);
    expect(served.status, served.text).toBe(200);

    const empty = await admin('PATCH', `/v1/projects/${a.ref}`, { name: '' });
    expectJsonError(empty, 400);
  });

  it("pause: INACTIVE (Supabase's name), both its keys get 503 at the gateway, the other project keeps serving", async () => {
    const res = await admin('POST', `/v1/projects/${a.ref}/pause`);
    expect([200, 201, 202], res.text).toContain(res.status);
    await waitForStatus(a.ref, 'INACTIVE');

    expectPaused(await readThings(a));
    expectPaused(await readThings(a, a.publishableKey));
    // supabase-js retries 503 on GET; a write is not retried and shows the same answer.
    const { error, status } = await supabaseFor(a.ref, a.secretKey)
      .from('things')
      .insert({ id: 2, label: 'x' });
    expect(status).toBe(503);
    expect(error?.message).toMatch(/paus/i);

    // A read through supabase-js: postgrest-js retries GET on 503 (3 times, 1+2+4 s backoff) before
    // surfacing it; hosted Supabase answers a paused project with 540, which it does not retry.
    const started = Date.now();
    const read = await supabaseFor(a.ref, a.publishableKey).from('things').select('id');
    console.info(`supabase-js GET on a paused project surfaced its 503 after ${Date.now() - started} ms`);
    expect(read.status).toBe(503);
    expect(read.data).toBeNull();
    expect(read.error).toMatchObject({ message: 'Project is paused' });

    const other = await readThings(b);
    expect(other.status, other.text).toBe(200);
    expect(other.json()).toEqual([{ id: 1, label: 'from b' }]);
  });

  it('while paused, every route refuses its keys and user tokens with 503, writes included', async () => {
    const token = await userToken(a.jwtSecret, { role: 'service_role' });
    for (const headers of <Record<string, string>[]>[
      { apikey: a.secretKey },
      { apikey: a.publishableKey },
      { apikey: a.publishableKey, authorization: `Bearer ${token}` },
    ]) {
      for (const { route, res } of await everyRoute(a, headers)) {
        if (route.startsWith('HEAD')) expect(res.status, route).toBe(503);
        else expectPaused(res);
      }
    }
  });

  it('restore: ACTIVE_HEALTHY again and served with its data intact', async () => {
    const res = await admin('POST', `/v1/projects/${a.ref}/restore`);
    expect([200, 201, 202], res.text).toContain(res.status);
    await waitForStatus(a.ref, 'ACTIVE_HEALTHY');
    const served = await readThings(a);
    expect(served.status, served.text).toBe(200);
    expect(served.json()).toEqual([{ id: 1, label: 'from a' }]);
    const { data, error } = await supabaseFor(a.ref, a.publishableKey).from('things').select('label');
    expect(error).toBeNull();
    expect(data).toEqual([{ label: 'from a' }]);
  });

  it("health: an operator's script polls Supabase's GET /health until db and rest are healthy, then sees the pause", async () => {
    const name = uniqueName('health');
    const created = await admin('POST', '/v1/projects', { name });
    expect(created.status, created.text).toBe(201);
    const ref = refOf(created.json() as ProjectBody);
    const services = () => admin('GET', `/v1/projects/${ref}/health?services=db,rest`);
    type Entry = { name: string; healthy: boolean; status: string; error?: string };
    try {
      let last = '';
      await eventually(async () => {
        const res = await services();
        last = res.text;
        expect(res.status, res.text).toBe(200);
        return (res.json() as Entry[]).every((s) => s.healthy && s.status === 'ACTIVE_HEALTHY');
      }, 60_000).catch((error) => {
        throw new Error(`${(error as Error).message}; last answer ${last}`);
      });
      // What it waited for is real: the project's data API answers its own key.
      const { secretKey } = await projectCredentials(ref);
      const served = await rest(ref, '', { key: secretKey });
      expect(served.status, served.text).toBe(200);

      const paused = await admin('POST', `/v1/projects/${ref}/pause`);
      expect(paused.status, paused.text).toBe(200);
      const res = await services();
      expect(res.status, res.text).toBe(200);
      expect(res.json()).toEqual([
        { name: 'db', healthy: false, status: 'UNHEALTHY', error: 'the project is paused (INACTIVE)' },
        { name: 'rest', healthy: false, status: 'UNHEALTHY', error: 'the project is paused (INACTIVE)' },
      ]);
      const unknown = await admin('GET', `/v1/projects/${ref}/health?services=db,graphql`);
      expect(unknown.status, unknown.text).toBe(400);
    } finally {
      await deleteProject(ref);
    }
  });

  it('delete: its keys are rejected within 1 s, the project and its database are gone, the other is untouched', async () => {
    const res = await admin('DELETE', `/v1/projects/${a.ref}`);
    expect([200, 202, 204], res.text).toContain(res.status);
    const deletedAt = Date.now();
    // Unknown project (404) or unknown key (401); never data.
    const rejected = async () => {
      const r = await readThings(a);
      return r.status === 401 || r.status === 404;
    };
    const took = await eventually(rejected, 1_000);
    console.info(`deleted project's keys rejected ${took} ms after DELETE answered`);
    expect(Date.now() - deletedAt).toBeLessThanOrEqual(1_000);
    for (const key of [a.secretKey, a.publishableKey]) {
      const r = await readThings(a, key);
      expect([401, 404], r.text).toContain(r.status);
      expectJsonError(r, r.status);
    }

    await eventually(async () => (await admin('GET', `/v1/projects/${a.ref}`)).status === 404, 30_000, 100);
    expectJsonError(await admin('GET', `/v1/projects/${a.ref}`), 404);
    expectJsonError(await sqlRequest(a.ref, 'select 1'), 404);
    const listed = (await admin('GET', '/v1/projects')).json() as ProjectBody[];
    expect(listed.map(refOf)).not.toContain(a.ref);

    const other = await readThings(b);
    expect(other.status, other.text).toBe(200);
    expect(other.json()).toEqual([{ id: 1, label: 'from b' }]);
  });

  it("a deleted project's keys and user tokens are refused on every route, writes included", async () => {
    const token = await userToken(a.jwtSecret, { role: 'service_role' });
    for (const headers of <Record<string, string>[]>[
      { apikey: a.secretKey },
      { apikey: a.publishableKey },
      { apikey: a.publishableKey, authorization: `Bearer ${token}` },
      { authorization: `Bearer ${a.secretKey}` },
    ]) {
      for (const { route, res } of await everyRoute(a, headers)) {
        expect([401, 404], `${route}: ${res.text}`).toContain(res.status);
        if (!route.startsWith('HEAD')) expectJsonError(res, res.status);
      }
    }
  });

  localOnly(
    'delete: the database and login roles are dropped from the cluster (local target only)',
    async () => {
      const client = new pg.Client({ connectionString: local!.postgresUrl });
      await client.connect();
      try {
        const check = async () => {
          const dbs = await client.query('select 1 from pg_database where datname = $1', [`proj_${a.ref}`]);
          const roles = await client.query('select rolname from pg_roles where rolname like $1', [
            `%${a.ref}`,
          ]);
          return dbs.rowCount === 0 && roles.rowCount === 0;
        };
        await eventually(check, 30_000, 100);
        const survivor = await client.query('select 1 from pg_database where datname = $1', [
          `proj_${b.ref}`,
        ]);
        expect(survivor.rowCount).toBe(1);
      } finally {
        await client.end();
      }
    },
  );
});
