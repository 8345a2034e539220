import { readFileSync } from 'node:fs';
import { DEFAULT_ORGANIZATION, type Organization } from './lib/organizations.js';

/**
 * Environment of the tenant-manager, parsed once by {@link loadConfig} at the edge of `main`.
 *
 *   TM_PUBLIC_PORT         operator API port (default 3001)
 *   TM_INTERNAL_PORT       internal API port for the gateway and rest functions (default 3002)
 *   TM_HOST                listen address of both ports (default 127.0.0.1)
 *   DATABASE_URL           management database (required); migrations are applied at start
 *   ADMIN_API_KEY          operator bearer key for /v1/* (required, ≥ 16 chars)
 *   INTERNAL_SERVICE_TOKEN bearer token of the internal API and the Lambda emulator (required, ≥ 16 chars)
 *   MASTER_KEY             base64 of 32 bytes; encrypts every secret at rest (AES-256-GCM)
 *   MASTER_KEY_FILE        file holding that base64 key instead of MASTER_KEY (one of the two is required)
 *   REDIS_URL              optional; when set, invalidations are published on `supaplane:invalidate`
 *   PROVIDER               local | aws (default local)
 *   SUPAPLANE_AWS_PROVIDER_CONFIG  JSON config of the AWS provider (required when PROVIDER=aws)
 *   LAMBDA_EMULATOR_URL    control API of the local Lambda emulator (default http://127.0.0.1:9000)
 *   INTERNAL_BASE_URL      how rest functions reach the internal API (default http://<host>:<internal port>,
 *                          with the port actually bound when TM_INTERNAL_PORT=0)
 *   BASE_DOMAIN            projects answer at https://<ref>.<BASE_DOMAIN> (default localhost)
 *   PUBLIC_URL_TEMPLATE    overrides the project URL; `{ref}` is replaced (e.g. http://{ref}.localhost:8000)
 *   WORKER_CLUSTER_URL     optional postgres:// URL of a worker cluster registered (or updated) as
 *                          WORKER_CLUSTER_NAME (default `local`) at start, capacity WORKER_CLUSTER_CAPACITY
 *                          (default 1000), region WORKER_CLUSTER_REGION (default `local`)
 *   DB_CA_BUNDLE_FILE      optional PEM bundle (e.g. the RDS bundle from certs/fetch-rds-ca.sh) that verifies
 *                          worker clusters registered with ssl and a management DATABASE_URL with
 *                          sslmode=require/verify-full; without it TLS is verified against Node's trust
 *                          store. Verification is never turned off.
 *   SQL_STATEMENT_TIMEOUT_MS   statement timeout of the SQL endpoint (default 8000)
 *   PROVISION_WAIT_MS      how long POST /v1/projects waits for ACTIVE_HEALTHY (default 3000)
 *   PROVISION_CONCURRENCY  provisioning runs per process (default 4)
 *   SPARE_DATABASES        template copies kept ready per active cluster, so a create only renames
 *                          one (default 2; 0 disables)
 *   PROJECT_DB_CONNECTION_LIMIT  connections a new project's database takes (its CONNECTION LIMIT on the
 *                          worker cluster, counting every rest function instance's pool of 2 and the SQL
 *                          endpoint) unless its create says otherwise (default 60; 1–10000)
 *   PROJECT_RATE_LIMIT_RPS requests per second the gateways let through for a new project unless its create
 *                          says otherwise (default: no limit; 1–1000000)
 *   PROJECT_RATE_LIMIT_BURST   burst above that rate (default the rate; at least the rate, at most
 *                          10000000; only with PROJECT_RATE_LIMIT_RPS)
 *   PROJECT_DB_SIZE_LIMIT_MB   database size (MiB) past which a new project's database is made read-only,
 *                          unless its create says otherwise (default: no limit; 1–10000000)
 *   DB_SIZE_CHECK_INTERVAL_MS  time between rounds that compare project databases with their size limit
 *                          (default 60000; 0: no rounds, a limits PATCH still re-checks its project)
 *   ORGANIZATION_SLUG      the platform's one organization, as Supabase's organization routes and
 *                          project objects name it (`id` = `slug`; default `supaplane`): 1 to 64
 *                          lower-case letters, digits or inner hyphens. Keep it stable: clients store it
 *   ORGANIZATION_NAME      its display name (default `Supaplane`; 1 to 256 printable characters)
 *   LOG_LEVEL              pino level (default info)
 */
