import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, platform, rest } from './support/clients.js';
import { expectJsonError } from './support/expect.js';
import { exploreProjects } from './support/explore.js';
import {
  createProjects,
  deleteProject,
  eventually,
  sql,
  sqlRequest,
  type TestProject,
  untilSleeping,
} from './support/projects.js';

// An attacker where a paying tenant legitimately is: project A's owner role, through the SQL endpoint,
// and A's data API calling functions A wrote. The targets: another project (B, or one being deleted),
// the platform's own sessions on the cluster, and the rest function's credentials. What the platform
// runs as the cluster admin inside a project's database is only `SELECT 1` (the `db` health check)
// and, when a project is deleted, `DROP OWNED BY` its roles in every database that granted them
// something: these checks are about that, about the shared API roles, and about the caps A must not
// lift. tests/tenant-isolation.test.ts covers cross-database references and B's roles.

const SCHEMA = `
create table public.notes (id int primary key, body text);
grant select on public.notes to anon;
`;

const project = exploreProjects('attacks-sql', SCHEMA);
const local = platform().local;
const B_ROW = 'b-row-sql-4e1a';

/** A's SQL endpoint refuses `query` with one of these SQLSTATEs. */
async function expectRefused(query: string, sqlstates: readonly string[]) {
  const res = await sqlRequest(project.a.ref, query);
  const body = expectJsonError(res, 400);
  expect(sqlstates, `${query}: ${res.text}`).toContain(body.code);
}

/**
 * Runs `statement` on the current database (its name is only known at run time): `%I` is the
 * database, `%L` the current user.
 */
const onOwnDatabase = (statement: string) =>
  `do $$ begin execute format('${statement.replaceAll("'", "''")}', current_database(), current_user); end $$;`;

describe('setup', () => {
  it('gives B a row', async () => {
    await sql(project.b.ref, `insert into public.notes values (1, '${B_ROW}')`);
  });
});

describe('shared API roles and other projects’ roles', () => {
  it('A cannot change anon, authenticated, service_role or its own login role, nor their memberships', async () => {
    const { a } = project;
    for (const query of [
      'alter role anon set statement_timeout = 0',
      `alter role authenticated in database "proj_${a.ref}" set statement_timeout = 0`,
      'alter role service_role nobypassrls',
      `alter role "authenticator_${a.ref}" set role = 'service_role'`,
      'alter default privileges for role anon grant all on tables to public',
      'comment on role anon is $$x$$',
      'grant anon to current_user',
      `grant "owner_${a.ref}" to anon`,
      `grant "authenticator_${a.ref}" to current_user`,
      'reassign owned by anon to current_user',
      'drop owned by service_role',
      'set role service_role',
      'grant set on parameter work_mem to anon',
      'create event trigger steal on ddl_command_end execute function pg_catalog.now()',
    ]) {
      await expectRefused(query, ['42501']);
    }
  });

  it("A cannot alter B's database or open it to itself", async () => {
    const b = `"proj_${project.b.ref}"`;
    await expectRefused(`alter database ${b} set role = 'anon'`, ['42501']);
    await expectRefused(`alter database ${b} connection limit 1`, ['42501']);
    await expectRefused(`grant connect on database ${b} to current_user`, ['42501']);
    await expectRefused(`alter database ${b} owner to current_user`, ['42501']);
  });

  it("A sees B's sessions without their queries, and can neither cancel nor end them", async () => {
    const { a, b } = project;
    const sleeping = sql(b.ref, `select pg_sleep(2), 'b-sleeper' as tag`);
    let seen: { query: string }[] = [];
    await eventually(async () => {
      seen = await sql<{ query: string }>(
        a.ref,
        `select query from pg_stat_activity where datname = 'proj_${b.ref}'`,
      );
      return seen.length > 0;
    }, 5_000);
    expect(
      seen.every((row) => row.query === '<insufficient privilege>'),
      JSON.stringify(seen),
    ).toBe(true);
    for (const fn of ['pg_cancel_backend', 'pg_terminate_backend']) {
      await expectRefused(`select ${fn}(pid) from pg_stat_activity where datname = 'proj_${b.ref}'`, [
        '42501',
      ]);
    }
    expect(await sleeping).toEqual([{ pg_sleep: '', tag: 'b-sleeper' }]);
  });
});

