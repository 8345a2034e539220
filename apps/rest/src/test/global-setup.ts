import { CLUSTER_ROLES_SQL, PROJECT_TEMPLATE_SQL, projectOwnershipSql } from '@supaplane/db-bootstrap';
import { startPostgres } from '@supaplane/local-services';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { ADMIN_FIXTURE_SQL, FIXTURE_SQL } from './fixture.sql.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The data-API login role (NOINHERIT, member of anon/authenticated/service_role). */
    restDbUrl: string;
    /** The project owner: runs DDL like the tenant-manager's SQL endpoint. */
    ownerDbUrl: string;
    /** Superuser in the project database. */
    adminDbUrl: string;
  }
}

/** One PostgreSQL 16 per run, shaped like a project database, with the fixture schema. */
export default async function setup(project: TestProject) {
  const server = await startPostgres({ ephemeral: true });
  const base = `postgres://%s@127.0.0.1:${server.port}/proj_test`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(CLUSTER_ROLES_SQL);
  await admin.query(`CREATE ROLE owner_test LOGIN PASSWORD 'owner-pw'`);
  await admin.query(
    `CREATE ROLE authenticator_test LOGIN NOINHERIT PASSWORD 'auth-pw'; GRANT anon, authenticated, service_role TO authenticator_test`,
  );
  await admin.query('CREATE DATABASE proj_test');
  await admin.end();
  const adminDbUrl = base.replace('%s', `${server.user}:${server.password}`);
  const db = new pg.Client({ connectionString: adminDbUrl });
  await db.connect();
  await db.query(PROJECT_TEMPLATE_SQL);
  await db.query(projectOwnershipSql('owner_test'));
  await db.query(ADMIN_FIXTURE_SQL);
  await db.end();
  const ownerDbUrl = base.replace('%s', 'owner_test:owner-pw');
  const owner = new pg.Client({ connectionString: ownerDbUrl });
  await owner.connect();
  await owner.query(FIXTURE_SQL);
  await owner.end();
  project.provide('restDbUrl', base.replace('%s', 'authenticator_test:auth-pw'));
  project.provide('ownerDbUrl', ownerDbUrl);
  project.provide('adminDbUrl', adminDbUrl);
  return async () => {
    await server.stop();
  };
}
