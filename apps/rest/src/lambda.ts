import { createRequire } from 'node:module';
import pg from 'pg';
import { parseSharedKeys } from '@supaplane/jwt';
import { createRestEngine, type RestEngine, type RestEngineOptions } from './engine.js';
import { isPgError } from './errors.js';

/**
 * node:http and node:https are required when used, not imported: an import reads every export, and
 * on Node 22 three of node:http's (WebSocket, CloseEvent, MessageEvent) load undici, ~40 ms of
 * every cold start; node:https (TLS) is only needed for an https config URL.
 */
const requireBuiltin = createRequire(import.meta.url);

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
  readonly dbAggregatesEnabled?: boolean;
  readonly statementTimeoutMs?: number;
  readonly jwtSecret?: string;
  readonly jwks?: { keys: unknown[] };
  /** HS256 signing keys `{kid, k}`, for verifying only (absent from an older tenant-manager). */
  readonly sharedKeys?: unknown;
  /** The project's config version, the one the gateway sends in {@link CONFIG_VERSION_HEADER}. */
  readonly version?: number;
}

interface Runtime {
  readonly engine: RestEngine;
  readonly pool: pg.Pool;
  readonly config: ResolvedConfig;
  /** When its configuration was last read (or a re-read was attempted), `now()` ms. */
  fetchedAt: number;
  /** The project's config version it was last read at (a re-read that changed nothing raises it). */
  version: number | undefined;
  /**
   * The highest version a finished re-read was asked for and did not get (the config service was down
   * or behind): requests under it are served at once from then on, and the re-read goes on behind them.
   */
  missed?: number;
}

