import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpResult, http, platform, rest, supabaseFor } from './support/clients.js';
import { expectInvalidApiKey, expectJsonError, expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, sql, sqlRequest, type TestProject } from './support/projects.js';
import { userToken } from './support/tokens.js';

// Both projects get the same table and functions: nothing but the host tells them apart.
const SCHEMA = (label: string) => `
create table public.accounts (id int primary key, owner text not null, balance int not null);
alter table public.accounts enable row level security;
create policy "read all" on public.accounts for select to anon, authenticated using (true);
insert into public.accounts values (1, '${label} one', 100), (2, '${label} two', 200);
create function public.wipe() returns int language sql volatile
  as $$ with gone as (delete from public.accounts returning 1) select count(*)::int from gone $$;
create function public.total() returns int language sql stable
  as $$ select coalesce(sum(balance), 0)::int from public.accounts $$;
create function public.whoami() returns text language sql stable as $$ select current_user::text $$;
create table public.ledger (id int primary key, entry text not null);
`;

const local = platform().local;
const localOnly = local ? it : it.skip;

let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('iso-a', 'iso-b');
  await Promise.all([sql(a.ref, SCHEMA('A')), sql(b.ref, SCHEMA('B'))]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

const B_ROWS = [
  { id: 1, owner: 'B one', balance: 100 },
  { id: 2, owner: 'B two', balance: 200 },
];

async function rowsOf(p: TestProject) {
  const res = await rest(p.ref, 'accounts?select=id,owner,balance&order=id', { key: p.secretKey });
  expect(res.status, res.text).toBe(200);
  return res.json();
}

type Credentials = { headers: Record<string, string> };

/** Every data-API verb on B's host, with the given credentials. */
const attacks: Array<{ verb: string; send: (c: Credentials) => Promise<HttpResult> }> = [
  { verb: 'GET', send: ({ headers }) => rest(b.ref, 'accounts?select=*', { headers }) },
  {
    verb: 'POST',
    send: ({ headers }) =>
      rest(b.ref, 'accounts', { method: 'POST', headers, body: { id: 3, owner: 'A was here', balance: 1 } }),
  },
  {
    verb: 'PATCH',
    send: ({ headers }) =>
      rest(b.ref, 'accounts?id=eq.1', { method: 'PATCH', headers, body: { balance: 0 } }),
  },
  { verb: 'DELETE', send: ({ headers }) => rest(b.ref, 'accounts?id=gt.0', { method: 'DELETE', headers }) },
  { verb: 'RPC', send: ({ headers }) => rest(b.ref, 'rpc/wipe', { method: 'POST', headers, body: {} }) },
  {
    verb: 'upsert (POST merge-duplicates)',
    send: ({ headers }) =>
      rest(b.ref, 'accounts?on_conflict=id', {
        method: 'POST',
        headers: { ...headers, prefer: 'resolution=merge-duplicates,return=representation' },
        body: [{ id: 1, owner: 'A was here', balance: 0 }],
      }),
  },
  {
    verb: 'PUT',
    send: ({ headers }) =>
      rest(b.ref, 'accounts?id=eq.2', {
        method: 'PUT',
        headers,
        body: { id: 2, owner: 'A was here', balance: 0 },
      }),
  },
  { verb: 'RPC GET', send: ({ headers }) => rest(b.ref, 'rpc/total', { headers }) },
  // The OpenAPI description lists B's tables, columns and functions.
  { verb: 'OpenAPI root', send: ({ headers }) => rest(b.ref, '', { headers }) },
];

/** The same on B's host with the key as the `apikey` query parameter (the websocket style). */
const withQueryKey = (key: string) => (path: string) =>
  `${path}${path.includes('?') ? '&' : '?'}apikey=${key}`;

describe("A's credentials on B's host", () => {
  describe.each(attacks)('$verb', ({ send }) => {
    it("A's secret key → 401 Invalid API key", async () => {
      expectInvalidApiKey(await send({ headers: { apikey: a.secretKey } }));
    });

    it("A's publishable key → 401 Invalid API key", async () => {
      expectInvalidApiKey(await send({ headers: { apikey: a.publishableKey } }));
    });

    it("A's secret key as a Bearer token only → 401 Invalid API key", async () => {
      expectInvalidApiKey(await send({ headers: { authorization: `Bearer ${a.secretKey}` } }));
    });

    it("A's key with a spoofed X-Project-Ref/X-Tenant-Id naming A → 401 Invalid API key", async () => {
      const res = await send({
        headers: { apikey: a.secretKey, 'x-project-ref': a.ref, 'x-project-id': a.ref, 'x-tenant-id': a.ref },
      });
      expectInvalidApiKey(res);
    });

    it("A's publishable key with an A user token → 401 Invalid API key", async () => {
      const token = await userToken(a.jwtSecret, { sub: randomUUID() });
      expectInvalidApiKey(
        await send({ headers: { apikey: a.publishableKey, authorization: `Bearer ${token}` } }),
      );
    });

    it("A's publishable key as a Bearer token only → 401 Invalid API key", async () => {
      expectInvalidApiKey(await send({ headers: { authorization: `Bearer ${a.publishableKey}` } }));
    });

    it("B's publishable key with an A-signed user token → 401 PGRST301, never served as anon", async () => {
      const token = await userToken(a.jwtSecret, { sub: randomUUID() });
      expectPostgrestError(
        await send({ headers: { apikey: b.publishableKey, authorization: `Bearer ${token}` } }),
        401,
        'PGRST301',
      );
    });

    it("B's secret key with an A-signed user token → 401 PGRST301, never served as service_role", async () => {
      const token = await userToken(a.jwtSecret, { sub: randomUUID() });
      expectPostgrestError(
        await send({ headers: { apikey: b.secretKey, authorization: `Bearer ${token}` } }),
        401,
        'PGRST301',
      );
    });

    it("B's publishable key with an A-signed service_role token → 401 PGRST301", async () => {
      const token = await userToken(a.jwtSecret, { sub: randomUUID(), role: 'service_role' });
      expectPostgrestError(
        await send({ headers: { apikey: b.publishableKey, authorization: `Bearer ${token}` } }),
        401,
        'PGRST301',
      );
    });
  });

  it("A's keys as the apikey query parameter on B's host → 401 Invalid API key, on every route", async () => {
    const routes = [
      { method: 'GET', path: 'accounts?select=*' },
      { method: 'POST', path: 'accounts', body: { id: 3, owner: 'A was here', balance: 1 } },
      { method: 'PATCH', path: 'accounts?id=eq.1', body: { balance: 0 } },
      { method: 'DELETE', path: 'accounts?id=gt.0' },
      { method: 'POST', path: 'rpc/wipe', body: {} },
      { method: 'GET', path: '' },
    ];
    for (const key of [a.secretKey, a.publishableKey]) {
      for (const { method, path, body } of routes) {
        const res = await rest(b.ref, withQueryKey(key)(path), { method, ...(body ? { body } : {}) });
        expectInvalidApiKey(res);
        expect(res.text, `${method} ${path}`).not.toContain(key);
      }
    }
  });

  it("HEAD (supabase-js count with head: true) with A's credentials → 401 and no count of B's rows", async () => {
    const token = await userToken(a.jwtSecret, { sub: randomUUID(), role: 'service_role' });
    const cases: Record<string, Record<string, string>> = {
      "A's secret key": { apikey: a.secretKey },
      "A's publishable key": { apikey: a.publishableKey },
      "B's publishable key + A-signed token": { apikey: b.publishableKey, authorization: `Bearer ${token}` },
    };
    for (const [name, headers] of Object.entries(cases)) {
      const res = await rest(b.ref, 'accounts?select=*', {
        method: 'HEAD',
        headers: { ...headers, prefer: 'count=exact' },
      });
      expect(res.status, name).toBe(401);
      expect(res.headers['content-range'], name).toBeUndefined();
    }
    const sdk = await supabaseFor(b.ref, a.secretKey)
      .from('accounts')
      .select('*', { count: 'exact', head: true });
    expect(sdk.status).toBe(401);
    expect(sdk.count).toBeNull();
    expect(sdk.error).not.toBeNull();
    // The control: B's own key does count its rows, so the refusals above are not an empty table.
    const own = await supabaseFor(b.ref, b.secretKey)
      .from('accounts')
      .select('*', { count: 'exact', head: true });
    expect(own.error).toBeNull();
    expect(own.count).toBe(2);
  });

  it("A's secret key as the Bearer next to B's publishable apikey (header or url param) → 401, the two keys disagree", async () => {
    const mixed: Array<{ path: string; headers: Record<string, string> }> = [
      { path: 'rpc/whoami', headers: { apikey: b.publishableKey, authorization: `Bearer ${a.secretKey}` } },
      {
        path: withQueryKey(b.publishableKey)('rpc/whoami'),
        headers: { authorization: `Bearer ${a.secretKey}` },
      },
      { path: 'accounts', headers: { apikey: b.publishableKey, authorization: `Bearer ${a.secretKey}` } },
    ];
    for (const { path, headers } of mixed) {
      const body = path.startsWith('accounts') ? { id: 3, owner: 'A was here', balance: 1 } : {};
      const res = await rest(b.ref, path, { method: 'POST', headers, body });
      expectInvalidApiKey(res);
      expect(String((res.json() as { hint: string }).hint)).toMatch(/different API keys/);
      expect(res.text).not.toContain(a.secretKey);
    }
    // The same key in both, as supabase-js sends it without a session, is still served.
    const same = await rest(b.ref, 'rpc/whoami', {
      method: 'POST',
      headers: { apikey: b.publishableKey, authorization: `Bearer ${b.publishableKey}` },
      body: {},
    });
    expect(same.status, same.text).toBe(200);
    expect(same.json()).toBe('anon');
  });

  it('supabase-js writes on B with A’s keys or an A-signed token are refused (insert, update, upsert, delete, rpc)', async () => {
    const token = await userToken(a.jwtSecret, { sub: randomUUID(), role: 'service_role' });
    const invalidKey = { message: 'Invalid API key' };
    const clients = [
      { name: "A's secret key", client: supabaseFor(b.ref, a.secretKey), refusal: invalidKey },
      { name: "A's publishable key", client: supabaseFor(b.ref, a.publishableKey), refusal: invalidKey },
      {
        name: "B's publishable key + A-signed token",
        client: supabaseFor(b.ref, b.publishableKey, token),
        refusal: { code: 'PGRST301' },
      },
    ];
    for (const { name, client, refusal } of clients) {
      const writes = {
        insert: await client.from('accounts').insert({ id: 3, owner: 'A was here', balance: 1 }).select(),
        update: await client.from('accounts').update({ balance: 0 }).eq('id', 1).select(),
        upsert: await client
          .from('accounts')
          .upsert({ id: 1, owner: 'A was here', balance: 0 }, { onConflict: 'id' })
          .select(),
        delete: await client.from('accounts').delete().gt('id', 0).select(),
        rpc: await client.rpc('wipe'),
        rpcGet: await client.rpc('total', undefined, { get: true }),
      };
      for (const [op, res] of Object.entries(writes)) {
        expect(res.status, `${name} ${op}`).toBe(401);
        expect(res.data, `${name} ${op}`).toBeNull();
        expect(res.error, `${name} ${op}`).toMatchObject(refusal);
      }
    }
    expect(await rowsOf(b)).toEqual(B_ROWS);
  });

  it('left B unchanged', async () => {
    expect(await rowsOf(b)).toEqual(B_ROWS);
  });

  it('supabase-js pointed at B with A’s keys gets 401 and no data', async () => {
    for (const key of [a.secretKey, a.publishableKey]) {
      const client = supabaseFor(b.ref, key);
      const read = await client.from('accounts').select('*');
      expect(read.status).toBe(401);
      expect(read.data).toBeNull();
      expect(read.error).toMatchObject({ message: 'Invalid API key' });
      const rpc = await client.rpc('wipe');
      expect(rpc.status).toBe(401);
      expect(rpc.data).toBeNull();
    }
    expect(await rowsOf(b)).toEqual(B_ROWS);
  });

  it("a spoofed X-Project-Ref naming B on A's host still serves A", async () => {
    const res = await rest(a.ref, 'accounts?select=owner&order=id', {
      key: a.secretKey,
      headers: { 'x-project-ref': b.ref, 'x-tenant-id': b.ref },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ owner: 'A one' }, { owner: 'A two' }]);
  });
});

