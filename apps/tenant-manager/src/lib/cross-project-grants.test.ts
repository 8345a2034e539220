import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterObjects, type Harness, queryOnce, pgUrl, startHarness } from '../../test/harness.js';

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
    expect(deleted.json().status).toBe('REMOVED');
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
