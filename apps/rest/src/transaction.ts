import type pg from 'pg';
import { type BatchResult, type BatchStatement, runBatch } from './batch.js';
import { ApiError, isPgError, postgrestNames } from './errors.js';
import type { RequestContext, RestResponse } from './request-context.js';
import {
  APPLIED_BY,
  appliedPreferences,
  type PreferenceKey,
  parseCookies,
  sqlVisibleHeaders,
} from './request-headers.js';
import { withResponseGucs } from './response.js';
import { type IsolationLevel, SCHEMA_FINGERPRINT } from './schema-cache.js';
import { ident, type Statement } from './sql.js';

/** Running a request's statements in a transaction set up like PostgREST's, and what its failure says about the schema cache. */

const SCHEMA_CHANGED = 'pgrst: schema changed';
/**
 * Runs first in a request's batch and fails it (22P02, nothing of the request done) when the
 * catalogs no longer match the fingerprint of the cache the request was planned with. The cast
 * is of a value computed at run time, so the planner cannot fold it into an error of its own.
 */
const SCHEMA_CHECK: Omit<BatchStatement, 'params'> = {
  name: 'pgrst_schema_check',
  sql: `SELECT CASE WHEN f = $1 THEN 0 ELSE ('${SCHEMA_CHANGED} ' || f)::int END FROM (SELECT ${SCHEMA_FINGERPRINT} AS f) s`,
};
// As in PostgREST, the impersonated role's own settings ($11) come after the search path and before
// the role (a setting the login role was granted may be set only by it), and win over the engine's
// statement timeout ($7 carries the called function's, else the role's, when there is one).
const SETUP_SQL = `SELECT set_config('search_path', $1, true),
  (SELECT count(set_config(s.key, s.value, true)) FROM json_each_text($11::json) AS s),
  set_config('role', $2, true),
  set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
  set_config('request.path', $5, true), set_config('request.headers', $6, true),
  set_config('statement_timeout', coalesce($7, current_setting('statement_timeout')), true),
  set_config('transaction_read_only', coalesce($8, current_setting('default_transaction_read_only')), true),
  set_config('timezone', coalesce($9, current_setting('timezone')), true),
  set_config('request.cookies', $10, true)`;

/** Database errors that may come from a stale schema cache rather than from the request. */
export const staleCache = new WeakSet<object>();

const guarded = new WeakSet<pg.PoolClient>();

/** Each connection's `default_transaction_isolation`, as its session began (read once). */
const sessionLevels = new WeakMap<pg.PoolClient, string>();

async function sessionIsolation(client: pg.PoolClient): Promise<string> {
  let level = sessionLevels.get(client);
  if (level === undefined) {
    const [result] = await runBatch(client, [
      { sql: "SELECT current_setting('default_transaction_isolation')", params: [], prepare: false },
    ]);
    level = result!.rows[0]![0] ?? 'read committed';
    sessionLevels.set(client, level);
  }
  return level;
}

/** The connection, not the statement, failed: socket errors, or the server ending the session. */
export function connectionLost(error: unknown): boolean {
  if (error instanceof ApiError) return false;
  const e = error as { code?: string; severity?: string; message?: string } | undefined;
  // 53300 (too many connections) is FATAL too, but refused at connect: nothing was lost, and trying
  // again at once would only knock a second time on a full database.
  if (isPgError(error)) {
    return (e?.severity === 'FATAL' && e.code !== '53300') || e?.severity === 'PANIC' || e?.code === '57P01';
  }
  return (
    /^(ECONNRESET|EPIPE|ETIMEDOUT|ECONNREFUSED|ENOTCONN)$/.test(e?.code ?? '') ||
    /Connection terminated|not queryable/i.test(e?.message ?? '')
  );
}

export type More = (statement: Statement) => Promise<BatchResult>;

/**
 * Runs statements in a transaction set up like PostgREST's (role, claims, request.*, timeout,
 * read-only). Usually one batch and one round trip: setup + statements, committed at Sync. An
 * `explicit` transaction (or `tx=rollback`) wraps them in BEGIN and ends after `finish` decided.
 */
