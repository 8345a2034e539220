import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterObjects, type Harness, loginAs, queryOnce, pgUrl, startHarness } from '../../test/harness.js';

// What one project's owner can make in its own database that names another project's roles: a grant
// or a default privilege to them. Postgres records it against those roles (pg_shdepend), which then
// cannot be dropped while it stands: the other project's delete must not depend on it.

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  await h.registerCluster('cross-grants', 10);
});
afterAll(() => h?.close());

const sql = async (ref: string, query: string) => {
  const response = await h.call('POST', `/v1/projects/${ref}/database/query`, { query });
  expect(response.statusCode, response.body).toBe(201);
};

describe("another project's grants to a project's roles", () => {
  it('do not keep the project from being deleted: its roles go, the granting project keeps its table', async () => {
    for (const ref of ['xg-granter', 'xg-victim', 'xg-connect']) {
      expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
    }
    await sql(
      'xg-granter',
      `create table public.shared (id int);
       grant select on public.shared to "authenticator_xg-victim", "owner_xg-victim";
       alter default privileges in schema public grant select on tables to "owner_xg-victim";
       grant connect on database "proj_xg-granter" to "authenticator_xg-victim", "authenticator_xg-connect"`,
    );
    // A grant on the database alone is recorded as on a shared object, in no database.
    const onlyShared = await h.call('DELETE', '/v1/projects/xg-connect');
    expect(onlyShared.statusCode, onlyShared.body).toBe(200);
    expect(await clusterObjects('xg-connect')).toEqual([]);

    const deleted = await h.call('DELETE', '/v1/projects/xg-victim');
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(deleted.json().ref).toBe('xg-victim');
    expect(await clusterObjects('xg-victim')).toEqual([]);

    const left = await queryOnce<{ acl: string }>(
      pgUrl('proj_xg-granter'),
      `SELECT coalesce(relacl::text, '') AS acl FROM pg_class WHERE relname = 'shared'`,
    );
    expect(left).toHaveLength(1);
    expect(left[0]!.acl).not.toContain('xg-victim');
    const defaults = await queryOnce<{ acl: string }>(
      pgUrl('proj_xg-granter'),
      'SELECT defaclacl::text AS acl FROM pg_default_acl',
    );
    expect(defaults.map((d) => d.acl).join()).not.toContain('xg-victim');
    const connect = await queryOnce<{ acl: string }>(
      pgUrl(),
      `SELECT datacl::text AS acl FROM pg_database WHERE datname = 'proj_xg-granter'`,
    );
    expect(connect[0]!.acl).not.toContain('xg-victim');
  });
});

describe("the delete's sessions in another project's database", () => {
  it("take none of that database's own settings (role, library to load, read-only, timeout); a template is dropped too", async () => {
    for (const ref of ['xs-granter', 'xs-victim']) {
      expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
    }
    await sql('xs-victim', `alter database "proj_xs-victim" is_template true`);
    // The library last: from then on no session of the granter's database starts, its owner's neither.
    await sql(
      'xs-granter',
      `create table public.shared (id int);
       grant select on public.shared to "owner_xs-victim";
       alter database "proj_xs-granter" set role = "owner_xs-granter";
       alter database "proj_xs-granter" set default_transaction_read_only = on;
       alter database "proj_xs-granter" set statement_timeout = 1;
       alter database "proj_xs-granter" set search_path = nowhere;
       alter database "proj_xs-granter" set local_preload_libraries = 'nowhere'`,
    );
    const deleted = await h.call('DELETE', '/v1/projects/xs-victim');
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(await clusterObjects('xs-victim')).toEqual([]);
  });
});

const login = (ref: string, role: 'owner' | 'authenticator', database?: string) =>
  loginAs(h, ref, role, database);

const call = async (method: 'POST', url: string, status: string) => {
  const response = await h.call(method, url);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.json().status).toBe(status);
};
/** A delete answers Supabase's {id, ref, name}. */
const remove = async (ref: string) => {
  const response = await h.call('DELETE', `/v1/projects/${ref}`);
  expect(response.statusCode, response.body).toBe(200);
  expect(response.json().ref).toBe(ref);
};

/** Grants on `granter`'s table, its default privileges and CONNECT on its database to `grantee`'s roles. */
const grantTo = (granter: string, grantee: string) =>
  sql(
    granter,
    `create table public.shared (id int);
     insert into public.shared values (1);
     grant select on public.shared to "authenticator_${grantee}", "owner_${grantee}";
     alter default privileges in schema public grant select on tables to "owner_${grantee}";
     grant connect on database "proj_${granter}" to "owner_${grantee}"`,
  );

