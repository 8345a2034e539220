import { hashApiKey, verifyApiKey } from '@supaplane/keys';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  clusterObjects,
  clusterOnTestServer,
  eventually,
  type Harness,
  internal,
  pgUrl,
  startHarness,
} from '../test/harness.js';

let h: Harness;
const inject = (method: string, url: string, payload?: unknown) =>
  h.tm.publicApp.inject({
    method: method as 'GET',
    url,
    headers: admin,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

beforeAll(async () => {
  h = await startHarness();
  await h.registerCluster('lifecycle', 50);
});
afterAll(() => h?.close());

async function createProject(name: string, ref?: string) {
  const response = await inject('POST', '/v1/projects', ref ? { name, ref } : { name });
  expect(response.statusCode).toBe(201);
  return response.json();
}

async function revealedKeys(ref: string) {
  const keys = (await inject('GET', `/v1/projects/${ref}/api-keys?reveal=true`)).json() as {
    type: string;
    api_key: string;
    id: string;
  }[];
  return {
    publishable: keys.find((k) => k.type === 'publishable')!,
    secret: keys.find((k) => k.type === 'secret')!,
  };
}

describe('project lifecycle', () => {
  it('creates a project ACTIVE_HEALTHY with database, roles, keys and function, then deletes all of it', async () => {
    const project = await createProject('Lifecycle One', 'life-one');
    const [{ id: projectId, number }] = (
      await h.db.query(`SELECT id, number FROM tm.projects WHERE ref = 'life-one' AND status <> 'REMOVED'`)
    ).rows;
    expect(project).toMatchObject({
      id: 'life-one', // Supabase's deprecated id is the ref
      ref: 'life-one',
      name: 'Lifecycle One',
      status: 'ACTIVE_HEALTHY',
      region: 'local',
      endpoint: 'http://life-one.localhost:8000',
      last_error: null,
      limits: { db_connections: 60, requests_per_second: null, burst: null },
    });
    expect(await clusterObjects('life-one')).toEqual([
      'db:proj_life-one',
      'role:authenticator_life-one',
      'role:owner_life-one',
    ]);
    expect(h.functions.live.get('life-one')).toEqual({
      SUPAPLANE_PROJECT_REF: 'life-one',
      SUPAPLANE_CONFIG_URL: 'http://127.0.0.1:3002',
      // the project's own function token, never the platform's service token
      SUPAPLANE_INTERNAL_TOKEN: h.tm.ctx.functionTokens.mint('life-one', projectId),
    });
    expect(h.functions.live.get('life-one')?.SUPAPLANE_INTERNAL_TOKEN).toMatch(/^sfn_life-one_[\w-]{43}$/);

    // default keys: publishable shown, secret masked unless revealed; both verify for this ref only
    const listed = (await inject('GET', '/v1/projects/life-one/api-keys')).json();
    expect(listed.map((k: { type: string; name: string }) => `${k.type}:${k.name}`).sort()).toEqual([
      'publishable:default',
      'secret:default',
    ]);
    const maskedSecret = listed.find((k: { type: string }) => k.type === 'secret');
    expect(maskedSecret.api_key).toContain('••••');
    const keys = await revealedKeys('life-one');
    expect(verifyApiKey(keys.secret.api_key, 'life-one').ok).toBe(true);
    expect(verifyApiKey(keys.publishable.api_key, 'life-one').ok).toBe(true);
    expect(verifyApiKey(keys.secret.api_key, 'life-two').ok).toBe(false);

    // internal API: config and key records in the contract's shapes
    const config = await h.tm.internalApp.inject({
      url: '/internal/v1/projects/life-one/config',
      headers: internal,
    });
    expect(config.statusCode).toBe(200);
    const postgrest = (await inject('GET', '/v1/projects/life-one/postgrest')).json();
    expect(postgrest).toEqual({
      db_schema: 'public',
      max_rows: 1000,
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      db_aggregates_enabled: false,
      jwt_secret: expect.any(String),
    });
    expect(Buffer.from(postgrest.jwt_secret, 'base64url').length).toBeGreaterThanOrEqual(32);
    expect(config.json()).toEqual({
      ref: 'life-one',
      status: 'ACTIVE_HEALTHY',
      jwtSecret: postgrest.jwt_secret,
      jwks: { keys: [] },
      sharedKeys: [],
      upstreams: {
        rest: {
          kind: 'lambda-url',
          url: 'http://rest-life-one.lambda-url.local.localhost:9000/',
          region: 'local',
        },
        auth: null,
      },
      rateLimit: null,
      version: expect.any(Number),
    });
    const record = await h.tm.internalApp.inject({
      url: `/internal/v1/api-keys/${hashApiKey(keys.secret.api_key)}`,
      headers: internal,
    });
    expect(record.json()).toEqual({
      ref: 'life-one',
      keyId: keys.secret.id,
      type: 'secret',
      role: 'service_role',
      status: 'active',
    });
    const restConfig = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/life-one/rest-config', headers: internal })
    ).json();
    expect(restConfig).toMatchObject({
      ref: 'life-one',
      db: { database: 'proj_life-one', user: 'authenticator_life-one', ssl: false },
      dbSchemas: ['public'],
      maxRows: 1000,
      jwtSecret: postgrest.jwt_secret,
    });
    // the data-API role logs in with the stored password and can switch to the API roles only
    const url = new URL(pgUrl('proj_life-one'));
    const rest = new pg.Client({
      host: url.hostname,
      port: Number(url.port),
      database: 'proj_life-one',
      user: restConfig.db.user,
      password: restConfig.db.password,
    });
    await rest.connect();
    await rest.query('SET ROLE authenticated');
    await expect(rest.query('SET ROLE postgres')).rejects.toThrow(/permission denied/);
    await rest.end();

    // delete: everything is gone; a second delete is a 404
    const deleted = await inject('DELETE', '/v1/projects/life-one');
    expect(deleted.statusCode).toBe(200);
    // Supabase's V1ProjectRefResponse: the project's integer id, its ref and name
    expect(deleted.json()).toEqual({ id: Number(number), ref: 'life-one', name: 'Lifecycle One' });
    expect((await h.db.query(`SELECT status FROM tm.projects WHERE id = $1`, [projectId])).rows).toEqual([
      { status: 'REMOVED' },
    ]);
    expect(await clusterObjects('life-one')).toEqual([]);
    expect(h.functions.live.has('life-one')).toBe(false);
    expect((await inject('GET', '/v1/projects/life-one')).statusCode).toBe(404);
    expect((await inject('DELETE', '/v1/projects/life-one')).statusCode).toBe(404);
    const gone = await h.tm.internalApp.inject({
      url: `/internal/v1/api-keys/${hashApiKey(keys.secret.api_key)}`,
      headers: internal,
    });
    expect(gone.statusCode).toBe(404);
    expect(
      (await h.tm.internalApp.inject({ url: '/internal/v1/projects/life-one/config', headers: internal }))
        .statusCode,
    ).toBe(404);
    const leftovers = await h.db.query(
      `SELECT (SELECT count(*) FROM tm.api_keys k JOIN tm.projects p ON p.id = k.project_id WHERE p.ref = 'life-one')::int AS keys`,
    );
    expect(leftovers.rows[0].keys).toBe(0);
    // the ref can be used again
    expect((await createProject('again', 'life-one')).status).toBe('ACTIVE_HEALTHY');
    const again = await inject('DELETE', '/v1/projects/life-one');
    expect(again.statusCode).toBe(200);
    // a new project of the same ref has a number of its own: never one given before
    expect(again.json().id).toBeGreaterThan(Number(number));
  });

  it('SQL endpoint runs as the owner role, returns rows, maps SQL errors and timeouts to 400', async () => {
    await createProject('sql', 'life-sql');
    const run = (query: string) => inject('POST', '/v1/projects/life-sql/database/query', { query });
    const who = await run(
      'select current_user as me, (select rolsuper from pg_roles where rolname = current_user) as su',
    );
    expect(who.statusCode).toBe(201);
    expect(who.json()).toEqual([{ me: 'owner_life-sql', su: false }]);

    const created = await run(
      "create table todos (id serial primary key, title text); insert into todos (title) values ('a'), ('b'); select title from todos order by id",
    );
    expect(created.json()).toEqual([{ title: 'a' }, { title: 'b' }]);
    // tables made through the endpoint are reachable by the API roles (default privileges)
    const grants = await run(
      "select has_table_privilege('anon', 'public.todos', 'SELECT') as anon, has_table_privilege('service_role', 'public.todos', 'DELETE') as service",
    );
    expect(grants.json()).toEqual([{ anon: true, service: true }]);
    expect((await run('select auth.uid() as uid, auth.role() as role')).json()).toEqual([
      { uid: null, role: null },
    ]);

    const bad = await run('select * from no_such_table');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ message: 'relation "no_such_table" does not exist', code: '42P01' });
    const slow = await run('select pg_sleep(3)');
    expect(slow.statusCode).toBe(400);
    expect(slow.json().code).toBe('57014');
    // Refused as the rows arrive, not once all of them are held: the statement below only ends after
    // its statement timeout (1 s here), long after its first 10 001 rows have reached the endpoint.
    const huge = await run(
      'select g, case when g = 20000 then pg_sleep(5) end as pause from generate_series(1, 20000) g',
    );
    expect(huge.statusCode).toBe(400);
    expect(huge.json()).toEqual({ message: 'result has more than 10000 rows', code: 'too_many_rows' });
    const many = await run('select 1; select g from generate_series(1, 10000) g; select 2 as last');
    expect(many.json()).toEqual([{ last: 2 }]); // the last statement's rows
    expect((await run('create table empty_tail (id int); insert into empty_tail values (1)')).json()).toEqual(
      [],
    );
    const master = await run('create role sneaky superuser');
    expect(master.statusCode).toBe(400);
    expect(master.json().code).toBe('42501');
  });

  it("isolates projects: A's login roles cannot connect to B's database", async () => {
    await createProject('A', 'life-aaa');
    await createProject('B', 'life-bbb');
    const a = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/life-aaa/rest-config', headers: internal })
    ).json();
    const url = new URL(pgUrl());
    const connect = async (database: string) => {
      const client = new pg.Client({
        host: url.hostname,
        port: Number(url.port),
        database,
        user: a.db.user,
        password: a.db.password,
      });
      try {
        await client.connect();
        await client.query('select 1');
        return 'connected';
      } catch (error) {
        return (error as { code?: string }).code;
      } finally {
        await client.end().catch(() => {});
      }
    };
    expect(await connect('proj_life-aaa')).toBe('connected');
    expect(await connect('proj_life-bbb')).toBe('42501');
    expect(await connect('postgres')).toBe('42501');
    expect(await connect('template1')).toBe('42501');
    expect(await connect('supaplane_template')).not.toBe('connected');
    expect(await connect(new URL(h.managementUrl).pathname.slice(1))).toBe('42501'); // shares the cluster here
    // and the owner of B cannot reach A's tables through SQL either
    const cross = await inject('POST', '/v1/projects/life-bbb/database/query', {
      query: `select * from dblink('dbname=proj_life-aaa', 'select 1') as t(x int)`,
    });
    expect(cross.statusCode).toBe(400);
  });

  it('lists with pagination and status filter, renames, pauses and restores', async () => {
    await createProject('list one', 'life-l1');
    await createProject('list two', 'life-l2');
    const all = (await inject('GET', '/v1/projects?limit=1000')).json() as { ref: string }[];
    const refs = all.map((p) => p.ref);
    expect(refs).toEqual(expect.arrayContaining(['life-l1', 'life-l2']));
    const page = (await inject('GET', '/v1/projects?limit=1&offset=1')).json();
    expect(page).toHaveLength(1);
    expect(page[0].ref).toBe(refs[1]);

    const renamed = await inject('PATCH', '/v1/projects/life-l1', { name: 'renamed' });
    expect(renamed.json()).toMatchObject({ ref: 'life-l1', name: 'renamed' });

    // Pausing ends the project's own sessions (its data API's, its SQL endpoint's), nobody else's:
    // on RDS a non-superuser master may not end autovacuum's or a superuser's, and trying fails the
    // whole statement.
    const rest = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/life-l1/rest-config', headers: internal })
    ).json();
    const own = new pg.Client({ ...rest.db, ssl: undefined });
    const other = new pg.Client({ connectionString: pgUrl('proj_life-l1') });
    for (const client of [own, other]) client.on('error', () => {});
    await Promise.all([own.connect(), other.connect()]);
    const paused = await inject('POST', '/v1/projects/life-l1/pause');
    expect(paused.json().status).toBe('INACTIVE');
    // Its function is stopped too (no instance holding connections and memory), not deleted.
    expect(h.functions.stopped.has('life-l1')).toBe(true);
    expect(h.functions.live.has('life-l1')).toBe(true);
    await expect(own.query('SELECT 1')).rejects.toThrow();
    expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await Promise.allSettled([own.end(), other.end()]);
    // Supabase's INACTIVE, and the old name PAUSED for scripts written before
    for (const status of ['INACTIVE', 'PAUSED']) {
      const listed = (await inject('GET', `/v1/projects?status=${status}`)).json();
      expect(listed.map((p: { ref: string; status: string }) => `${p.ref}:${p.status}`)).toEqual([
        'life-l1:INACTIVE',
      ]);
    }
    const config = await h.tm.internalApp.inject({
      url: '/internal/v1/projects/life-l1/config',
      headers: internal,
    });
    // The gateway's record keeps the stored name, which gateways of every version refuse as paused.
    expect(config.json().status).toBe('PAUSED');
    const sql = await inject('POST', '/v1/projects/life-l1/database/query', { query: 'select 1' });
    expect(sql.statusCode).toBe(409);
    expect((await inject('POST', '/v1/projects/life-l1/pause')).json().status).toBe('INACTIVE'); // idempotent
    expect((await inject('POST', '/v1/projects/life-l2/restore')).json().status).toBe('ACTIVE_HEALTHY'); // no-op

    expect((await inject('POST', '/v1/projects/life-l1/restore')).json().status).toBe('ACTIVE_HEALTHY');
    expect(h.functions.stopped.has('life-l1')).toBe(false);
    const after = await inject('POST', '/v1/projects/life-l1/database/query', { query: 'select 1 as one' });
    expect(after.json()).toEqual([{ one: 1 }]);
  });

  it('creates and revokes API keys, stores secrets as digests, rotates signing keys into the JWKS', async () => {
    await createProject('creds', 'life-creds');
    const created = await inject('POST', '/v1/projects/life-creds/api-keys?reveal=true', {
      type: 'secret',
      name: 'ci_runner',
    });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(verifyApiKey(key.api_key, 'life-creds').ok).toBe(true);
    expect(key.hash).toBe(hashApiKey(key.api_key));
    expect(
      (await inject('POST', '/v1/projects/life-creds/api-keys', { type: 'secret', name: 'ci_runner' }))
        .statusCode,
    ).toBe(409);
    expect(
      (await inject('POST', '/v1/projects/life-creds/api-keys', { type: 'secret', name: 'Bad Name' }))
        .statusCode,
    ).toBe(400);

    expect((await inject('DELETE', `/v1/projects/life-creds/api-keys/${key.id}`)).statusCode).toBe(200);
    expect((await inject('DELETE', `/v1/projects/life-creds/api-keys/${key.id}`)).statusCode).toBe(404);
    const record = await h.tm.internalApp.inject({
      url: `/internal/v1/api-keys/${key.hash}`,
      headers: internal,
    });
    expect(record.json().status).toBe('revoked');
    const names = (await inject('GET', '/v1/projects/life-creds/api-keys'))
      .json()
      .map((k: { name: string }) => k.name);
    expect(names).not.toContain('ci_runner');

    const stored = await inject('POST', '/v1/projects/life-creds/secrets', [
      { name: 'STRIPE_KEY', value: 'sk_live_very_secret' },
      { name: 'OTHER', value: 'x' },
    ]);
    expect(stored.statusCode).toBe(201);
    const secrets = await inject('GET', '/v1/projects/life-creds/secrets');
    expect(secrets.body).not.toContain('sk_live_very_secret');
    expect(secrets.json().map((s: { name: string }) => s.name)).toEqual(['OTHER', 'STRIPE_KEY']);
    expect(secrets.json()[1].value).toMatch(/^[0-9a-f]{64}$/);
    const raw = await h.db.query(`SELECT value_enc FROM tm.project_secrets WHERE name = 'STRIPE_KEY'`);
    expect(raw.rows[0].value_enc).not.toContain('sk_live');
    expect(
      (await inject('POST', '/v1/projects/life-creds/secrets', [{ name: 'SUPABASE_URL', value: 'x' }]))
        .statusCode,
    ).toBe(400);
    const removed = await inject('DELETE', '/v1/projects/life-creds/secrets', ['OTHER', 'MISSING']);
    expect(removed.json().deleted).toBe(1);

    const rotated = await inject('POST', '/v1/projects/life-creds/signing-keys/rotate');
    expect(rotated.statusCode).toBe(200);
    const [first] = rotated.json().keys;
    expect(first).toMatchObject({
      algorithm: 'ES256',
      status: 'in_use',
      public_jwk: { kty: 'EC', crv: 'P-256', kid: first.id },
    });
    expect(first.public_jwk.d).toBeUndefined();
    const rotatedAgain = (await inject('POST', '/v1/projects/life-creds/signing-keys/rotate')).json().keys;
    expect(rotatedAgain.map((k: { status: string }) => k.status)).toEqual(['previously_used', 'in_use']);
    const jwks = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/life-creds/config', headers: internal })
    ).json().jwks;
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual(
      rotatedAgain.map((k: { id: string }) => k.id),
    );
    expect(JSON.stringify(jwks)).not.toContain('"d"');
  });

  it('creates a worker cluster through the provider and places projects on it', async () => {
    const created: string[] = [];
    const deleted: string[] = [];
    const withClusters = await startHarness({
      provider: {
        name: 'aws',
        functions: h.functions,
        clusters: {
          async createCluster(input) {
            created.push(input.name);
            return clusterOnTestServer(input.name);
          },
          owns: (externalId) => externalId.startsWith('aurora-'),
          async deleteCluster(externalId) {
            deleted.push(externalId);
          },
        },
      },
    });
    try {
      const response = await withClusters.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/clusters/provision',
        headers: admin,
        payload: { name: 'made-by-provider', capacity: 3, min_capacity: 0.5, max_capacity: 4, ssl: false },
      });
      expect(response.statusCode).toBe(201);
      const cluster = response.json();
      expect(created).toEqual(['made-by-provider']);
      expect(cluster).toMatchObject({
        name: 'made-by-provider',
        region: 'eu-west-1',
        external_id: 'aurora-made-by-provider',
        capacity: 3,
      });
      expect(Object.keys(cluster)).not.toContain('admin_password');
      const project = await withClusters.tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: admin,
        payload: { name: 'on aurora', ref: 'life-aurora', cluster_id: cluster.id },
      });
      expect(project.json()).toMatchObject({
        status: 'ACTIVE_HEALTHY',
        cluster_id: cluster.id,
        region: 'eu-west-1',
      });

      // Retiring it: drained first, and only once no live project is left on it.
      const call = (method: 'GET' | 'POST' | 'DELETE', url: string) =>
        withClusters.tm.publicApp.inject({ method, url, headers: admin });
      const refusals = [];
      refusals.push((await call('DELETE', `/v1/clusters/${cluster.id}`)).json());
      expect((await call('POST', `/v1/clusters/${cluster.id}/drain`)).json().status).toBe('draining');
      refusals.push((await call('DELETE', `/v1/clusters/${cluster.id}`)).json());
      expect(refusals).toEqual([
        { message: 'the cluster still takes new projects: drain it first', code: 'cluster_active' },
        { message: '1 live project still on the cluster: delete it first', code: 'cluster_in_use' },
      ]);
      expect((await call('GET', `/v1/clusters/${cluster.id}`)).json().project_count).toBe(1);

      expect((await call('DELETE', '/v1/projects/life-aurora')).json()).toMatchObject({ ref: 'life-aurora' });
      // The provider made it, so the provider deletes it; the row goes once that is done.
      const retired = await call('DELETE', `/v1/clusters/${cluster.id}`);
      expect(retired.statusCode).toBe(202);
      expect(retired.json()).toMatchObject({ id: cluster.id, status: 'deleting', last_error: null });
      await eventually(async () =>
        (await call('GET', `/v1/clusters/${cluster.id}`)).statusCode === 404 ? true : undefined,
      );
      expect(deleted).toEqual(['aurora-made-by-provider']);
      expect((await call('GET', '/v1/clusters')).json().map((c: { name: string }) => c.name)).not.toContain(
        'made-by-provider',
      );
      // The removed project keeps its history, without the cluster.
      const removed = (await call('GET', '/v1/projects?status=REMOVED')).json();
      expect(removed.find((p: { ref: string }) => p.ref === 'life-aurora')).toMatchObject({
        cluster_id: null,
      });
      expect((await call('DELETE', `/v1/clusters/${cluster.id}`)).statusCode).toBe(404);
    } finally {
      await withClusters.close();
    }
  });

  it('serves health, readiness and the OpenAPI page without a key', async () => {
    expect((await h.tm.publicApp.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    expect((await h.tm.publicApp.inject({ url: '/ready' })).statusCode).toBe(200);
    const docs = await h.tm.publicApp.inject({ url: '/docs/json' });
    expect(docs.statusCode).toBe(200);
    expect(Object.keys(docs.json().paths)).toEqual(
      expect.arrayContaining(['/v1/projects', '/v1/projects/{ref}/api-keys', '/v1/clusters']),
    );
    expect(
      (await h.tm.publicApp.inject({ url: '/v1/platform/status', headers: admin })).json().provider,
    ).toBe('local');
  });
});
