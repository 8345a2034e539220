import type { Redis } from 'ioredis';
import { within } from './background.js';
import type { Context } from './context.js';
import { AppError, badRequest, messageOf } from './errors.js';
import { projectDatabase } from './project-db.js';
import { BYTES_PER_MB } from './limits.js';
import { type ProjectRow, requireProjectRow } from './projects.js';

/**
 * Redis keys the gateways write, as pinned in docs/contracts.md ("Usage counters"): a period is a UTC
 * hour (`2026112314`, kept 8 days) or a UTC day (`20261123`, kept 35 days).
 */
export const usageKey = (ref: string, period: string) => `supaplane:usage:${ref}:${period}`;
/** Outside `supaplane:usage:`, where a project named `top` would share its key. */
export const usageTopKey = (period: string) => `supaplane:usage-top:${period}`;

const SERVICES = ['rest', 'auth', 'storage', 'functions', 'realtime', 'graphql', 'other'] as const;
const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** How far back a window reaches: within what the gateways keep (8 days of hours, 35 of days). */
export const MAX_USAGE_HOURS = 7 * 24;
export const MAX_USAGE_DAYS = 31;
const READ_TIMEOUT_MS = 2_000;

interface ApiUsage {
  requests: number;
  by_service: Record<string, number>;
  by_status: Record<string, number>;
  rate_limited: number;
  ingress_bytes: number;
  egress_bytes: number;
}

/** The last `count` UTC hours or days, the current one included. */
interface UsageWindow {
  readonly unit: 'hour' | 'day';
  readonly count: number;
}

interface ProjectUsage {
  ref: string;
  from: string;
  to: string;
  granularity: 'hour' | 'day';
  /** Totals over the window; null when the counters could not be read (see `unavailable`). */
  api: ApiUsage | null;
  /** The hours or days of the window that saw requests, oldest first. */
  series: Array<ApiUsage & { start: string }> | null;
  database: {
    size_bytes: number;
    connections: number;
    connection_limit: number;
    /** `limits.db_size_mb` in bytes; null without a limit. */
    size_limit_bytes: number | null;
    /** The platform made the database read-only for its size limit (`db_read_only`). */
    read_only: boolean;
  } | null;
  /** Sections left null because their source is down or not configured: `api`, `database`. */
  unavailable: string[];
}

/** `hours` or `days` from a query (one of them, default 24 hours) as a window. */
export function usageWindow(query: { hours?: number | undefined; days?: number | undefined }): UsageWindow {
  if (query.hours !== undefined && query.days !== undefined)
    throw badRequest('give hours or days, not both', 'validation_failed');
  if (query.days !== undefined) return { unit: 'day', count: query.days };
  return { unit: 'hour', count: query.hours ?? 24 };
}

/** The window's periods as the gateways name them, oldest first, and where it starts. */
function periodsOf(now: Date, span: UsageWindow): { periods: string[]; from: Date } {
  const max = span.unit === 'hour' ? MAX_USAGE_HOURS : MAX_USAGE_DAYS;
  if (!Number.isInteger(span.count) || span.count < 1 || span.count > max) {
    throw badRequest(`${span.unit}s must be an integer from 1 to ${max}`, 'validation_failed');
  }
  const size = span.unit === 'hour' ? HOUR_MS : DAY_MS;
  const current = Math.floor(now.getTime() / size) * size;
  const from = new Date(current - (span.count - 1) * size);
  const periods: string[] = [];
  for (let at = from.getTime(); at <= current; at += size) periods.push(periodName(at, span.unit));
  return { periods, from };
}

/**
 * The periods whose counters can still be in Redis at `now`: the hours of the last 9 days and the
 * days of the last 36 (the gateways keep them 8 and 35 days after their last write), and the next
 * hour and day (a gateway whose clock runs ahead). Naming them beats scanning the keyspace for them.
 */
export function livePeriods(now: Date): string[] {
  const at = now.getTime();
  const periods: string[] = [];
  for (let back = -1; back <= 9 * 24; back++) periods.push(periodName(at - back * HOUR_MS, 'hour'));
  for (let back = -1; back <= 36; back++) periods.push(periodName(at - back * DAY_MS, 'day'));
  return periods;
}

/** `2026112314` (hour) or `20261123` (day). */
export const periodName = (ms: number, unit: UsageWindow['unit']) =>
  new Date(ms)
    .toISOString()
    .slice(0, unit === 'hour' ? 13 : 10)
    .replace(/[-T]/g, '');
const periodIso = (name: string) =>
  `${name.slice(0, 4)}-${name.slice(4, 6)}-${name.slice(6, 8)}T${name.slice(8, 10) || '00'}:00:00.000Z`;

function emptyUsage(): ApiUsage {
  return { requests: 0, by_service: {}, by_status: {}, rate_limited: 0, ingress_bytes: 0, egress_bytes: 0 };
}

/** Adds one stored hash (string values) into `into`. */
function addHash(into: ApiUsage, hash: Record<string, string>): void {
  const n = (field: string) => Number(hash[field] ?? 0) || 0;
  into.requests += n('requests');
  for (const service of SERVICES) {
    if (n(service) > 0) into.by_service[service] = (into.by_service[service] ?? 0) + n(service);
  }
  for (const status of STATUS_CLASSES) {
    if (n(status) > 0) into.by_status[status] = (into.by_status[status] ?? 0) + n(status);
  }
  into.rate_limited += n('rate_limited');
  into.ingress_bytes += n('ingress_bytes');
  into.egress_bytes += n('egress_bytes');
}

