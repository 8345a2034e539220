import pg from 'pg';
import { CLUSTER_ROLES_SQL, PROJECT_TEMPLATE_SQL, projectOwnershipSql } from '@supaplane/db-bootstrap';

/**
 * SQL run on a worker cluster as its admin (master) credential: cluster preparation, and the
 * per-project database and roles. Every function is idempotent so a provisioning step can be re-run
 * after a crash at any point.
 */

export interface ClusterConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly ssl: boolean;
}

export const TEMPLATE_DATABASE = 'supaplane_template';
/** Bumped whenever the template's content changes; stored as the template database's comment. */
const TEMPLATE_MARKER = 'supaplane template v1';
const API_ROLES = 'anon, authenticated, service_role';

export const projectDatabase = (ref: string) => `proj_${ref}`;
export const ownerRole = (ref: string) => `owner_${ref}`;
export const authenticatorRole = (ref: string) => `authenticator_${ref}`;

export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

export function connectTo(conn: ClusterConnection, database: string, options: Partial<pg.ClientConfig> = {}) {
  return new pg.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database,
    ssl: conn.ssl ? { rejectUnauthorized: false } : false,
    connectionTimeoutMillis: 10_000,
    ...options,
  });
}

async function withClient<T>(client: pg.Client, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Holds a cluster-wide advisory lock around `fn`: template preparation and copies are serialised. */
async function withTemplateLock<T>(admin: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await admin.connect();
  try {
    await client.query(`SELECT pg_advisory_lock(hashtext('supaplane.template'))`);
    try {
      return await fn(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext('supaplane.template'))`);
    }
  } finally {
    client.release();
  }
}

async function ensureTemplate(client: pg.PoolClient, conn: ClusterConnection): Promise<void> {
  const { rows } = await client.query<{ marker: string | null }>(
    `SELECT shobj_description(oid, 'pg_database') AS marker FROM pg_database WHERE datname = $1`,
    [TEMPLATE_DATABASE],
  );
  if (rows[0]?.marker === TEMPLATE_MARKER) return;
  await client.query(CLUSTER_ROLES_SQL);
  // Project login roles may connect to their own database only: close the maintenance databases too.
  await client.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(conn.database)} FROM PUBLIC`);
  await client.query('REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC');
  if (rows.length === 0) await client.query(`CREATE DATABASE ${ident(TEMPLATE_DATABASE)}`);
  await client.query(`ALTER DATABASE ${ident(TEMPLATE_DATABASE)} ALLOW_CONNECTIONS true`);
  await withClient(connectTo(conn, TEMPLATE_DATABASE), (db) => db.query(PROJECT_TEMPLATE_SQL));
  await client.query(`REVOKE ALL ON DATABASE ${ident(TEMPLATE_DATABASE)} FROM PUBLIC`);
  await client.query(`ALTER DATABASE ${ident(TEMPLATE_DATABASE)} ALLOW_CONNECTIONS false`);
  await client.query(`COMMENT ON DATABASE ${ident(TEMPLATE_DATABASE)} IS ${literal(TEMPLATE_MARKER)}`);
}

/** Creates the API roles and the template database on a cluster (idempotent). */
export async function prepareCluster(admin: pg.Pool, conn: ClusterConnection): Promise<void> {
  await withTemplateLock(admin, (client) => ensureTemplate(client, conn));
}

/** The project's owner role (runs the SQL endpoint) and data-API login role, with their passwords. */
export async function createProjectRoles(
  admin: pg.Pool,
  ref: string,
  passwords: { owner: string; authenticator: string },
): Promise<void> {
  const owner = ident(ownerRole(ref));
  const authenticator = ident(authenticatorRole(ref));
  await admin.query(`
DO $$
BEGIN
  BEGIN CREATE ROLE ${owner} LOGIN NOINHERIT; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  BEGIN CREATE ROLE ${authenticator} LOGIN NOINHERIT; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
END
$$;
ALTER ROLE ${owner} LOGIN NOINHERIT PASSWORD ${literal(passwords.owner)};
ALTER ROLE ${authenticator} LOGIN NOINHERIT PASSWORD ${literal(passwords.authenticator)};
GRANT ${API_ROLES} TO ${authenticator};
`);
  // A non-superuser master (RDS) must be a member of the owner to create a database owned by it.
  const { rows } = await admin.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  if (!rows[0]?.rolsuper) await admin.query(`GRANT ${owner} TO CURRENT_USER`);
}

/** Copies the template into `proj_<ref>`, owned by the owner role. Copies are serialised per cluster. */
export async function createProjectDatabase(
  admin: pg.Pool,
  conn: ClusterConnection,
  ref: string,
): Promise<void> {
  await withTemplateLock(admin, async (client) => {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [projectDatabase(ref)]);
    if (exists.rowCount) return;
    await ensureTemplate(client, conn);
    await client.query(
      `CREATE DATABASE ${ident(projectDatabase(ref))} TEMPLATE ${ident(TEMPLATE_DATABASE)} OWNER ${ident(ownerRole(ref))}`,
    );
  });
}

/** CONNECT only for the project's two login roles; public schema and default privileges to the owner. */
export async function configureProjectDatabase(
  admin: pg.Pool,
  conn: ClusterConnection,
  ref: string,
): Promise<void> {
  const db = ident(projectDatabase(ref));
  await admin.query(`
REVOKE ALL ON DATABASE ${db} FROM PUBLIC;
GRANT CONNECT ON DATABASE ${db} TO ${ident(ownerRole(ref))}, ${ident(authenticatorRole(ref))};
ALTER DATABASE ${db} ALLOW_CONNECTIONS true;
`);
  await withClient(connectTo(conn, projectDatabase(ref)), (client) =>
    client.query(projectOwnershipSql(ownerRole(ref))),
  );
}

/** Blocks (pause) or allows (restore) connections to the project database. */
export async function setProjectConnections(admin: pg.Pool, ref: string, allow: boolean): Promise<void> {
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [projectDatabase(ref)]);
  if (!exists.rowCount) return;
  await admin.query(`ALTER DATABASE ${ident(projectDatabase(ref))} ALLOW_CONNECTIONS ${allow}`);
  if (!allow) {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      projectDatabase(ref),
    ]);
  }
}

/** Drops the project database (terminating its sessions) and both login roles. */
export async function dropProjectDatabase(admin: pg.Pool, ref: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${ident(projectDatabase(ref))} WITH (FORCE)`);
  await admin.query(`DROP ROLE IF EXISTS ${ident(ownerRole(ref))}`);
  await admin.query(`DROP ROLE IF EXISTS ${ident(authenticatorRole(ref))}`);
}