describe('A and B served side by side', () => {
  it('80 interleaved concurrent requests each get their own project’s rows (no cache or pool mix-ups)', async () => {
    const [tokenA, tokenB] = await Promise.all([
      userToken(a.jwtSecret, { sub: randomUUID() }),
      userToken(b.jwtSecret, { sub: randomUUID() }),
    ]);
    const variants = [
      { p: a, key: a.publishableKey },
      { p: b, key: b.secretKey },
      { p: a, key: a.publishableKey, token: tokenA },
      { p: b, key: b.publishableKey, token: tokenB },
      { p: a, key: a.secretKey },
      { p: b, key: b.publishableKey },
      { p: a, key: a.publishableKey, token: tokenA },
      { p: b, key: b.publishableKey, token: tokenB },
    ];
    const requests = Array.from({ length: 80 }, (_, i) => variants[i % variants.length]!);
    const results = await Promise.all(
      requests.map(({ p, key, token }) =>
        rest(p.ref, 'accounts?select=owner&order=id', { key, ...(token ? { token } : {}) }),
      ),
    );
    results.forEach((res, i) => {
      const label = requests[i]!.p === a ? 'A' : 'B';
      expect(res.status, res.text).toBe(200);
      expect(res.json(), `request ${i}`).toEqual([{ owner: `${label} one` }, { owner: `${label} two` }]);
    });
  });

  it('40 interleaved concurrent writes (insert, upsert, rpc) each land in their own project only', async () => {
    const [tokenA, tokenB] = await Promise.all([
      userToken(a.jwtSecret, { sub: randomUUID(), role: 'service_role' }),
      userToken(b.jwtSecret, { sub: randomUUID(), role: 'service_role' }),
    ]);
    const writes = Array.from({ length: 40 }, (_, i) => {
      const p = i % 2 === 0 ? a : b;
      const label = p === a ? 'A' : 'B';
      const auth =
        i % 4 < 2 ? { key: p.secretKey } : { key: p.publishableKey, token: p === a ? tokenA : tokenB };
      if (i % 3 === 2) {
        return rest(p.ref, 'rpc/whoami', { method: 'POST', ...auth, body: {} });
      }
      return rest(p.ref, 'ledger?on_conflict=id', {
        method: 'POST',
        ...auth,
        headers: { prefer: `return=representation${i % 3 === 1 ? ',resolution=merge-duplicates' : ''}` },
        body: { id: i, entry: `${label} ${i}` },
      });
    });
    const results = await Promise.all(writes);
    results.forEach((res, i) => {
      const label = i % 2 === 0 ? 'A' : 'B';
      expect([200, 201], `write ${i}: ${res.text}`).toContain(res.status);
      expect(res.json(), `write ${i}`).toEqual(
        i % 3 === 2 ? 'service_role' : [{ id: i, entry: `${label} ${i}` }],
      );
    });
    const expected = (label: 'A' | 'B') =>
      Array.from({ length: 40 }, (_, i) => i)
        .filter((i) => i % 3 !== 2 && (i % 2 === 0) === (label === 'A'))
        .map((i) => ({ id: i, entry: `${label} ${i}` }));
    const [ledgerA, ledgerB] = await Promise.all([
      sql(a.ref, 'select id, entry from public.ledger order by id'),
      sql(b.ref, 'select id, entry from public.ledger order by id'),
    ]);
    expect(ledgerA).toEqual(expected('A'));
    expect(ledgerB).toEqual(expected('B'));
  });

  it("a missing table or function on A never hints at B's names (no shared schema cache)", async () => {
    await sql(
      b.ref,
      `create table public.b_private_ledger (id int);
       create function public.b_private_audit() returns int language sql as $$ select 1 $$;`,
    );
    const table = await rest(a.ref, 'b_private_ledge?select=*', { key: a.secretKey });
    expectPostgrestError(table, 404, 'PGRST205');
    const fn = await rest(a.ref, 'rpc/b_private_audi', { method: 'POST', key: a.secretKey, body: {} });
    expectPostgrestError(fn, 404, 'PGRST202');
    for (const res of [table, fn]) expect(res.text).not.toMatch(/b_private_(ledger|audit)\b/);
    // The control: on B itself the same typos are answered with the hint.
    const own = await rest(b.ref, 'b_private_ledge?select=*', { key: b.secretKey });
    expectPostgrestError(own, 404, 'PGRST205');
    expect(own.text).toContain('b_private_ledger');
  });

  localOnly(
    'the bare base domain serves the key’s own project, never the other (local target only)',
    async () => {
      const bare = new URL(platform().gatewayUrl);
      for (const [p, label] of [
        [a, 'A'],
        [b, 'B'],
      ] as const) {
        const res = await http(`${bare.origin}/rest/v1/accounts?select=owner&order=id`, {
          headers: { apikey: p.publishableKey },
        });
        expect(res.status, res.text).toBe(200);
        expect(res.json()).toEqual([{ owner: `${label} one` }, { owner: `${label} two` }]);
      }
    },
  );
});

