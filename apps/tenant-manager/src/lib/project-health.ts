import { TimedOut, within } from './background.js';
import type { Context } from './context.js';
import { badRequest, isUnreachable, messageOf } from './errors.js';
import { restConfig } from './internal-config.js';
import { connectTo, ownerRole, projectDatabase } from './project-db.js';
import { apiStatus, type ProjectRow, type ProjectStatus, requireProjectRow, secretAad } from './projects.js';

/** The service names Supabase's `GET /v1/projects/{ref}/health` takes (v1-get-services-health). */
export const HEALTH_SERVICES = [
  'auth',
  'db',
  'db_postgres_user',
  'pooler',
  'realtime',
  'rest',
  'storage',
  'pg_bouncer',
] as const;
type HealthService = (typeof HEALTH_SERVICES)[number];
type HealthStatus = 'COMING_UP' | 'ACTIVE_HEALTHY' | 'UNHEALTHY';

/** One entry of the answer, Supabase's `V1ServiceHealthResponse`. */
interface ServiceHealth {
  name: HealthService;
  /** Deprecated by Supabase in favour of `status`; true exactly when it is ACTIVE_HEALTHY. */
  healthy: boolean;
  status: HealthStatus;
  /** rest: the data API's schemas, as Supabase's rest entry carries them. */
  info?: { db_schema: string };
  /** Why a service is not ACTIVE_HEALTHY: what failed, never a stack or a connection detail. */
  error?: string;
}

/** Supabase's own default wait of a check (its documented example), when `timeout_ms` is not given. */
const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;
export const MAX_HEALTH_TIMEOUT_MS = 10_000;

/**
 * Why a project that is not ACTIVE answers no check: COMING_UP while it is being made, UNHEALTHY for
 * everything else (as Supabase answers a pausing or paused project's services). ACTIVE_UNHEALTHY is
 * checked like ACTIVE_HEALTHY: the checks say what is wrong.
 */
const NOT_SERVING: Partial<Record<ProjectStatus, { status: HealthStatus; why: string }>> = {
  COMING_UP: { status: 'COMING_UP', why: 'the project is being created' },
  RESTORING: { status: 'COMING_UP', why: 'the project is being restored' },
  PAUSING: { status: 'UNHEALTHY', why: 'the project is being paused' },
  PAUSED: { status: 'UNHEALTHY', why: 'the project is paused' },
  PAUSE_FAILED: { status: 'UNHEALTHY', why: 'the project is paused (its pause failed half-way)' },
  RESTORE_FAILED: { status: 'UNHEALTHY', why: 'the project could not be restored' },
  INIT_FAILED: { status: 'UNHEALTHY', why: 'the project could not be created' },
  GOING_DOWN: { status: 'UNHEALTHY', why: 'the project is being deleted' },
};

/**
 * `services` as the query has it (repeated, comma-separated, or both) as distinct names in the order
 * first asked; a name Supabase does not know is a 400 naming it, as Supabase's enum refuses it.
 */