export interface TenantManagerConfig {
  readonly publicPort: number;
  readonly internalPort: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly adminApiKey: string;
  readonly internalServiceToken: string;
  readonly masterKey: Buffer;
  readonly redisUrl: string | null;
  readonly provider: 'local' | 'aws';
  /** Raw JSON handed to the AWS provider's `createAwsProvider({ awsProviderConfig })`. */
  readonly awsProviderConfig: string | null;
  readonly lambdaEmulatorUrl: string;
  /** Null: derived from the bound internal address at start. */
  readonly internalBaseUrl: string | null;
  readonly baseDomain: string;
  readonly publicUrlTemplate: string;
  readonly workerCluster: {
    readonly url: string;
    readonly name: string;
    readonly capacity: number;
    readonly region: string;
  } | null;
  /** Contents of DB_CA_BUNDLE_FILE. */
  readonly dbCaBundle: string | null;
  readonly sqlStatementTimeoutMs: number;
  readonly provisionWaitMs: number;
  readonly provisionConcurrency: number;
  readonly spareDatabases: number;
  readonly projectDbConnectionLimit: number;
  /** Null: new projects have no request rate limit. */
  readonly projectRateLimit: { readonly requestsPerSecond: number; readonly burst: number } | null;
  /** Null: new projects have no database size limit. */
  readonly projectDbSizeLimitMb: number | null;
  readonly dbSizeCheckIntervalMs: number;
  readonly organization: Organization;
  readonly logLevel: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min = 0, max = 65_535_000): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function required(env: Env, name: string, minLength = 1): string {
  const value = env[name];
  if (!value || value.length < minLength) {
    throw new Error(`${name} is required${minLength > 1 ? ` (at least ${minLength} characters)` : ''}`);
  }
  return value;
}

/** Parses the master key from base64 (standard or url-safe); must decode to 32 bytes. */
function parseMasterKey(encoded: string): Buffer {
  const key = Buffer.from(encoded.trim(), 'base64');
  if (key.length !== 32) throw new Error('MASTER_KEY must be base64 of exactly 32 bytes');
  return key;
}

/** Reads a PEM CA bundle; refuses a file without a certificate (a wrong path must not mean no CA). */
function readCaBundle(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch {
    throw new Error('DB_CA_BUNDLE_FILE cannot be read');
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error('DB_CA_BUNDLE_FILE holds no PEM certificate');
  }
  return pem;
}

function rateLimit(env: Env): TenantManagerConfig['projectRateLimit'] {
  const rps = int(env, 'PROJECT_RATE_LIMIT_RPS', 0, 1, 1_000_000);
  const burst = int(env, 'PROJECT_RATE_LIMIT_BURST', 0, 1, 10_000_000);
  if (rps === 0) {
    if (burst !== 0) throw new Error('PROJECT_RATE_LIMIT_BURST needs PROJECT_RATE_LIMIT_RPS');
    return null;
  }
  if (burst !== 0 && burst < rps) {
    throw new Error('PROJECT_RATE_LIMIT_BURST must be at least PROJECT_RATE_LIMIT_RPS');
  }
  return { requestsPerSecond: rps, burst: burst || rps };
}

const ORGANIZATION_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

