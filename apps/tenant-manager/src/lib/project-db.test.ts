import { randomBytes } from 'node:crypto';
import { CLUSTER_ROLES_SQL } from '@supaplane/db-bootstrap';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgUrl, queryOnce } from '../../test/harness.js';
import { authenticatorRole, createProjectRoles, ident, ownerRole, prepareCluster } from './project-db.js';

const ref = `scram-${randomBytes(4).toString('hex')}`;
const database = `scram_${randomBytes(4).toString('hex')}`;
const passwords = {
  owner: randomBytes(24).toString('base64url'),
  authenticator: randomBytes(24).toString('base64url'),
};
let admin: pg.Pool;

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  await admin.query(CLUSTER_ROLES_SQL); // anon, authenticated, service_role, as a registered cluster has
});
afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${ident(database)}`);
  await admin.query(`DROP ROLE IF EXISTS ${ident(ownerRole(ref))}`);
  await admin.query(`DROP ROLE IF EXISTS ${ident(authenticatorRole(ref))}`);
  await admin.end();
});

describe('project login roles', () => {
  it('get their passwords as SCRAM verifiers: the plaintext never reaches the cluster, and logging in works', async () => {
    const sent: string[] = [];
    const recording = {
      query: (text: string, values?: unknown[]) => {
        sent.push(text, JSON.stringify(values ?? []));
        return admin.query(text, values);
      },
    } as unknown as pg.Pool;
    await createProjectRoles(recording, ref, passwords);
    await createProjectRoles(recording, ref, passwords); // a re-run sets them again

    for (const password of Object.values(passwords)) {
      expect(sent.filter((text) => text.includes(password))).toEqual([]);
    }
    const stored = await queryOnce<{ rolpassword: string }>(
      pgUrl(),
      'SELECT rolpassword FROM pg_authid WHERE rolname = ANY ($1) ORDER BY rolname',
      [[ownerRole(ref), authenticatorRole(ref)]],
    );
    expect(stored.map((r) => r.rolpassword)).toEqual([
      expect.stringMatching(/^SCRAM-SHA-256\$4096:/),
      expect.stringMatching(/^SCRAM-SHA-256\$4096:/),
    ]);

    await admin.query(`CREATE DATABASE ${ident(database)}`);
    await admin.query(
      `GRANT CONNECT ON DATABASE ${ident(database)} TO ${ident(ownerRole(ref))}, ${ident(authenticatorRole(ref))}`,
    );
    for (const [user, password] of [
      [ownerRole(ref), passwords.owner],
      [authenticatorRole(ref), passwords.authenticator],
    ] as const) {
      const url = new URL(pgUrl(database));
      url.username = user;
      url.password = password;
      expect(await queryOnce<{ user: string }>(url.toString(), 'SELECT current_user AS user')).toEqual([
        { user },
      ]);
      url.password = 'wrong';
      await expect(queryOnce(url.toString(), 'SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    }
  });
});

describe('cluster preparation', () => {
  it("gives an already prepared cluster's API roles their current settings again (statement timeouts)", async () => {
    const server = new URL(pgUrl());
    const conn = {
      host: server.hostname,
      port: Number(server.port),
      user: decodeURIComponent(server.username),
      password: decodeURIComponent(server.password),
      database: 'postgres',
      ssl: false,
    };
    const timeouts = async () =>
      (
        await admin.query<{ rolname: string; config: string[] | null }>(
          `SELECT r.rolname, s.setconfig AS config FROM pg_roles r
           LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0
           WHERE r.rolname IN ('anon', 'authenticated') ORDER BY r.rolname`,
        )
      ).rows.map((r) => [r.rolname, r.config?.find((c) => c.startsWith('statement_timeout=')) ?? null]);
    await prepareCluster(admin, conn); // the template is there and marked
    // as a cluster prepared before the roles had timeouts
    await admin.query('ALTER ROLE anon RESET statement_timeout');
    await admin.query('ALTER ROLE authenticated RESET statement_timeout');
    try {
      await prepareCluster(admin, conn);
      expect(await timeouts()).toEqual([
        ['anon', 'statement_timeout=3s'],
        ['authenticated', 'statement_timeout=8s'],
      ]);
    } finally {
      await admin.query(CLUSTER_ROLES_SQL);
    }
  });
});
