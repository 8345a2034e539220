import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { CLUSTER_ROLES_SQL, PROJECT_TEMPLATE_SQL, projectOwnershipSql } from '@supaplane/db-bootstrap';
import { WorkerClusterClient } from './cluster-pools.js';
import { pgSsl } from './tls.js';
import { inTransaction } from './transaction.js';

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
  /** PEM CA bundle that verifies the cluster's certificate (DB_CA_BUNDLE_FILE); Node's trust store without. */
  readonly ca?: string;
}

const TEMPLATE_DATABASE = 'supaplane_template';
/** Bumped whenever the template's content changes; stored as the template database's comment. */
const TEMPLATE_MARKER = 'supaplane template v1';
const API_ROLES = 'anon, authenticated, service_role';

/**
 * Spare databases: copies of the template made ahead of time, so a new project only renames one
 * (CREATE DATABASE costs hundreds of ms; a rename under a millisecond). Only spares carrying the
 * current template marker are claimed.
 */
const SPARE_PREFIX = 'supaplane_spare_';
const SPARE_LIKE = 'supaplane\\_spare\\_%';

export const projectDatabase = (ref: string) => `proj_${ref}`;
export const ownerRole = (ref: string) => `owner_${ref}`;
export const authenticatorRole = (ref: string) => `authenticator_${ref}`;

export const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