function organization(env: Env): Organization {
  const slug = env['ORGANIZATION_SLUG'] || DEFAULT_ORGANIZATION.slug;
  if (!ORGANIZATION_SLUG.test(slug)) {
    throw new Error('ORGANIZATION_SLUG must be 1 to 64 lower-case letters, digits or inner hyphens');
  }
  const name = (env['ORGANIZATION_NAME'] || DEFAULT_ORGANIZATION.name).trim();
  if (name.length === 0 || name.length > 256 || /\p{Cc}/u.test(name)) {
    throw new Error('ORGANIZATION_NAME must be 1 to 256 printable characters');
  }
  return { slug, name };
}

/** Validates the environment once; throws an Error naming the bad variable (never echoing secrets). */
export function loadConfig(env: Env): TenantManagerConfig {
  const publicPort = int(env, 'TM_PUBLIC_PORT', 3001, 0, 65_535);
  const internalPort = int(env, 'TM_INTERNAL_PORT', 3002, 0, 65_535);
  const host = env['TM_HOST'] || '127.0.0.1';
  let masterKey: Buffer;
  if (env['MASTER_KEY']) masterKey = parseMasterKey(env['MASTER_KEY']);
  else if (env['MASTER_KEY_FILE']) masterKey = parseMasterKey(readFileSync(env['MASTER_KEY_FILE'], 'utf8'));
  else throw new Error('MASTER_KEY or MASTER_KEY_FILE is required');
  const provider = env['PROVIDER'] || 'local';
  if (provider !== 'local' && provider !== 'aws') throw new Error('PROVIDER must be local or aws');
  const awsProviderConfig = env['SUPAPLANE_AWS_PROVIDER_CONFIG'] || null;
  if (provider === 'aws' && !awsProviderConfig) {
    throw new Error('SUPAPLANE_AWS_PROVIDER_CONFIG is required when PROVIDER=aws');
  }
  const baseDomain = env['BASE_DOMAIN'] || 'localhost';
  const workerUrl = env['WORKER_CLUSTER_URL'];
  return {
    publicPort,
    internalPort,
    host,
    databaseUrl: required(env, 'DATABASE_URL'),
    adminApiKey: required(env, 'ADMIN_API_KEY', 16),
    internalServiceToken: required(env, 'INTERNAL_SERVICE_TOKEN', 16),
    masterKey,
    redisUrl: env['REDIS_URL'] || null,
    provider,
    awsProviderConfig,
    lambdaEmulatorUrl: env['LAMBDA_EMULATOR_URL'] || 'http://127.0.0.1:9000',
    internalBaseUrl: env['INTERNAL_BASE_URL'] || null,
    baseDomain,
    publicUrlTemplate: env['PUBLIC_URL_TEMPLATE'] || `https://{ref}.${baseDomain}`,
    workerCluster: workerUrl
      ? {
          url: workerUrl,
          name: env['WORKER_CLUSTER_NAME'] || 'local',
          capacity: int(env, 'WORKER_CLUSTER_CAPACITY', 1000, 0),
          region: env['WORKER_CLUSTER_REGION'] || 'local',
        }
      : null,
    dbCaBundle: env['DB_CA_BUNDLE_FILE'] ? readCaBundle(env['DB_CA_BUNDLE_FILE']) : null,
    sqlStatementTimeoutMs: int(env, 'SQL_STATEMENT_TIMEOUT_MS', 8000, 1),
    provisionWaitMs: int(env, 'PROVISION_WAIT_MS', 3000, 0),
    provisionConcurrency: int(env, 'PROVISION_CONCURRENCY', 4, 1, 64),
    spareDatabases: int(env, 'SPARE_DATABASES', 2, 0, 100),
    projectDbConnectionLimit: int(env, 'PROJECT_DB_CONNECTION_LIMIT', 60, 1, 10_000),
    projectRateLimit: rateLimit(env),
    projectDbSizeLimitMb: int(env, 'PROJECT_DB_SIZE_LIMIT_MB', 0, 1, 10_000_000) || null,
    dbSizeCheckIntervalMs: int(env, 'DB_SIZE_CHECK_INTERVAL_MS', 60_000, 0, 86_400_000),
    organization: organization(env),
    logLevel: env['LOG_LEVEL'] || 'info',
  };
}
