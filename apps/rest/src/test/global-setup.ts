import { createFixtureDatabase } from '@supaplane/db-bootstrap';
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
  const db = await createFixtureDatabase(server, 'test');
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  await admin.query(ADMIN_FIXTURE_SQL);
  await admin.end();
  const owner = new pg.Client({ connectionString: db.ownerUrl });
  await owner.connect();
  await owner.query(FIXTURE_SQL);
  await owner.end();
  project.provide('restDbUrl', db.authenticatorUrl);
  project.provide('ownerDbUrl', db.ownerUrl);
  project.provide('adminDbUrl', db.adminUrl);
  return async () => {
    await server.stop();
  };
}