describe("the platform's sessions in a tenant's database", () => {
  let victims: [TestProject, TestProject] | undefined;
  beforeAll(async () => {
    victims = await createProjects('attacks-sql-v1', 'attacks-sql-v2');
  });
  afterAll(async () => {
    if (victims) await Promise.all(victims.map((v) => deleteProject(v.ref)));
  });

  async function expectDeleted(ref: string) {
    const res = await admin('DELETE', `/v1/projects/${ref}`);
    expect([200, 202, 204], res.text).toContain(res.status);
    expect((await admin('GET', `/v1/projects/${ref}`)).status).toBe(404);
  }

  it("A's database settings (role, read-only, search path) do not hold up the delete of a project whose roles A granted something", async () => {
    const { a } = project;
    const victim = victims![0].ref;
    // Grants on A's objects to the victim's roles are recorded against them, so deleting the victim
    // revokes them in A's database, as the cluster admin, in a session that takes A's settings.
    await sql(
      a.ref,
      `grant select on public.notes to "owner_${victim}", "authenticator_${victim}";
       ${onOwnDatabase('alter database %I set role = %L')}
       ${onOwnDatabase("alter database %I set search_path = 'nowhere'")}
       ${onOwnDatabase('alter database %I set default_transaction_read_only = on')}`,
    );
    try {
      await expectDeleted(victim);
      const left = await sql(
        a.ref,
        `select grantee from information_schema.role_table_grants where grantee like '%${victim}'`,
      );
      expect(left).toEqual([]);
    } finally {
      await sql(a.ref, `set transaction read write; ${onOwnDatabase('alter database %I reset all')}`);
    }
  });

  it('a project that made its database a template is still deleted', async () => {
    const victim = victims![1].ref;
    await sql(victim, onOwnDatabase('alter database %I is_template true'));
    await expectDeleted(victim);
  });
});

describe("A's connection limit", () => {
  it('stays what the operator set when A raises its database’s own CONNECTION LIMIT', async () => {
    const { a } = project;
    const patched = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { db_connections: 1 } });
    expect(patched.status, patched.text).toBe(200);
    try {
      await sql(a.ref, onOwnDatabase('alter database %I connection limit -1'));
      const holding = sqlRequest(a.ref, 'select pg_sleep(3)');
      await untilSleeping(a.ref);
      const second = await sqlRequest(a.ref, 'select 1 as one');
      expect(expectJsonError(second, 503).code, second.text).toBe('connection_limit_reached');
      expect((await holding).status).toBe(201);
    } finally {
      const reset = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { db_connections: 60 } });
      expect(reset.status, reset.text).toBe(200);
    }
  });
});

describe("the rest function's credentials, seen from A's own functions", () => {
  it('an rpc of A sees its login role and the client’s headers, never the platform’s token, signature or secrets', async () => {
    const { a } = project;
    await sql(
      a.ref,
      `create function public.look_around() returns json language sql security definer as $$
         select json_build_object(
           'session_user', session_user,
           'headers', current_setting('request.headers', true),
           'settings', (select json_object_agg(name, setting) from pg_settings),
           'role_settings', (select json_agg(setconfig) from pg_db_role_setting))
       $$;
       grant execute on function public.look_around() to anon;`,
    );
    const res = await rest(a.ref, 'rpc/look_around', { method: 'POST', key: a.publishableKey, body: {} });
    expect(res.status, res.text).toBe(200);
    const seen = res.json() as { session_user: string; headers: string };
    expect(seen.session_user).toBe(`authenticator_${a.ref}`);
    expect(JSON.parse(seen.headers)).toMatchObject({ authorization: expect.stringMatching(/^Bearer ey/) });
    expect(res.text).not.toMatch(/sfn_|AWS4-HMAC-SHA256|x-amz-|x-client-authorization|x-supaplane/i);
    expect(res.text).not.toContain(platform().adminKey);
    if (local) expect(res.text).not.toContain(local.internalToken);
  });
});

project.secondProjectUntouched('select id, body from public.notes order by id', [{ id: 1, body: B_ROW }]);