/** What `granter`'s database still grants to roles named after `grantee`, as ACL text. */
async function grantsLeft(granter: string, grantee: string): Promise<string[]> {
  const rows = await queryOnce<{ acl: string }>(
    pgUrl(`proj_${granter}`),
    `SELECT relacl::text AS acl FROM pg_class WHERE relname = 'shared'
     UNION ALL SELECT defaclacl::text FROM pg_default_acl
     UNION ALL SELECT datacl::text FROM pg_database WHERE datname = $1`,
    [`proj_${granter}`],
  );
  return rows.map((r) => r.acl).filter((acl) => acl?.includes(grantee));
}

describe('a paused project that granted something to another project', () => {
  it("does not hold up that project's delete, and works again once restored, without the grant", async () => {
    for (const ref of ['xp-granter', 'xp-victim']) {
      expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
    }
    await grantTo('xp-granter', 'xp-victim');
    await call('POST', '/v1/projects/xp-granter/pause', 'INACTIVE');

    await remove('xp-victim');
    expect(await clusterObjects('xp-victim')).toEqual([]);
    // Still paused meanwhile: neither of its roles gets in.
    expect(await login('xp-granter', 'owner')).not.toBe('connected');
    expect(await login('xp-granter', 'authenticator')).not.toBe('connected');

    await call('POST', '/v1/projects/xp-granter/restore', 'ACTIVE_HEALTHY');
    expect(await login('xp-granter', 'owner')).toBe('connected');
    expect(await login('xp-granter', 'authenticator')).toBe('connected');
    const read = await h.call('POST', '/v1/projects/xp-granter/database/query', {
      query: 'select count(*)::int as n from public.shared',
    });
    expect(read.statusCode, read.body).toBe(201);
    expect(read.json()).toEqual([{ n: 1 }]);
    expect(await grantsLeft('xp-granter', 'xp-victim')).toEqual([]);
  });

  it("keeps the paused project's own roles out of every database, which its owner cannot undo", async () => {
    for (const ref of ['xl-paused', 'xl-other']) {
      expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
    }
    // Another project lets the paused one's roles in: a pause still keeps them out of there too.
    await sql(
      'xl-other',
      `grant connect on database "proj_xl-other" to "owner_xl-paused", "authenticator_xl-paused"`,
    );
    expect(await login('xl-paused', 'owner', 'proj_xl-other')).toBe('connected');
    // The owner may not touch its own roles' LOGIN (or anything else of theirs).
    for (const role of ['owner_xl-paused', 'authenticator_xl-paused']) {
      const refused = await h.call('POST', '/v1/projects/xl-paused/database/query', {
        query: `alter role "${role}" nologin`,
      });
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.body).toContain('permission denied');
    }

    await call('POST', '/v1/projects/xl-paused/pause', 'INACTIVE');
    for (const role of ['owner', 'authenticator'] as const) {
      expect(await login('xl-paused', role, 'proj_xl-other')).toBe('28000'); // not permitted to log in
      expect(await login('xl-paused', role)).toBe('28000');
    }
    // The other project is untouched.
    expect(await login('xl-other', 'owner')).toBe('connected');

    await call('POST', '/v1/projects/xl-paused/restore', 'ACTIVE_HEALTHY');
    for (const role of ['owner', 'authenticator'] as const) {
      expect(await login('xl-paused', role)).toBe('connected');
    }
  });

  it('paused by an older version (its database closed) does not hold it up either, and is restored', async () => {
    for (const ref of ['xo-granter', 'xo-victim', 'xo-alone']) {
      expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
    }
    await grantTo('xo-granter', 'xo-victim');
    // An older version's pause: the roles may log in, their database takes no connection at all.
    for (const ref of ['xo-granter', 'xo-alone']) {
      await call('POST', `/v1/projects/${ref}/pause`, 'INACTIVE');
      await queryOnce(pgUrl(), `ALTER ROLE "owner_${ref}" LOGIN`);
      await queryOnce(pgUrl(), `ALTER ROLE "authenticator_${ref}" LOGIN`);
      await queryOnce(pgUrl(), `ALTER DATABASE "proj_${ref}" ALLOW_CONNECTIONS false`);
      expect(await login(ref, 'owner')).toBe('55000'); // database does not allow connections
    }

    await remove('xo-victim');
    expect(await clusterObjects('xo-victim')).toEqual([]);
    // The delete got in without letting the paused project's roles in.
    expect(await login('xo-granter', 'owner')).not.toBe('connected');
    expect(await login('xo-granter', 'authenticator')).not.toBe('connected');

    for (const ref of ['xo-granter', 'xo-alone']) {
      await call('POST', `/v1/projects/${ref}/restore`, 'ACTIVE_HEALTHY');
      expect(await login(ref, 'owner')).toBe('connected');
      expect(await login(ref, 'authenticator')).toBe('connected');
    }
    expect(await grantsLeft('xo-granter', 'xo-victim')).toEqual([]);
  });
});
