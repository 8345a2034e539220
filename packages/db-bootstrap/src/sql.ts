/**
 * SQL that makes a Postgres database look like a Supabase project database to the data API:
 * the API roles, the `auth` helpers that RLS policies call, and a DDL hook that tells the data API
 * to reload its schema cache. Shared by the tenant-manager (which runs it) and the rest engine's
 * tests (which need the same database shape).
 */

/** The cluster-wide NOLOGIN roles the data API switches to. Idempotent; safe to run concurrently. */
export const CLUSTER_ROLES_SQL = `
DO $$
DECLARE r record;
BEGIN
  BEGIN CREATE ROLE anon NOLOGIN NOINHERIT; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  BEGIN CREATE ROLE authenticated NOLOGIN NOINHERIT; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  BEGIN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
  -- Hosted Supabase's statement timeouts, which the data API applies per request (as PostgREST does
  -- the impersonated role's settings); a cluster-wide timeout an operator already set is kept.
  FOR r IN SELECT * FROM (VALUES ('anon', '3s'), ('authenticated', '8s')) AS v(role, timeout) LOOP
    IF NOT EXISTS (SELECT FROM pg_db_role_setting WHERE setrole = r.role::regrole AND setdatabase = 0
        AND setconfig::text ~ '[{,]"?statement_timeout=') THEN
      BEGIN
        EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', r.role, r.timeout);
      EXCEPTION WHEN unique_violation THEN NULL; -- a concurrent run set it
      END;
    END IF;
  END LOOP;
END
$$;
`;

/** The channel and payload the data API listens for (PostgREST's convention). */
const SCHEMA_RELOAD_CHANNEL = 'pgrst';
const SCHEMA_RELOAD_PAYLOAD = 'reload schema';

/**
 * Objects every project database starts with; run once in the template database as the cluster
 * master. Idempotent.
 */
export const PROJECT_TEMPLATE_SQL = `
CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), auth.jwt() ->> 'sub'), '')::uuid
$$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), auth.jwt() ->> 'role')
$$;
CREATE OR REPLACE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''), auth.jwt() ->> 'email')
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO anon, authenticated, service_role;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

CREATE SCHEMA IF NOT EXISTS supaplane;
REVOKE ALL ON SCHEMA supaplane FROM PUBLIC;
CREATE OR REPLACE FUNCTION supaplane.notify_schema_reload() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  NOTIFY ${SCHEMA_RELOAD_CHANNEL}, '${SCHEMA_RELOAD_PAYLOAD}';
END
$$;
DROP EVENT TRIGGER IF EXISTS supaplane_reload_on_ddl;
CREATE EVENT TRIGGER supaplane_reload_on_ddl ON ddl_command_end
  EXECUTE FUNCTION supaplane.notify_schema_reload();
DROP EVENT TRIGGER IF EXISTS supaplane_reload_on_drop;
CREATE EVENT TRIGGER supaplane_reload_on_drop ON sql_drop
  EXECUTE FUNCTION supaplane.notify_schema_reload();
`;

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Hands a freshly created project database to its owner role and sets the default privileges that
 * make tables created by the owner reachable by the API roles (subject to RLS), as on Supabase.
 * Run as the cluster master inside the project database.
 */
export function projectOwnershipSql(ownerRole: string): string {
  const owner = ident(ownerRole);
  return `
ALTER SCHEMA public OWNER TO ${owner};
GRANT USAGE ON SCHEMA auth TO ${owner};
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO anon, authenticated, service_role;
`;
}