export interface LambdaHandlerOptions {
  /** Milliseconds clock (default `Date.now`); tests move it. */
  readonly now?: () => number;
  /**
   * Called with each 5xx failure. Default: {@link logFailure}.
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * SQLSTATEs of a 5xx the request's own SQL caused, not the function: its statement timeout, a
 * subquery returning more than one row, a function raising one on purpose (`RAISE SQLSTATE 'PGRST'`).
 */
const QUERY_CAUSED = new Set(['57014', '21000', 'PGRST']);

/**
 * The default `onError`: one JSON line on stderr with the error's code and message (never the
 * request, its token or the configuration). A failure the query caused is a warning; anything else
 * (the database unreachable, a bug) is an error.
 */
export function logFailure(error: unknown): void {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const caused = isPgError(error) && QUERY_CAUSED.has(error.code);
  const line = JSON.stringify({
    level: caused ? 'warn' : 'error',
    msg: caused ? 'rest: query failed' : 'rest: unexpected failure',
    code: code ?? null,
    error: String(message ?? error),
  });
  if (caused) console.warn(line);
  else console.error(line);
}

/**
 * At most one config read per this long per instance, however many refused tokens arrive. A token
 * refused by a younger config waits until it is this old and is then verified on a fresh read: only
 * the gateway reaches the function, and it has minted or verified every token with its own copy of
 * the secret, so a refusal here means one of the two copies is stale (a JWT secret rotated in
 * between), and refusing would turn a rotation into a second of failed requests with valid keys.
 */
const CONFIG_REFRESH_MIN_AGE_MS = 1_000;

/**
 * The version of the project's config the gateway forwarded the request under (docs/contracts.md):
 * newer than the function's own, it is re-read before the request is served, under the same
 * single-flight, once-a-second rule. Missing or malformed, it changes nothing.
 */
const CONFIG_VERSION_HEADER = 'x-supaplane-config-version';
const VERSION = /^[0-9]{1,15}$/;

const JSON_TYPE = 'application/json; charset=utf-8';
/**
 * The most a buffered Function URL takes back from a function: the result's JSON, headers and
 * (base64) body included. Past it Lambda discards the answer and the URL says only 502.
 */
const MAX_RESULT_BYTES = 6 * 1024 * 1024;

/** The result, or a JSON 500 saying why when Lambda would refuse it for its size. */
function fitted(result: FunctionUrlResult): FunctionUrlResult {
  // Escaping grows a body at most sixfold (\u0000), so only a large one needs measuring.
  if (result.body.length * 6 < MAX_RESULT_BYTES - 64 * 1024) return result;
  if (Buffer.byteLength(JSON.stringify(result)) <= MAX_RESULT_BYTES) return result;
  return {
    statusCode: 500,
    headers: { 'content-type': JSON_TYPE },
    body: JSON.stringify({
      code: 'PGRSTX00',
      message: 'The response is too large for the data API (over 6 MB)',
      details: null,
      hint: 'Ask for fewer rows (limit, offset or Range) or fewer columns (select)',
    }),
    isBase64Encoded: false,
  };
}

/**
 * The rest function: configuration is read once per cold start, lazily on the first invocation
 * (from the tenant-manager's internal API, or `REST_*` variables); the pool (max 2) and the schema
 * cache live across invocations. With the internal API, the config is re-read (once at a time, and
 * not before it is 1 s old) when a request comes with a newer {@link CONFIG_VERSION_HEADER} than the
 * config's (the operator changed the data-API settings or the JWT secret: that request is served with
 * the new ones), and when a token is refused with PGRST301 (the project's JWT secret may have been
 * rotated: if the config changed, that request is verified once more).
 */
export function createLambdaHandler(
  env: Record<string, string | undefined>,
  options: LambdaHandlerOptions = {},
): LambdaHandler {
  const now = options.now ?? Date.now;
  const ref = env.SUPAPLANE_PROJECT_REF ?? 'local';
  let runtime: Promise<Runtime> | undefined;
  let refreshing: Promise<Runtime> | undefined;
  const checkSetting = env.REST_SCHEMA_CHECK_INTERVAL_MS;
  const schemaCheckIntervalMs = checkSetting && Number(checkSetting) >= 0 ? Number(checkSetting) : undefined;

  const newPool = (config: ResolvedConfig) => {
    const pool = new pg.Pool({
      ...config.connection,
      max: Math.min(2, Number(env.REST_POOL_MAX ?? 2) || 2),
      idleTimeoutMillis: 0,
      application_name: `supaplane-rest-${ref}`,
    });
    // An idle client's socket error (e.g. after a long freeze) must not crash the function.
    pool.on('error', () => {});
    return pool;
  };

  const build = (config: ResolvedConfig, pool: pg.Pool): Runtime => ({
    engine: createRestEngine({
      ...config.engine,
      pool,
      // A frozen function cannot hold a LISTEN connection; misses reload the cache instead, and
      // the first request after REST_SCHEMA_CHECK_INTERVAL_MS (default 3 s) compares the catalogs.
      listenForReload: env.REST_LISTEN_FOR_RELOAD === 'true',
      onError: options.onError ?? logFailure,
      ...(schemaCheckIntervalMs !== undefined ? { schemaCheckIntervalMs } : {}),
    }),
    pool,
    config,
    fetchedAt: now(),
    version: config.version,
  });

  const start = async (): Promise<Runtime> => {
    const config = env.SUPAPLANE_CONFIG_URL
      ? fromRestConfig(await fetchConfig(env, ref))
      : configFromEnv(env);
    return build(config, newPool(config));
  };

  /**
   * Single-flight re-read of rest-config, `afterMs` from now (every refused request meanwhile joins
   * the same wait and read). Resolves to the runtime to use from now on: `stale` itself when nothing
   * changed or the re-read failed (its age is reset either way, so refused tokens cannot turn into a
   * flood of config reads), else a new engine (and a new pool only if the database connection changed).
   */
  const refresh = (stale: Runtime, afterMs: number): Promise<Runtime> => {
    refreshing ??= (async () => {
      if (afterMs > 0) await new Promise((resolve) => setTimeout(resolve, afterMs));
      stale.fetchedAt = now();
      try {
        const next = fromRestConfig(await fetchConfig(env, ref));
        const sameDb = JSON.stringify(next.connection) === JSON.stringify(stale.config.connection);
        if (sameDb && JSON.stringify(next.engine) === JSON.stringify(stale.config.engine)) {
          // e.g. a rename or a limits change: nothing the function serves with, only the version
          stale.version = next.version;
          return stale;
        }
        const fresh = build(next, sameDb ? stale.pool : newPool(next));
        runtime = Promise.resolve(fresh);
        // Requests still running on the old engine finish; its pool only ends once they release.
        void stale.engine.close().catch(() => {});
        if (!sameDb) void stale.pool.end().catch(() => {});
        return fresh;
      } catch {
        return stale;
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  /**
   * The runtime to serve with instead of `used`: the newest one, re-read first (see `refresh`)
   * while `outdated` holds for it. `used` itself when there is nothing newer.
   */
  const newer = async (used: Runtime, outdated: (latest: Runtime) => boolean): Promise<Runtime> => {
    if (!env.SUPAPLANE_CONFIG_URL || !runtime) return used;
    const latest = (await runtime.catch(() => undefined)) ?? used;
    if (!outdated(latest)) return latest;
    return refresh(latest, CONFIG_REFRESH_MIN_AGE_MS - (now() - latest.fetchedAt));
  };

  /** The runtime a request refused with PGRST301 on `used` should be retried on, or null. */
  const retryRuntime = async (used: Runtime): Promise<Runtime | null> => {
    // someone else may already have refreshed
    const fresh = await newer(used, (latest) => latest === used);
    return fresh === used ? null : fresh;
  };

  /**
   * `used`, or a runtime re-read because the gateway acted on a newer config version. Only the first
   * request under a version waits for its read: once a read came back without it, requests are served
   * with what the function has while reads go on (still at most one a second), so an unreachable
   * config service after a change slows no request.
   */
  const atVersion = (used: Runtime, header: string | undefined): Runtime | Promise<Runtime> => {
    if (header === undefined || used.version === undefined || !VERSION.test(header)) return used;
    const wanted = Number(header);
    if (wanted <= used.version) return used;
    const reread = newer(used, (latest) => latest.version !== undefined && latest.version < wanted).then(
      (latest) => {
        if (latest.version !== undefined && latest.version < wanted) {
          latest.missed = Math.max(latest.missed ?? 0, wanted);
        }
        return latest;
      },
    );
    if (used.missed !== undefined && wanted <= used.missed) return used;
    return reread;
  };

  const handler = (async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
    let started: Runtime;
    try {
      runtime ??= start();
      started = await runtime;
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
    const current = await atVersion(started, headers[CONFIG_VERSION_HEADER]);
    const body =
      event.body === undefined
        ? undefined
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    const request = {
      method: event.requestContext.http.method,
      path: event.rawPath,
      rawQuery: event.rawQueryString ?? '',
      headers,
      ...(body ? { body } : {}),
    };
    let response = await current.engine.handle(request);
    if (refusedToken(response)) {
      const retry = await retryRuntime(current);
      if (retry) response = await retry.engine.handle(request);
    }
    const binary = Buffer.isBuffer(response.body);
    return fitted({
      statusCode: response.status,
      headers: response.headers,
      body: binary ? (response.body as Buffer).toString('base64') : (response.body as string),
      isBase64Encoded: binary,
      // Function URLs send each of these as a Set-Cookie header of its own.
      ...(response.cookies ? { cookies: response.cookies } : {}),
    });
  }) as LambdaHandler;

  handler.close = async () => {
    await refreshing; // never rejects; a refresh in flight may still swap the runtime
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

/** A 401 for a token that failed verification (bad signature, e.g. signed with a rotated-out secret). */
function refusedToken(response: { status: number; body: string | Buffer }): boolean {
  if (response.status !== 401 || typeof response.body !== 'string' || !response.body.includes('PGRST301')) {
    return false;
  }
  try {
    return (JSON.parse(response.body) as { code?: unknown }).code === 'PGRST301';
  } catch {
    return false;
  }
}

async function fetchConfig(env: Record<string, string | undefined>, ref: string): Promise<RestConfig> {
  const base = env.SUPAPLANE_CONFIG_URL!.replace(/\/+$/, '');
  const url = `${base}/internal/v1/projects/${encodeURIComponent(ref)}/rest-config`;
  const response = await get(url, {
    authorization: `Bearer ${env.SUPAPLANE_INTERNAL_TOKEN ?? ''}`,
    accept: 'application/json',
  }).catch(() => {
    throw new ConfigError('Could not reach the configuration service');
  });
  if (response.status < 200 || response.status > 299) {
    throw new ConfigError(`Configuration service answered ${response.status}`);
  }
  return JSON.parse(response.body) as RestConfig;
}

/**
 * A GET through node:http(s), not `fetch`: the first `fetch` of a process loads undici (see
 * `requireBuiltin`). Times out after 5 s, body included.
 */
function get(address: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(address);
    const { request: send } = requireBuiltin(
      url.protocol === 'https:' ? 'node:https' : 'node:http',
    ) as typeof import('node:http');
    const request = send(url, { headers, signal: AbortSignal.timeout(5000) }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
      response.on('close', () => {
        if (!response.complete) reject(new Error('the answer was cut short'));
      });
    });
    request.on('error', reject);
    request.end();
  });
}

interface ResolvedConfig {
  readonly connection: pg.PoolConfig;
  readonly engine: Omit<RestEngineOptions, 'pool'>;
  /** rest-config's `version`; none from `REST_*` variables. */
  readonly version?: number;
}

function fromRestConfig(config: RestConfig): ResolvedConfig {
  const { db } = config;
  const sharedKeys = parseSharedKeys(config.sharedKeys);
  if (!sharedKeys) throw new ConfigError('The configuration service answered malformed sharedKeys');
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
      aggregatesEnabled: config.dbAggregatesEnabled === true,
      ...(config.statementTimeoutMs !== undefined ? { statementTimeoutMs: config.statementTimeoutMs } : {}),
      ...(config.jwtSecret ? { jwtSecret: config.jwtSecret } : {}),
      ...(config.jwks ? { jwks: config.jwks as RestEngineOptions['jwks'] } : {}),
      ...(sharedKeys.length ? { sharedKeys } : {}),
    },
    ...(typeof config.version === 'number' ? { version: config.version } : {}),
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
