import type { Context } from './context.js';
import { authenticatorRole, projectDatabase } from './project-db.js';
import { findProjectRow, type ProjectRow, secretAad } from './projects.js';
import { verificationKeys } from './signing-keys.js';

/** `GET /internal/v1/projects/:ref/config` body (docs/contracts.md). */
interface GatewayProjectConfig {
  ref: string;
  status: string;
  jwtSecret: string;
  jwks: { keys: Record<string, unknown>[] };
  /** HS256 signing keys not revoked, for verifying only: never published (docs/contracts.md). */
  sharedKeys: { kid: string; k: string }[];
  upstreams: {
    rest: { kind: 'lambda-url' | 'http'; url: string; region: string } | null;
    auth: null;
  };
  /** Enforced by the gateways; null when the project has no request rate limit. */
  rateLimit: { requestsPerSecond: number; burst: number } | null;
  version: number;
}

/** `GET /internal/v1/projects/:ref/rest-config` body (docs/contracts.md). */
interface RestConfig {
  ref: string;
  db: { host: string; port: number; database: string; user: string; password: string; ssl: boolean };
  dbSchemas: string[];
  maxRows: number;
  /** PostgREST's `db-aggregates-enabled`. */
  dbAggregatesEnabled: boolean;
  statementTimeoutMs: number;
  jwtSecret: string;
  jwks: { keys: Record<string, unknown>[] };
  sharedKeys: { kid: string; k: string }[];
  /** The project's version, the gateway config's: a function that sees a newer one re-reads this. */
  version: number;
}

const servable = (row: ProjectRow | null): row is ProjectRow => row !== null && row.status !== 'INIT_FAILED';

export async function gatewayProjectConfig(ctx: Context, ref: string): Promise<GatewayProjectConfig | null> {
  const row = await findProjectRow(ctx.db, ref);
  if (!servable(row)) return null;
  const jwtSecret = ctx.box.open(row.jwt_secret_enc, secretAad.jwtSecret(row.id));
  return {
    ref: row.ref,
    status: row.status,
    jwtSecret,
    ...(await verificationKeys(ctx, row.id, jwtSecret)),
    upstreams: {
      rest: row.rest_url
        ? { kind: 'lambda-url', url: row.rest_url, region: row.rest_region ?? 'local' }
        : null,
      auth: null,
    },
    rateLimit:
      row.rate_limit_rps === null
        ? null
        : { requestsPerSecond: row.rate_limit_rps, burst: row.rate_limit_burst ?? row.rate_limit_rps },
    version: row.version,
  };
}

export async function restConfig(ctx: Context, ref: string): Promise<RestConfig | null> {
  const row = await findProjectRow(ctx.db, ref);
  if (!servable(row) || !row.cluster_id) return null;
  const cluster = await ctx.clusters.get(row.cluster_id);
  const jwtSecret = ctx.box.open(row.jwt_secret_enc, secretAad.jwtSecret(row.id));
  return {
    ref: row.ref,
    db: {
      host: cluster.conn.host,
      port: cluster.conn.port,
      database: projectDatabase(ref),
      user: authenticatorRole(ref),
      password: ctx.box.open(row.authenticator_password_enc, secretAad.authenticatorPassword(row.id)),
      ssl: cluster.conn.ssl,
    },
    dbSchemas: row.db_schemas,
    maxRows: row.max_rows,
    dbAggregatesEnabled: row.db_aggregates_enabled,
    statementTimeoutMs: ctx.settings.sqlStatementTimeoutMs,
    jwtSecret,
    ...(await verificationKeys(ctx, row.id, jwtSecret)),
    version: row.version,
  };
}
