import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startPostgres } from '@supaplane/local-services';
import { CLUSTER_ROLES_SQL, PROJECT_TEMPLATE_SQL, projectOwnershipSql } from './index.js';

let server: RunningPostgres;
let admin: pg.Client;

beforeAll(async () => {
  server = await startPostgres({ ephemeral: true });
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await Promise.all([admin.query(CLUSTER_ROLES_SQL), admin.query(CLUSTER_ROLES_SQL)]);
  await admin.query('CREATE DATABASE proj');
  await admin.query(`CREATE ROLE "owner_p" LOGIN PASSWORD 'pw'`);
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

describe('project database bootstrap', () => {
  it('auth helpers read request.jwt.claims, owner tables reach API roles, DDL notifies pgrst', async () => {
    const db = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, '/proj') });
    await db.connect();
    await db.query(PROJECT_TEMPLATE_SQL);
    await db.query(PROJECT_TEMPLATE_SQL); // idempotent
    await db.query(projectOwnershipSql('owner_p'));

    const owner = new pg.Client({ connectionString: `postgres://owner_p:pw@127.0.0.1:${server.port}/proj` });
    await owner.connect();
    const notices: string[] = [];
    await db.query('LISTEN pgrst');
    db.on('notification', (n) => notices.push(String(n.payload)));
    await owner.query('CREATE TABLE public.todo (id int primary key, user_id uuid)');
    await owner.query(`INSERT INTO todo VALUES (1, '00000000-0000-0000-0000-000000000001')`);
    await new Promise((r) => setTimeout(r, 100));
    expect(notices).toContain('reload schema');

    await db.query('BEGIN');
    await db.query(`SELECT set_config('request.jwt.claims', $1, true)`, [
      JSON.stringify({ sub: '00000000-0000-0000-0000-000000000001', role: 'authenticated', email: 'a@b.c' }),
    ]);
    await db.query('SET LOCAL ROLE authenticated');
    const { rows } = await db.query(
      'SELECT auth.uid()::text AS uid, auth.role() AS role, auth.email() AS email, (SELECT count(*) FROM todo)::int AS n',
    );
    expect(rows[0]).toEqual({
      uid: '00000000-0000-0000-0000-000000000001',
      role: 'authenticated',
      email: 'a@b.c',
      n: 1,
    });
    await db.query('ROLLBACK');

    const roles = await db.query(
      `SELECT rolname, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname IN ('anon','authenticated','service_role') ORDER BY 1`,
    );
    expect(roles.rows).toEqual([
      { rolname: 'anon', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'authenticated', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'service_role', rolbypassrls: true, rolcanlogin: false },
    ]);
    await owner.end();
    await db.end();
  });

  it("gives anon and authenticated hosted Supabase's statement timeouts, keeping one an operator set", async () => {
    const timeouts = async () =>
      (
        await admin.query(
          `SELECT r.rolname, s.setconfig FROM pg_roles r
           LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0
           WHERE r.rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1`,
        )
      ).rows;
    expect(await timeouts()).toEqual([
      { rolname: 'anon', setconfig: ['statement_timeout=3s'] },
      { rolname: 'authenticated', setconfig: ['statement_timeout=8s'] },
      { rolname: 'service_role', setconfig: null },
    ]);
    await admin.query(`ALTER ROLE authenticated SET statement_timeout = '15s'`);
    await admin.query(CLUSTER_ROLES_SQL);
    expect((await timeouts())[1]).toEqual({ rolname: 'authenticated', setconfig: ['statement_timeout=15s'] });
  });
});