describe('the data API exposes only the public schema', () => {
  it('other schemas are refused with 406 PGRST106 (auth, supaplane, pg_catalog, information_schema)', async () => {
    for (const schema of ['auth', 'supaplane', 'pg_catalog', 'information_schema']) {
      const { status, error, data } = await supabaseFor(a.ref, a.secretKey)
        .schema(schema)
        .from('pg_database')
        .select('*');
      expect(status, schema).toBe(406);
      expect(error, schema).toMatchObject({ code: 'PGRST106' });
      expect(data).toBeNull();
    }
  });

  it('catalog tables are not reachable as tables of public (PGRST205), so no list of other tenants leaks', async () => {
    for (const table of ['pg_database', 'pg_roles', 'pg_stat_activity']) {
      const res = await rest(a.ref, `${table}?select=*`, { key: a.secretKey });
      expectPostgrestError(res, 404, 'PGRST205');
      expect(res.text).not.toContain(b.ref);
    }
  });
});

describe("A's SQL endpoint cannot reach B's database", () => {
  async function expectRefused(query: string, sqlstates: string[]) {
    const res = await sqlRequest(a.ref, query);
    const body = JSON.stringify(expectJsonError(res, 400));
    expect(
      sqlstates.some((code) => body.includes(code)),
      `${query}: ${res.text}`,
    ).toBe(true);
  }

  it('runs in A’s own database, as a role without superpowers', async () => {
    const [me] = await sql<Record<string, unknown>>(
      a.ref,
      `select current_database() as db, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
              has_database_privilege('proj_${b.ref}', 'CONNECT') as can_connect_b
         from pg_roles r where r.rolname = current_user`,
    );
    expect(me).toEqual({
      db: `proj_${a.ref}`,
      rolsuper: false,
      rolcreaterole: false,
      rolcreatedb: false,
      rolbypassrls: false,
      can_connect_b: false,
    });
    const rows = await sql(a.ref, 'select owner from public.accounts order by id');
    expect(rows).toEqual([{ owner: 'A one' }, { owner: 'A two' }]);
  });

  it('cross-database references are refused (0A000)', async () => {
    await expectRefused(`select * from "proj_${b.ref}".public.accounts`, ['0A000']);
  });

  it("cannot become B's roles (42501)", async () => {
    await expectRefused(`set role "authenticator_${b.ref}"`, ['42501']);
    await expectRefused(`set role "owner_${b.ref}"`, ['42501']);
    await expectRefused(`set session authorization "owner_${b.ref}"`, ['42501']);
  });

  it("cannot take B's roles or widen its own (42501)", async () => {
    await expectRefused(`grant "owner_${b.ref}" to current_user`, ['42501']);
    await expectRefused(`grant "authenticator_${b.ref}" to current_user`, ['42501']);
    await expectRefused('alter role current_user bypassrls', ['42501']);
    await expectRefused('alter role current_user createdb', ['42501']);
    await expectRefused("alter system set log_statement = 'all'", ['42501']);
    await expectRefused("select lo_import('/etc/hostname')", ['42501']);
  });

  it('cannot escape through server programs, files or remote-connection extensions', async () => {
    await expectRefused("copy (select 1) to program 'true'", ['42501']);
    await expectRefused("select pg_read_file('/etc/hostname')", ['42501']);
    await expectRefused('create extension if not exists dblink', ['42501', '0A000', '58P01', '22023']);
    await expectRefused('create extension if not exists postgres_fdw', ['42501', '0A000', '58P01', '22023']);
  });

  it('left B unchanged', async () => {
    expect(await rowsOf(b)).toEqual(B_ROWS);
  });
});

