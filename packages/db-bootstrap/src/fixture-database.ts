import pg from 'pg';
import { CLUSTER_ROLES_SQL, PROJECT_TEMPLATE_SQL, projectOwnershipSql } from './sql.js';

interface ServerCredentials {
  readonly host: string;
  readonly port: number;
  /** A superuser (or the cluster master). */
  readonly user: string;
  readonly password: string;
}

interface FixtureDatabase {
  /** Superuser in the project database. */
  readonly adminUrl: string;
  /** `owner_<name>`: owns `public`, runs DDL like the tenant-manager's SQL endpoint. */
  readonly ownerUrl: string;
  /** `authenticator_<name>`: the data API's login role (NOINHERIT, member of the three API roles). */
  readonly authenticatorUrl: string;
}

/**
 * Creates database `proj_<name>` shaped like a provisioned project (API roles, `auth` helpers, reload
 * hook, owner and authenticator login roles) on a throw-away server: for the rest engine's tests and
 * benchmarks. The tenant-manager provisions real projects itself; this is its shape, not its process.
 */
export async function createFixtureDatabase(
  server: ServerCredentials,
  name: string,
): Promise<FixtureDatabase> {
  const url = (user: string, password: string) =>
    `postgres://${user}:${encodeURIComponent(password)}@${server.host}:${server.port}/proj_${name}`;
  const admin = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
  });
  await admin.connect();
  try {
    await admin.query(CLUSTER_ROLES_SQL);
    await admin.query(`CREATE ROLE "owner_${name}" LOGIN PASSWORD 'owner-pw'`);
    await admin.query(
      `CREATE ROLE "authenticator_${name}" LOGIN NOINHERIT PASSWORD 'auth-pw';
       GRANT anon, authenticated, service_role TO "authenticator_${name}"`,
    );
    await admin.query(`CREATE DATABASE "proj_${name}"`);
  } finally {
    await admin.end();
  }
  const adminUrl = url(server.user, server.password);
  const db = new pg.Client({ connectionString: adminUrl });
  await db.connect();
  try {
    await db.query(PROJECT_TEMPLATE_SQL);
    await db.query(projectOwnershipSql(`owner_${name}`));
  } finally {
    await db.end();
  }
  return {
    adminUrl,
    ownerUrl: url(`owner_${name}`, 'owner-pw'),
    authenticatorUrl: url(`authenticator_${name}`, 'auth-pw'),
  };
}
