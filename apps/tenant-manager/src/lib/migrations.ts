import type pg from 'pg';

/**
 * Versioned migrations of the management database. Append only: never edit a released entry.
 * Everything lives in schema `tm` so the management database can be shared with other tools.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'clusters, projects, keys, secrets, signing keys',
    sql: `
CREATE TABLE tm.clusters (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  host text NOT NULL,
  port int NOT NULL,
  admin_user text NOT NULL,
  admin_password_enc text NOT NULL,
  admin_database text NOT NULL DEFAULT 'postgres',
  ssl boolean NOT NULL DEFAULT false,
  capacity int NOT NULL CHECK (capacity >= 0),
  weight int NOT NULL DEFAULT 100 CHECK (weight > 0),
  region text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'draining', 'offline')),
  external_id text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE tm.projects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  ref text NOT NULL,
  name text NOT NULL,
  status text NOT NULL,
  step text NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  last_error text,
  requested_cluster_id uuid REFERENCES tm.clusters(id),
  requested_region text,
  cluster_id uuid REFERENCES tm.clusters(id),
  region text,
  owner_password_enc text NOT NULL,
  authenticator_password_enc text NOT NULL,
  jwt_secret_enc text NOT NULL,
  db_schemas text[] NOT NULL DEFAULT '{public}',
  max_rows int NOT NULL DEFAULT 1000,
  rest_url text,
  rest_region text,
  version int NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- A ref is unique among live projects; a removed ref may be reused.
CREATE UNIQUE INDEX projects_live_ref ON tm.projects (ref) WHERE status <> 'REMOVED';
CREATE INDEX projects_cluster ON tm.projects (cluster_id) WHERE status NOT IN ('REMOVED', 'INIT_FAILED');
CREATE INDEX projects_unfinished ON tm.projects (created_at) WHERE status IN ('COMING_UP', 'GOING_DOWN');

CREATE TABLE tm.api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES tm.projects(id) ON DELETE CASCADE,
  name text NOT NULL,
  description text,
  type text NOT NULL CHECK (type IN ('publishable', 'secret')),
  hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  key_enc text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'revoked')),
  inserted_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX api_keys_live_name ON tm.api_keys (project_id, type, name) WHERE status = 'active';

CREATE TABLE tm.project_secrets (
  project_id uuid NOT NULL REFERENCES tm.projects(id) ON DELETE CASCADE,
  name text NOT NULL,
  value_enc text NOT NULL,
  digest text NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (project_id, name)
);

CREATE TABLE tm.signing_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id uuid NOT NULL REFERENCES tm.projects(id) ON DELETE CASCADE,
  algorithm text NOT NULL,
  status text NOT NULL CHECK (status IN ('in_use', 'standby', 'previously_used', 'revoked')),
  public_jwk jsonb NOT NULL,
  private_jwk_enc text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX signing_keys_one_in_use ON tm.signing_keys (project_id) WHERE status = 'in_use';
`,
  },
  {
    version: 2,
    name: 'clusters: deleting (provider-created clusters deleted after deregistration)',
    sql: `
ALTER TABLE tm.clusters DROP CONSTRAINT clusters_status_check;
ALTER TABLE tm.clusters ADD CONSTRAINT clusters_status_check
  CHECK (status IN ('active', 'draining', 'offline', 'deleting'));
ALTER TABLE tm.clusters ADD COLUMN last_error text;
`,
  },
  {
    version: 3,
    name: 'projects: per-project limits (database connections, request rate)',
    // Existing projects record the documented default; it reaches their database on the cluster at
    // the next start (reconcileRestFunctions), restore or limits PATCH.
    sql: `
ALTER TABLE tm.projects
  ADD COLUMN db_connection_limit int NOT NULL DEFAULT 60 CHECK (db_connection_limit BETWEEN 1 AND 10000),
  ADD COLUMN rate_limit_rps int CHECK (rate_limit_rps BETWEEN 1 AND 1000000),
  ADD COLUMN rate_limit_burst int CHECK (rate_limit_burst <= 10000000),
  ADD CONSTRAINT projects_rate_limit_check CHECK (
    (rate_limit_rps IS NULL) = (rate_limit_burst IS NULL)
    AND (rate_limit_rps IS NULL OR rate_limit_burst >= rate_limit_rps));
ALTER TABLE tm.projects ALTER COLUMN db_connection_limit DROP DEFAULT;
`,
  },
  {
    version: 4,
    name: 'projects: database size limit, and whether the platform made the database read-only for it',
    sql: `
ALTER TABLE tm.projects
  ADD COLUMN db_size_limit_mb int CHECK (db_size_limit_mb BETWEEN 1 AND 10000000),
  ADD COLUMN db_read_only boolean NOT NULL DEFAULT false;
`,
  },
  {
    version: 5,
    name: 'projects: when the platform made the database read-only',
    // Sessions of the project's roles older than this may still carry the writable default: each
    // round ends them (again), so a session-ending that failed once is retried.
    sql: `
ALTER TABLE tm.projects ADD COLUMN db_read_only_since timestamptz;
UPDATE tm.projects SET db_read_only_since = updated_at WHERE db_read_only;
`,
  },
  {
    version: 6,
    name: 'projects: data-API aggregates switch, max rows bounded',
    sql: `
ALTER TABLE tm.projects
  ADD COLUMN db_aggregates_enabled boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT projects_max_rows_check CHECK (max_rows BETWEEN 1 AND 1000000);
`,
  },
  {
    version: 7,
    name: 'projects: a removed project keeps its row, not its sealed secrets',
    // The row stays as the record of what existed (ref, name, when); its JWT secret and database
    // passwords would still open with the master key, so a removed row has none, and only a removed one.
    sql: `
ALTER TABLE tm.projects
  ALTER COLUMN owner_password_enc DROP NOT NULL,
  ALTER COLUMN authenticator_password_enc DROP NOT NULL,
  ALTER COLUMN jwt_secret_enc DROP NOT NULL;
UPDATE tm.projects SET owner_password_enc = NULL, authenticator_password_enc = NULL, jwt_secret_enc = NULL
  WHERE status = 'REMOVED';
ALTER TABLE tm.projects ADD CONSTRAINT projects_secrets_check CHECK (
  status = 'REMOVED'
  OR (owner_password_enc IS NOT NULL AND authenticator_password_enc IS NOT NULL AND jwt_secret_enc IS NOT NULL));
`,
  },
  {
    version: 8,
    name: "projects: a stable integer id (Supabase's V1ProjectRefResponse); clusters: the server version last read",
    // An identity column numbers the existing rows when it is added and every new row after: a
    // sequence never hands out a number twice, and removed projects keep their rows (and numbers).
    sql: `
ALTER TABLE tm.projects ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE tm.projects ADD CONSTRAINT projects_number_key UNIQUE (number);
ALTER TABLE tm.clusters ADD COLUMN server_version text;
`,
  },
  {
    version: 9,
    name: 'signing keys: RS256, EdDSA and HS256 (no public half), the JWT secret as the legacy key',
    sql: `
ALTER TABLE tm.signing_keys ALTER COLUMN public_jwk DROP NOT NULL;
ALTER TABLE tm.signing_keys ADD COLUMN legacy boolean NOT NULL DEFAULT false;
ALTER TABLE tm.signing_keys ADD CONSTRAINT signing_keys_public_check
  CHECK (algorithm IN ('ES256', 'RS256', 'EdDSA', 'HS256') AND (algorithm = 'HS256') = (public_jwk IS NULL));
CREATE UNIQUE INDEX signing_keys_one_legacy ON tm.signing_keys (project_id) WHERE legacy;
`,
  },
];

const MIGRATION_LOCK = 'SELECT pg_advisory_lock(hashtext($1))';
const MIGRATION_UNLOCK = 'SELECT pg_advisory_unlock(hashtext($1))';
const LOCK_NAME = 'supaplane.tenant-manager.migrations';

/** Applies pending migrations; replicas starting together serialise on an advisory lock. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query(MIGRATION_LOCK, [LOCK_NAME]);
    await client.query('CREATE SCHEMA IF NOT EXISTS tm');
    // In local mode the management database shares a cluster with project databases, whose login
    // roles may connect to their own database only.
    await client.query(`
DO $$
BEGIN
  EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'management database: could not revoke CONNECT from PUBLIC';
END
$$`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS tm.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM tm.schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO tm.schema_migrations (version, name) VALUES ($1, $2)', [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
      applied.push(migration.version);
    }
  } finally {
    await client.query(MIGRATION_UNLOCK, [LOCK_NAME]).catch(() => {});
    client.release();
  }
  return applied;
}