describe("A's database login role (local target only; skipped against a deployed platform)", () => {
  interface RestConfig {
    db: { host: string; port: number; database: string; user: string; password: string };
  }

  async function restConfigOf(ref: string): Promise<RestConfig> {
    const res = await http(`${local!.internalUrl}/internal/v1/projects/${ref}/rest-config`, {
      headers: { authorization: `Bearer ${local!.internalToken}` },
    });
    expect(res.status, res.text).toBe(200);
    return res.json() as RestConfig;
  }

  async function connectAs(db: RestConfig['db'], database: string): Promise<string | undefined> {
    const client = new pg.Client({
      host: db.host,
      port: db.port,
      user: db.user,
      password: db.password,
      database,
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    } finally {
      await client.end().catch(() => {});
    }
  }

  localOnly('the internal API refuses callers without the service token', async () => {
    const res = await http(`${local!.internalUrl}/internal/v1/projects/${b.ref}/rest-config`);
    expectJsonError(res, 401);
    expect(res.text).not.toContain('password');
  });

  localOnly("connects to A's database, and is refused by B's with 42501", async () => {
    const { db } = await restConfigOf(a.ref);
    expect(db.user).not.toMatch(/^postgres$/);
    expect(db.database).toBe(`proj_${a.ref}`);
    expect(await connectAs(db, db.database)).toBeUndefined();
    expect(await connectAs(db, `proj_${b.ref}`)).toBe('42501');
  });

  localOnly('is refused by every other database of the cluster (42501)', async () => {
    const { db } = await restConfigOf(a.ref);
    const superuser = new pg.Client({ connectionString: local!.postgresUrl });
    await superuser.connect();
    let others: string[];
    try {
      const res = await superuser.query<{ datname: string }>(
        'select datname from pg_database where datallowconn and datname <> $1 order by 1',
        [db.database],
      );
      others = res.rows.map((r) => r.datname);
    } finally {
      await superuser.end();
    }
    expect(others).toContain(`proj_${b.ref}`);
    const refused = await Promise.all(others.map(async (name) => [name, await connectAs(db, name)] as const));
    expect(Object.fromEntries(refused)).toEqual(Object.fromEntries(others.map((name) => [name, '42501'])));
  });
});

describe("A's data-API function cannot be called around the gateway (local target only)", () => {
  localOnly('an unsigned or badly signed call to the rest function URL → 403, no data', async () => {
    const res = await http(`${local!.internalUrl}/internal/v1/projects/${a.ref}/config`, {
      headers: { authorization: `Bearer ${local!.internalToken}` },
    });
    expect(res.status, res.text).toBe(200);
    const { upstreams } = res.json() as { upstreams: { rest: { url: string } } };
    const url = new URL('rest/v1/accounts?select=*', upstreams.rest.url).toString();
    const forged = await userToken(a.jwtSecret, { sub: randomUUID(), role: 'service_role' });
    const unsigned = await http(url, { headers: { 'x-client-authorization': `Bearer ${forged}` } });
    expect(unsigned.status, unsigned.text).toBe(403);
    expect(unsigned.text).not.toContain('A one');
    const badlySigned = await http(url, {
      headers: {
        'x-client-authorization': `Bearer ${forged}`,
        'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d{3}/g, ''),
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/local/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=' +
          '0'.repeat(64),
      },
    });
    expect(badlySigned.status, badlySigned.text).toBe(403);
    expect(badlySigned.text).not.toContain('A one');
  });
});