export function connectTo(conn: ClusterConnection, database: string, options: Partial<pg.ClientConfig> = {}) {
  return new WorkerClusterClient({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database,
    ssl: pgSsl(conn.ssl, conn.ca),
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
  // Always: a cluster prepared by an older version gets the API roles' current shape (their
  // statement timeouts) at its next project creation or spare refill, not only a new cluster.
  await client.query(CLUSTER_ROLES_SQL);
  if (rows[0]?.marker === TEMPLATE_MARKER) return;
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

/**
 * The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn makes it). `ALTER ROLE … PASSWORD '<verifier>'` sets the password without the
 * plaintext ever reaching the server, whose logs record DDL (log_statement=ddl, pgaudit) and every
 * failing statement in full. Our passwords are ASCII (base64url), so SASLprep leaves them as they are.
 */
function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
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
ALTER ROLE ${owner} LOGIN NOINHERIT PASSWORD ${literal(scramVerifier(passwords.owner))};
ALTER ROLE ${authenticator} LOGIN NOINHERIT PASSWORD ${literal(scramVerifier(passwords.authenticator))};
GRANT ${API_ROLES} TO ${authenticator};
`);
  // A non-superuser master (RDS) must be a member of the owner to create a database owned by it.
  const { rows } = await admin.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  if (!rows[0]?.rolsuper) await admin.query(`GRANT ${owner} TO CURRENT_USER`);
}

/**
 * Sets the project owner role's password (direct connections, the SQL endpoint) as a SCRAM verifier
 * made here, as createProjectRoles does: the password itself never reaches the cluster or its logs.
 */
export async function setOwnerPassword(
  admin: Pick<pg.Pool, 'query'>,
  ref: string,
  password: string,
): Promise<void> {
  await admin.query(`ALTER ROLE ${ident(ownerRole(ref))} PASSWORD ${literal(scramVerifier(password))}`);
}

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

const databaseExists = async (db: Queryable, name: string) =>
  ((await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;

/** Renames a ready spare to `proj_<ref>`; false when none is left. Concurrent claims never share one. */
async function claimSpare(db: Queryable, ref: string): Promise<boolean> {
  const { rows } = await db.query<{ datname: string }>(
    `SELECT datname FROM pg_database
     WHERE datname LIKE '${SPARE_LIKE}' AND shobj_description(oid, 'pg_database') = $1 ORDER BY datname`,
    [TEMPLATE_MARKER],
  );
  for (const { datname } of rows) {
    try {
      await db.query(`ALTER DATABASE ${ident(datname)} RENAME TO ${ident(projectDatabase(ref))}`);
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '3D000' || code === '55006') continue; // claimed by someone else meanwhile
      throw error;
    }
  }
  return false;
}

/**
 * Makes `proj_<ref>` from the template, owned by the owner role and capped at `connectionLimit`
 * connections: a spare is renamed when one is ready, otherwise the template is copied (copies are
 * serialised per cluster).
 */
export async function createProjectDatabase(
  admin: pg.Pool,
  conn: ClusterConnection,
  ref: string,
  connectionLimit: number,
): Promise<void> {
  const name = projectDatabase(ref);
  if (!(await databaseExists(admin, name)) && !(await claimSpare(admin, ref))) {
    await withTemplateLock(admin, async (client) => {
      if ((await databaseExists(client, name)) || (await claimSpare(client, ref))) return;
      await ensureTemplate(client, conn);
      // A new database grants CONNECT to PUBLIC (privileges do not come from the template): closed
      // until configure_database has left CONNECT to the project's own roles, or another project's
      // role could open a session now and keep it past that REVOKE.
      await client.query(
        `CREATE DATABASE ${ident(name)} TEMPLATE ${ident(TEMPLATE_DATABASE)} ALLOW_CONNECTIONS false`,
      );
    });
  }
  // Also on a re-run: a crash may have come between the rename and these statements.
  await admin.query(`ALTER DATABASE ${ident(name)} OWNER TO ${ident(ownerRole(ref))}`);
  await setProjectConnectionLimit(admin, ref, connectionLimit);
}

/**
 * `CONNECTION LIMIT` of the project database and of each of its two login roles (idempotent: nothing
 * to do when all three are set, or the database does not exist).
 * Postgres counts every connection to the database but refuses only non-superusers past it: the
 * project's owner and authenticator roles (and a non-superuser master such as RDS's). Independent
 * of their LOGIN, so a paused project keeps its limit and setting it does not reopen one. The owner owns its database and may
 * change the database's own limit (`ALTER DATABASE … CONNECTION LIMIT -1`), never its roles': they
 * keep the project at `limit` connections per role whatever it does.
 */
export async function setProjectConnectionLimit(admin: pg.Pool, ref: string, limit: number): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`invalid connection limit ${limit}`);
  const { rows } = await admin.query<{ name: string; connlimit: number; role: boolean }>(
    `SELECT datname AS name, datconnlimit AS connlimit, false AS role FROM pg_database WHERE datname = $1
     UNION ALL SELECT rolname, rolconnlimit, true FROM pg_roles WHERE rolname = ANY ($2::text[])`,
    [projectDatabase(ref), [ownerRole(ref), authenticatorRole(ref)]],
  );
  if (!rows.some((r) => !r.role)) return;
  for (const { name, role } of rows.filter((r) => r.connlimit !== limit)) {
    await admin.query(`ALTER ${role ? 'ROLE' : 'DATABASE'} ${ident(name)} CONNECTION LIMIT ${limit}`);
  }
}

/**
 * Tops the cluster's spare databases up to `target`, one copy per template-lock hold so project
 * creations waiting for the lock get in between. Unmarked spares are leftovers of a crash: dropped.
 */
export async function refillSpares(
  admin: pg.Pool,
  conn: ClusterConnection,
  target: number,
  stopped: () => boolean,
): Promise<number> {
  let created = 0;
  while (!stopped()) {
    const more = await withTemplateLock(admin, async (client) => {
      await ensureTemplate(client, conn);
      const { rows } = await client.query<{ datname: string; ready: boolean }>(
        `SELECT datname, shobj_description(oid, 'pg_database') IS NOT DISTINCT FROM $1 AS ready
         FROM pg_database WHERE datname LIKE '${SPARE_LIKE}'`,
        [TEMPLATE_MARKER],
      );
      for (const stale of rows.filter((r) => !r.ready)) {
        await client.query(`DROP DATABASE IF EXISTS ${ident(stale.datname)} WITH (FORCE)`);
      }
      if (rows.filter((r) => r.ready).length >= target) return false;
      const spare = `${SPARE_PREFIX}${randomBytes(6).toString('hex')}`;
      // Closed from the start, as a project's own copy: a login role that got in before the REVOKE
      // would keep its session in whichever project's database this spare becomes.
      await client.query(
        `CREATE DATABASE ${ident(spare)} TEMPLATE ${ident(TEMPLATE_DATABASE)} ALLOW_CONNECTIONS false`,
      );
      await client.query(`REVOKE ALL ON DATABASE ${ident(spare)} FROM PUBLIC`);
      await client.query(`COMMENT ON DATABASE ${ident(spare)} IS ${literal(TEMPLATE_MARKER)}`);
      return true;
    });
    if (!more) break;
    created++;
  }
  return created;
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

/**
 * Pause (`allow` false) or restore (true) on the cluster. A paused project's two login roles are
 * NOLOGIN, which neither can undo (only a CREATEROLE role with ADMIN OPTION on them may alter them:
 * the admin), and their sessions are ended in every database, not only theirs. The database itself
 * stays open to the admin: another project's delete must still revoke there what this project's
 * owner granted the deleted roles (see {@link dropProjectDatabase}); a database `CONNECTION LIMIT 0`
 * would bind a non-superuser master (RDS) too. A project paused by an older version has its database
 * closed (`ALLOW_CONNECTIONS false`) and its roles able to log in: the restore reopens it all the same.
 * `closedOnly`: pause only if its database is closed (an older version's pause, or its owner's doing).
 */
export async function setProjectConnections(
  admin: pg.Pool,
  ref: string,
  allow: boolean,
  closedOnly = false,
): Promise<void> {
  if (!(await setProjectLogins(admin, ref, allow, closedOnly)) || allow) return;
  await endProjectSessions(admin, ref, { anyDatabase: true });
}

/**
 * Sets LOGIN or NOLOGIN on the project's two login roles and opens its database if it is closed, in
 * one transaction under a cluster-side lock per project, so that a pause or restore and another
 * project's delete reopening a database an older version's pause closed never interleave (the
 * restore's LOGIN undone by the delete's NOLOGIN). With `closedOnly`, an open database is left as it
 * is. Whether anything was done (nothing when the database does not exist).
 */
async function setProjectLogins(admin: pg.Pool, ref: string, login: boolean, closedOnly: boolean) {
  const client = await admin.connect();
  try {
    return await inTransaction(client, async () => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('supaplane.logins'), hashtext($1))`, [ref]);
      const { rows } = await client.query<{ open: boolean }>(
        'SELECT datallowconn AS open FROM pg_database WHERE datname = $1',
        [projectDatabase(ref)],
      );
      const open = rows[0]?.open;
      if (open === undefined || (closedOnly && open)) return false;
      const { rows: roles } = await client.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE rolname = ANY ($1::text[])',
        [[ownerRole(ref), authenticatorRole(ref)]],
      );
      for (const { rolname } of roles) {
        await client.query(`ALTER ROLE ${ident(rolname)} ${login ? 'LOGIN' : 'NOLOGIN'}`);
      }
      if (!open) await client.query(`ALTER DATABASE ${ident(projectDatabase(ref))} ALLOW_CONNECTIONS true`);
      return true;
    });
  } finally {
    client.release();
  }
}