export async function transaction(
  ctx: RequestContext,
  tx: {
    readOnly: boolean;
    explicit: boolean;
    statements: readonly Statement[];
    /** The preferences this request applies (Preference-Applied); a read's by default. */
    applies?: ReadonlySet<PreferenceKey>;
    /** A called function's own `SET default_transaction_isolation`, over the role's. */
    isolation?: IsolationLevel;
    /** A called function's own hoisted settings (`statement_timeout`), over the role's. */
    settings?: Readonly<Record<string, string>>;
  },
  finish: (results: BatchResult[], more: More) => Promise<RestResponse> | RestResponse,
): Promise<RestResponse> {
  const client = await ctx.engine.pool.connect();
  // A socket error while the client is checked out must fail the request, not the process.
  if (!guarded.has(client)) {
    client.on('error', () => {});
    guarded.add(client);
  }
  let broken: Error | undefined;
  const role = ctx.current.roleSettings.get(ctx.identity.role);
  const { statement_timeout: functionTimeout, ...functionSettings } = tx.settings ?? {};
  const statementTimeout = functionTimeout ?? role?.statementTimeout ?? ctx.engine.statementTimeoutMs;
  const settingsJson = Object.keys(functionSettings).length
    ? JSON.stringify({ ...JSON.parse(role?.json ?? '{}'), ...functionSettings })
    : (role?.json ?? '{}');
  const setup: BatchStatement = {
    name: 'pgrst_setup',
    sql: SETUP_SQL,
    params: [
      // PostgREST's db-extra-search-path as Supabase configures it: public, extensions.
      [...new Set([ctx.schema, 'public', 'extensions'])]
        .map(ident)
        .join(', '),
      ctx.identity.role,
      JSON.stringify(ctx.identity.claims),
      ctx.method,
      ctx.path,
      JSON.stringify(sqlVisibleHeaders(ctx.headers)),
      // Unset, the database's own (or the login role's) statement_timeout stays in force.
      statementTimeout === undefined ? null : String(statementTimeout),
      // A write keeps the database's default: the platform makes a project's database read-only
      // (default_transaction_read_only) when it is over its size limit, and writes must then fail.
      tx.readOnly ? 'on' : null,
      // Only a name found in pg_timezone_names reaches here, and as a parameter.
      ctx.prefer.timezone ?? null,
      JSON.stringify(parseCookies(ctx.headers.cookie)),
      settingsJson,
    ],
  };
  const rollback = ctx.prefer.tx === 'rollback';
  // PostgREST begins every transaction at a level (hasql's BEGIN ISOLATION LEVEL; Query.hs
  // planIsoLvl): the function's, else the role's, else read committed. A BEGIN is sent only when
  // that is not what the connection begins with anyway (its database's or login role's default).
  const wanted = tx.isolation ?? role?.isolation ?? 'read committed';
  const more: More = async (statement) => (await runBatch(client, [statement]))[0]!;
  // The fingerprint check rides in the request's own batch: no round trip of its own.
  const check = ctx.check.pending ? { ...SCHEMA_CHECK, params: [ctx.current.fingerprint] } : undefined;
  ctx.check.pending = false;
  const lead = check ? [check, setup] : [setup];
  try {
    const isolation = wanted === (await sessionIsolation(client)) ? undefined : wanted;
    let response: RestResponse;
    let results: BatchResult[];
    if (!tx.explicit && !rollback && !isolation) {
      results = await runBatch(client, [...lead, ...tx.statements]);
      response = await finish(results.slice(lead.length), more);
    } else {
      const level = isolation ? ` ISOLATION LEVEL ${isolation.toUpperCase()}` : '';
      const begin = { sql: `BEGIN${level}${tx.readOnly ? ' READ ONLY' : ''}`, params: [], prepare: false };
      try {
        results = await runBatch(client, [begin, ...lead, ...tx.statements]);
        response = await finish(results.slice(lead.length + 1), more);
        // Deferred constraints are checked before a rollback too, so the answer is the one a
        // commit would give (PostgREST Query.hs optionalRollback).
        if (rollback)
          await runBatch(client, [{ sql: 'SET CONSTRAINTS ALL IMMEDIATE', params: [], prepare: false }]);
      } catch (error) {
        await runBatch(client, [{ sql: 'ROLLBACK', params: [], prepare: false }]).catch((e: Error) => {
          broken = e;
        });
        throw error;
      }
      await runBatch(client, [{ sql: rollback ? 'ROLLBACK' : 'COMMIT', params: [], prepare: false }]);
    }
    // The main statement comes last; when it built the body, the RESPONSE_GUCS follow `body`.
    const last = results.at(-1)?.rows[0];
    if (last && last.length >= 5) response = withResponseGucs(response, last[3] ?? null, last[4] ?? null);
    const applied = appliedPreferences(ctx.prefer, tx.applies ?? APPLIED_BY.read);
    if (applied) response.headers['preference-applied'] = applied;
    if (response.headers['content-type'] && ctx.contentProfile) {
      response.headers['content-profile'] = ctx.contentProfile;
    }
    return response;
  } catch (error) {
    if (connectionLost(error) || (!isPgError(error) && !(error instanceof ApiError)))
      broken ??= error as Error;
    const aliases = tx.statements.find((s) => s.aliases)?.aliases;
    if (aliases && isPgError(error)) {
      for (const key of ['message', 'detail', 'hint'] as const) {
        const text = error[key];
        if (text) error[key] = postgrestNames(text, aliases);
      }
    }
    // The catalogs changed since the cache was loaded: reload and run the request again.
    if (
      check &&
      isPgError(error) &&
      error.code === '22P02' &&
      String(error.message).includes(SCHEMA_CHANGED)
    ) {
      staleCache.add(error);
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