async function readCounters(redis: Redis, ref: string, periods: string[]) {
  if (redis.status !== 'ready') throw new Error('redis is not connected');
  const pipeline = redis.pipeline();
  for (const period of periods) pipeline.hgetall(usageKey(ref, period));
  const results = (await within(READ_TIMEOUT_MS, 'redis', pipeline.exec())) ?? [];
  const total = emptyUsage();
  const series: Array<ApiUsage & { start: string }> = [];
  results.forEach(([error, value], i) => {
    if (error) throw error;
    const hash = value as Record<string, string>;
    if (Object.keys(hash).length === 0) return;
    const one = emptyUsage();
    addHash(one, hash);
    addHash(total, hash);
    series.push({ start: periodIso(periods[i]!), ...one });
  });
  return { total, series };
}

async function readDatabase(ctx: Context, row: ProjectRow) {
  const cluster = await ctx.clusters.get(row.cluster_id!);
  const { rows } = await within(
    3_000,
    'the database cluster',
    cluster.admin.query<{ size_bytes: string; connections: number; connection_limit: number }>(
      `SELECT pg_database_size(d.datname) AS size_bytes, d.datconnlimit AS connection_limit,
         (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)::int AS connections
       FROM pg_database d WHERE d.datname = $1`,
      [projectDatabase(row.ref)],
    ),
  );
  const database = rows[0];
  if (!database) throw new Error('the project database does not exist');
  return {
    size_bytes: Number(database.size_bytes),
    connections: database.connections,
    connection_limit: database.connection_limit,
    size_limit_bytes: row.db_size_limit_mb === null ? null : row.db_size_limit_mb * BYTES_PER_MB,
    read_only: row.db_read_only,
  };
}

/**
 * A project's API usage over the window (the gateways' counters in Redis) and its
 * database's size and open connections now. A source that is down or absent leaves its section null
 * and is named in `unavailable`: the rest of the report still answers.
 */
export async function projectUsage(
  ctx: Context,
  redis: Redis | null,
  ref: string,
  span: UsageWindow,
): Promise<ProjectUsage> {
  const now = ctx.clock.now();
  const { periods, from } = periodsOf(now, span);
  const row = await requireProjectRow(ctx.db, ref);
  const [api, database] = await Promise.all([
    redis
      ? readCounters(redis, row.ref, periods).catch((error: unknown) => {
          ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'usage counters not readable');
          return null;
        })
      : null,
    row.cluster_id
      ? readDatabase(ctx, row).catch((error: unknown) => {
          ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'project database statistics not readable');
          return null;
        })
      : null,
  ]);
  const unavailable: string[] = [];
  if (!api) unavailable.push('api');
  if (!database) unavailable.push('database');
  return {
    ref: row.ref,
    from: from.toISOString(),
    to: now.toISOString(),
    granularity: span.unit,
    api: api?.total ?? null,
    series: api?.series ?? null,
    database,
    unavailable,
  };
}

interface PlatformUsage {
  from: string;
  to: string;
  granularity: 'hour' | 'day';
  /** The busiest projects of the window, most requests first. */
  projects: Array<{ ref: string; name: string | null; requests: number }>;
}

/** The platform's busiest projects over the window (503 without a readable Redis). */
export async function topProjects(
  ctx: Context,
  redis: Redis | null,
  span: UsageWindow,
  limit = 20,
): Promise<PlatformUsage> {
  const now = ctx.clock.now();
  const { periods, from } = periodsOf(now, span);
  if (!redis)
    throw new AppError(503, 'usage counters need Redis (REDIS_URL is not set)', 'usage_unavailable');
  let ranked: string[];
  try {
    if (redis.status !== 'ready') throw new Error('redis is not connected');
    const keys = periods.map(usageTopKey);
    ranked = await within(READ_TIMEOUT_MS, 'redis', redis.zunion(keys.length, ...keys, 'WITHSCORES'));
  } catch (error) {
    ctx.log.warn({ err: messageOf(error) }, 'usage ranking not readable');
    throw new AppError(
      503,
      'usage counters are not readable now (Redis is unavailable)',
      'usage_unavailable',
    );
  }
  const scored: Array<{ ref: string; requests: number }> = [];
  for (let i = 0; i < ranked.length; i += 2)
    scored.push({ ref: ranked[i]!, requests: Number(ranked[i + 1]) });
  scored.sort((a, b) => b.requests - a.requests || (a.ref < b.ref ? -1 : 1));
  const top = scored.slice(0, limit);
  const { rows } = await ctx.db.query<{ ref: string; name: string }>(
    'SELECT ref, name FROM tm.projects WHERE ref = ANY($1) AND status <> $2',
    [top.map((p) => p.ref), 'REMOVED'],
  );
  const names = new Map(rows.map((r) => [r.ref, r.name]));
  return {
    from: from.toISOString(),
    to: now.toISOString(),
    granularity: span.unit,
    projects: top.map((p) => ({ ...p, name: names.get(p.ref) ?? null })),
  };
}