/** Size of a project database now, and whether its default transaction is read-only. */
export interface ProjectDatabaseSize {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
}

/**
 * Sizes of the given projects' databases in one query (those that do not exist are left out), and
 * whether each has `default_transaction_read_only = on` as a database setting.
 */
export async function projectDatabaseSizes(
  admin: Queryable,
  refs: readonly string[],
): Promise<Map<string, ProjectDatabaseSize>> {
  const { rows } = await admin.query<{ datname: string; size_bytes: string; read_only: boolean }>(
    `SELECT d.datname, pg_database_size(d.oid) AS size_bytes,
       EXISTS (SELECT 1 FROM pg_db_role_setting s
               WHERE s.setdatabase = d.oid AND s.setrole = 0
                 AND 'default_transaction_read_only=on' = ANY (s.setconfig)) AS read_only
     FROM pg_database d WHERE d.datname = ANY ($1)`,
    [refs.map(projectDatabase)],
  );
  const byName = new Map(rows.map((r) => [r.datname, r]));
  const sizes = new Map<string, ProjectDatabaseSize>();
  for (const ref of refs) {
    const row = byName.get(projectDatabase(ref));
    if (row) sizes.set(ref, { sizeBytes: Number(row.size_bytes), readOnly: row.read_only });
  }
  return sizes;
}

/**
 * Makes every new transaction in the project database read-only (`default_transaction_read_only`),
 * or lifts that, then ends the sessions of the project's own login roles there: pooled connections
 * (the rest function's, the SQL endpoint's) took the old default when they started and take the new
 * one when they reconnect. Nobody else's: not the platform's own sessions, and not autovacuum's, which
 * a non-superuser master (RDS) may not end — trying fails the whole statement, so no session would be
 * ended. A session may still `SET default_transaction_read_only = off` for itself: this stops the data
 * API's writes, not the owner.
 */