export function parseHealthServices(raw: readonly string[]): HealthService[] {
  const names = raw.flatMap((item) => item.split(',')).map((name) => name.trim());
  const unknown = names.filter((name) => !(HEALTH_SERVICES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw badRequest(
      `unknown service${unknown.length > 1 ? 's' : ''}: ${[...new Set(unknown)].map((n) => n || '""').join(', ')} (services: ${HEALTH_SERVICES.join(', ')})`,
      'validation_failed',
    );
  }
  return [...new Set(names as HealthService[])];
}

const healthy = (name: HealthService, info?: ServiceHealth['info']): ServiceHealth => ({
  name,
  healthy: true,
  status: 'ACTIVE_HEALTHY',
  ...(info ? { info } : {}),
});
const unhealthy = (
  name: HealthService,
  error: string,
  status: HealthStatus = 'UNHEALTHY',
): ServiceHealth => ({
  name,
  healthy: false,
  status,
  error,
});

/** A check's failure in words an operator's script may log: no driver message, no address. */
class CheckFailed extends Error {}

/** `SELECT 1` in the project's database, as the cluster's admin (`db`) or the project's owner role. */
async function checkDatabase(ctx: Context, row: ProjectRow, as: 'admin' | 'owner', timeoutMs: number) {
  if (!row.cluster_id) throw new CheckFailed('the project has no database cluster');
  const cluster = await ctx.clusters.get(row.cluster_id);
  const conn =
    as === 'admin'
      ? cluster.conn
      : {
          ...cluster.conn,
          user: ownerRole(row.ref),
          password: ctx.box.open(row.owner_password_enc, secretAad.ownerPassword(row.id)),
        };
  // The wait is bounded by `within` below, which says so in its answer. pg's own connection timeout
  // is only a backstop past it: at the same moment it raced `within` and, when first, answered a
  // server that accepts and never replies as "the db check failed". (pg reads 0 as no limit.)
  const limit = Math.max(1, timeoutMs);
  const client = connectTo(conn, projectDatabase(row.ref), {
    connectionTimeoutMillis: limit + 1_000,
    statement_timeout: limit,
  });
  try {
    await within(
      timeoutMs,
      'the database',
      (async () => {
        await client.connect();
        await client.query('SELECT 1');
      })(),
    );
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (isUnreachable(error)) throw new CheckFailed("the project's database cluster is not reachable");
    if (error instanceof TimedOut)
      throw new CheckFailed(`the project's database did not answer within ${timeoutMs} ms`);
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
      throw new CheckFailed(`the project's database refused the check (SQLSTATE ${code})`);
    throw error;
  } finally {
    void client.end().catch(() => {});
  }
}

/**
 * The data API is servable: the provider has the project's function, runnable, at the URL the
 * gateways use, and the config it boots from can be read. Never called through the gateway.
 */
async function checkRest(ctx: Context, row: ProjectRow, timeoutMs: number): Promise<ServiceHealth['info']> {
  if (!row.rest_url) throw new CheckFailed("the project's data API function has not been created");
  const describe = ctx.provider.functions.describeRestFunction?.bind(ctx.provider.functions);
  if (describe) {
    let fn: Awaited<ReturnType<typeof describe>>;
    try {
      fn = await within(timeoutMs, 'the function provider', describe(row.ref));
    } catch (error) {
      ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'rest function not described');
      throw new CheckFailed("the function provider did not answer for the project's data API function");
    }
    if (!fn) throw new CheckFailed("the project's data API function does not exist at the function provider");
    if (fn.state !== 'active')
      throw new CheckFailed(`the project's data API function is ${fn.state} at the function provider`);
    if (fn.url !== row.rest_url)
      throw new CheckFailed(
        "the project's data API function has another URL than the gateways use (a restore re-ensures it)",
      );
  }
  const config = await within(timeoutMs, 'the data API config', restConfig(ctx, row.ref)).catch(
    (error: unknown) => {
      ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'rest config not readable');
      throw new CheckFailed("the project's data API config is not readable");
    },
  );
  if (!config) throw new CheckFailed("the project's data API config is not readable");
  return { db_schema: config.dbSchemas.join(',') };
}

async function checkService(
  ctx: Context,
  row: ProjectRow,
  name: HealthService,
  timeoutMs: number,
): Promise<ServiceHealth> {
  try {
    switch (name) {
      case 'db':
        await checkDatabase(ctx, row, 'admin', timeoutMs);
        return healthy(name);
      case 'db_postgres_user':
        await checkDatabase(ctx, row, 'owner', timeoutMs);
        return healthy(name);
      case 'rest':
        return healthy(name, await checkRest(ctx, row, timeoutMs));
      default:
        return unhealthy(name, `${name} is not a service Supaplane runs`);
    }
  } catch (error) {
    if (error instanceof CheckFailed) return unhealthy(name, error.message);
    ctx.log.warn({ ref: row.ref, service: name, err: messageOf(error) }, 'health check failed');
    return unhealthy(name, `the ${name} check failed`);
  }
}

/**
 * The health of a project's services as Supabase's Management API answers it: one entry per service
 * asked for, in that order. A project that is not serving answers every service with why; a check
 * that fails answers its service UNHEALTHY. Only an unknown project (404) or the management
 * database (503) fail the request.
 */
export async function projectHealth(
  ctx: Context,
  ref: string,
  services: readonly HealthService[],
  timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
): Promise<ServiceHealth[]> {
  const row = await requireProjectRow(ctx.db, ref);
  const notServing = NOT_SERVING[row.status];
  if (notServing) {
    const error = `${notServing.why} (${apiStatus(row.status)})`;
    return services.map((name) => unhealthy(name, error, notServing.status));
  }
  return Promise.all(services.map((name) => checkService(ctx, row, name, timeoutMs)));
}
