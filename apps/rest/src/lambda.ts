import pg from 'pg';
import { createRestEngine, type RestEngine, type RestEngineOptions } from './engine.js';

/** Lambda Function URL event, payload format 2.0 (the fields the engine needs). */
export interface FunctionUrlEvent {
  readonly rawPath: string;
  readonly rawQueryString?: string;
  readonly headers?: Record<string, string | undefined>;
  readonly cookies?: string[];
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: { readonly http: { readonly method: string } };
}

export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
  cookies?: string[];
}

export interface LambdaHandler {
  (event: FunctionUrlEvent): Promise<FunctionUrlResult>;
  close(): Promise<void>;
}

/** `GET /internal/v1/projects/:ref/rest-config` (docs/contracts.md). */
interface RestConfig {
  readonly db: {
    readonly host: string;
    readonly port: number;
    readonly database: string;
    readonly user: string;
    readonly password: string;
    readonly ssl?: boolean;
  };
  readonly dbSchemas?: string[];
  readonly maxRows?: number;
  readonly statementTimeoutMs?: number;
  readonly jwtSecret?: string;
  readonly jwks?: { keys: unknown[] };
}

interface Runtime {
  readonly engine: RestEngine;
  readonly pool: pg.Pool;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The rest function: configuration is read once per cold start, lazily on the first invocation
 * (from the tenant-manager's internal API, or `REST_*` variables); the pool (max 2) and the schema
 * cache live across invocations.
 */
export function createLambdaHandler(env: Record<string, string | undefined>): LambdaHandler {
  let runtime: Promise<Runtime> | undefined;

  const start = async (): Promise<Runtime> => {
    const ref = env.SUPAPLANE_PROJECT_REF ?? 'local';
    const config = env.SUPAPLANE_CONFIG_URL
      ? fromRestConfig(await fetchConfig(env, ref))
      : configFromEnv(env);
    const pool = new pg.Pool({
      ...config.connection,
      max: Math.min(2, Number(env.REST_POOL_MAX ?? 2) || 2),
      idleTimeoutMillis: 0,
      application_name: `supaplane-rest-${ref}`,
    });
    // An idle client's socket error (e.g. after a long freeze) must not crash the function.
    pool.on('error', () => {});
    const engine = createRestEngine({
      ...config.engine,
      pool,
      // A frozen function cannot hold a LISTEN connection; misses reload the cache instead.
      listenForReload: env.REST_LISTEN_FOR_RELOAD === 'true',
    });
    return { engine, pool };
  };

  const handler = (async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
    let current: Runtime;
    try {
      runtime ??= start();
      current = await runtime;
    } catch (error) {
      runtime = undefined;
      const message = error instanceof ConfigError ? error.message : 'Could not start the data API';
      return {
        statusCode: 503,
        headers: { 'content-type': JSON_TYPE },
        body: JSON.stringify({ code: 'PGRST000', message, details: null, hint: null }),
        isBase64Encoded: false,
      };
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(event.headers ?? {}))
      if (v !== undefined) headers[k.toLowerCase()] = v;
    if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
    const body =
      event.body === undefined
        ? undefined
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    const response = await current.engine.handle({
      method: event.requestContext.http.method,
      path: event.rawPath,
      rawQuery: event.rawQueryString ?? '',
      headers,
      ...(body ? { body } : {}),
    });
    const binary = Buffer.isBuffer(response.body);
    return {
      statusCode: response.status,
      headers: response.headers,
      body: binary ? (response.body as Buffer).toString('base64') : (response.body as string),
      isBase64Encoded: binary,
    };
  }) as LambdaHandler;

  handler.close = async () => {
    const current = runtime;
    runtime = undefined;
    if (!current) return;
    const r = await current.catch(() => undefined);
    await r?.engine.close();
    await r?.pool.end();
  };
  return handler;
}

class ConfigError extends Error {}

async function fetchConfig(env: Record<string, string | undefined>, ref: string): Promise<RestConfig> {
  const base = env.SUPAPLANE_CONFIG_URL!.replace(/\/+$/, '');
  const url = `${base}/internal/v1/projects/${encodeURIComponent(ref)}/rest-config`;
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${env.SUPAPLANE_INTERNAL_TOKEN ?? ''}`, accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
  }).catch(() => {
    throw new ConfigError('Could not reach the configuration service');
  });
  if (!response.ok) throw new ConfigError(`Configuration service answered ${response.status}`);
  return (await response.json()) as RestConfig;
}

interface ResolvedConfig {
  readonly connection: pg.PoolConfig;
  readonly engine: Omit<RestEngineOptions, 'pool'>;
}

function fromRestConfig(config: RestConfig): ResolvedConfig {
  const { db } = config;
  return {
    connection: {
      host: db.host,
      port: db.port,
      database: db.database,
      user: db.user,
      password: db.password,
      ...(db.ssl ? { ssl: { rejectUnauthorized: true } } : {}),
    },
    engine: {
      schemas: config.dbSchemas?.length ? config.dbSchemas : ['public'],
      ...(config.maxRows !== undefined ? { maxRows: config.maxRows } : {}),
      ...(config.statementTimeoutMs !== undefined ? { statementTimeoutMs: config.statementTimeoutMs } : {}),
      ...(config.jwtSecret ? { jwtSecret: config.jwtSecret } : {}),
      ...(config.jwks ? { jwks: config.jwks as RestEngineOptions['jwks'] } : {}),
    },
  };
}

function configFromEnv(env: Record<string, string | undefined>): ResolvedConfig {
  if (!env.REST_DB_URL) throw new ConfigError('REST_DB_URL or SUPAPLANE_CONFIG_URL is required');
  const number = (v: string | undefined) => (v && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const maxRows = number(env.REST_MAX_ROWS);
  const statementTimeoutMs = number(env.REST_STATEMENT_TIMEOUT_MS);
  const schemas = (env.REST_DB_SCHEMAS ?? 'public')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    connection: { connectionString: env.REST_DB_URL },
    engine: {
      schemas: schemas.length ? schemas : ['public'],
      ...(maxRows !== undefined ? { maxRows } : {}),
      ...(statementTimeoutMs !== undefined ? { statementTimeoutMs } : {}),
      ...(env.REST_JWT_SECRET ? { jwtSecret: env.REST_JWT_SECRET } : {}),
    },
  };
}