export async function setProjectReadOnly(admin: Queryable, ref: string, readOnly: boolean): Promise<void> {
  const db = ident(projectDatabase(ref));
  await admin.query(
    readOnly
      ? `ALTER DATABASE ${db} SET default_transaction_read_only = on`
      : `ALTER DATABASE ${db} RESET default_transaction_read_only`,
  );
  await endProjectSessions(admin, ref);
}

/**
 * Ends the sessions of the project's own login roles on its database, so that they reconnect and
 * take the database's current defaults: only those started before `startedBefore` when given; in
 * every database with `anyDatabase` (a pause: another project's owner may have let them in).
 */
export async function endProjectSessions(
  admin: Queryable,
  ref: string,
  options: { readonly startedBefore?: Date; readonly anyDatabase?: boolean } = {},
): Promise<void> {
  await admin.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE ($1::text IS NULL OR datname = $1) AND usename::text = ANY ($2::text[]) AND pid <> pg_backend_pid()
       AND ($3::timestamptz IS NULL OR backend_start < $3)`,
    [
      options.anyDatabase ? null : projectDatabase(ref),
      [ownerRole(ref), authenticatorRole(ref)],
      options.startedBefore ?? null,
    ],
  );
}

/**
 * Startup settings of the admin's sessions in a database a project owns. They win over those its
 * owner gave the database (`ALTER DATABASE … SET`), which apply to every session there: a role to
 * become, a library to load (an error at connect), read-only transactions, a timeout of 1 ms, a
 * search path of its own schemas. Any of them would fail the statement, or make it run as the owner.
 */
const OVER_OWNER_SETTINGS = [
  'role=none',
  'local_preload_libraries=',
  'search_path=pg_catalog',
  'default_transaction_read_only=off',
  'statement_timeout=60s',
  'lock_timeout=10s',
]
  .map((setting) => `-c ${setting}`)
  .join(' ');

/**
 * Drops the project database (terminating its sessions) and both login roles. What other databases
 * hold for those roles goes first: another project's owner may grant them privileges or default
 * privileges in its own database (role names are visible to every login), which Postgres records
 * against the roles and which would otherwise refuse their DROP ROLE, leaving this delete stuck for
 * good. `DROP OWNED BY` in each such database revokes them (the roles can own nothing there: they
 * cannot connect to it, and no one can give them ownership who is not one of them). Those sessions
 * are the admin's in databases other projects own: see {@link OVER_OWNER_SETTINGS}. A paused project's
 * database is open to them (see {@link setProjectConnections}); one an older version's pause closed,
 * or its owner did, is paused as now first (its roles NOLOGIN, the database open), or this delete
 * could not finish before that project is restored or deleted.
 */
export async function dropProjectDatabase(
  admin: pg.Pool,
  conn: ClusterConnection,
  ref: string,
): Promise<void> {
  // Its owner may have made it a template, which DROP DATABASE refuses.
  const { rows: templates } = await admin.query(
    'SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate',
    [projectDatabase(ref)],
  );
  if (templates.length > 0) {
    await admin.query(`ALTER DATABASE ${ident(projectDatabase(ref))} IS_TEMPLATE false`);
  }
  await admin.query(`DROP DATABASE IF EXISTS ${ident(projectDatabase(ref))} WITH (FORCE)`);
  const roles = [ownerRole(ref), authenticatorRole(ref)];
  const { rows } = await admin.query<{ datname: string; open: boolean }>(
    // dbid 0: a shared object (a database's own ACL), whose grants DROP OWNED revokes from anywhere.
    `SELECT DISTINCT coalesce(d.datname, current_database()) AS datname, coalesce(d.datallowconn, true) AS open
     FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
     WHERE s.refclassid = 'pg_authid'::regclass
       AND s.refobjid IN (SELECT oid FROM pg_roles WHERE rolname = ANY ($1::text[]))`,
    [roles],
  );
  const existing = (
    await admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY ($1::text[])', [
      roles,
    ])
  ).rows.map((r) => ident(r.rolname));
  const prefix = projectDatabase('');
  for (const { datname, open } of rows) {
    // Closed by an older version's pause (or by its owner): paused as now instead, its roles kept
    // out, so that the admin may get in.
    if (!open && datname.startsWith(prefix)) {
      await setProjectConnections(admin, datname.slice(prefix.length), false, true);
    }
    await withClient(connectTo(conn, datname, { options: OVER_OWNER_SETTINGS }), (client) =>
      client.query(`DROP OWNED BY ${existing.join(', ')}`),
    );
  }
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`);
}
