import { createJwtVerifier, type JwtClaims, type JwtKeys } from '@supaplane/jwt';
import pg from 'pg';
import { openApiDocument, type Privileges, privilegesStatement } from './openapi.js';
import {
  APPLIED_BY,
  appliedPreferences,
  bearer,
  lowerCase,
  isRawMedia,
  type Media,
  negotiate,
  notAcceptable,
  RAW_MEDIA,
  parsePrefer,
  type PreferenceKey,
  type Preferences,
  safeDecode,
  sigV4Free,
  type TxEnd,
} from './request-headers.js';
import { type BatchResult, type BatchStatement, runBatch } from './batch.js';
import { bodyFormat, invalidBody, isRawFormat, parseBody, RAW_PARAMETER_TYPE } from './request-body.js';
import { ApiError, apiError, cacheMiss, type ErrorBody, fromPgError, isPgError } from './errors.js';
import { findRelation, newContext } from './plan-context.js';
import { type CountKind, planRead } from './plan-read.js';
import { findRawRoutine, findRoutine, planRpc, routineCall } from './plan-rpc.js';
import { planDelete, planInsert, planUpdate, type ReturnPreference, type WritePlan } from './plan-write.js';
import { ident, qualified, type Statement } from './sql.js';
import { decodeQueryString, parseQuery, type ParsedQuery } from './query-parser.js';
import {
  loadSchemaCache,
  qualifiedKey,
  type Relation,
  SCHEMA_FINGERPRINT,
  type SchemaCache,
} from './schema-cache.js';

export interface RestEngineOptions {
  readonly pool: pg.Pool;
  /** Exposed schemas; the first is the default profile. */
  readonly schemas: string[];
  /** Cap on rows per response (PostgREST `db-max-rows`). */
  readonly maxRows?: number;
  readonly jwtSecret?: string;
  readonly jwks?: JwtKeys['jwks'];
  readonly statementTimeoutMs?: number;
  /** LISTEN on `pgrst` for `reload schema`. Default true. */
  readonly listenForReload?: boolean;
  /**
   * Without LISTEN, the longest a warm engine serves a schema cache older than the database's DDL:
   * the first request after this many ms also checks the catalogs' fingerprint (inside the request's
   * own batch), and a change reloads the cache and runs that request again. `0` checks every request,
   * `Infinity` never. Default 3000 without LISTEN, `Infinity` with it.
   */
  readonly schemaCheckIntervalMs?: number;
  /** PostgREST `db-tx-end`: whether `Prefer: tx=rollback` is honoured. Default `commit`. */
  readonly txEnd?: TxEnd;
  /** The role used without a JWT or without a `role` claim. Default `anon`; `null` refuses anonymous requests (PGRST302). */
  readonly anonRole?: string | null;
  /** Called after every schema cache load (initial, NOTIFY, or a miss). */
  readonly onSchemaLoad?: (cache: SchemaCache) => void;
  /** Called with unexpected (5xx) failures; never receives request secrets. */
  readonly onError?: (error: unknown) => void;
}

export interface RestRequest {
  readonly method: string;
  /** `/rest/v1/x`, `/x` or `/rpc/fn` (the prefix is optional). */
  readonly path: string;
  readonly rawQuery: string;
  readonly headers: Record<string, string | undefined>;
  readonly body?: Buffer | string;
}

export interface RestResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  /**
   * Set-Cookie values, one header each: a function's `response.headers` may set several, and
   * unlike other headers they cannot share one comma-joined line (an Expires date has a comma).
   */
  cookies?: string[];
}

export interface RestEngine {
  handle(request: RestRequest): Promise<RestResponse>;
  /** Forces a schema cache reload (what `NOTIFY pgrst, 'reload schema'` does). */
  reloadSchema(): Promise<void>;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const OBJECT_TYPE = 'application/vnd.pgrst.object+json; charset=utf-8';
const OBJECT_STRIPPED_TYPE = 'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8';
const ARRAY_STRIPPED_TYPE = 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8';
const CSV_TYPE = 'text/csv; charset=utf-8';
const GEOJSON_TYPE = 'application/geo+json; charset=utf-8';
const RETRY_CODES = new Set(['42P01', '42703', '42883']);
const MIN_RELOAD_INTERVAL_MS = 50;
const DEFAULT_SCHEMA_CHECK_INTERVAL_MS = 3000;
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
const SETUP_SQL = `SELECT set_config('search_path', $1, true), set_config('role', $2, true),
  set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
  set_config('request.path', $5, true), set_config('request.headers', $6, true),
  set_config('statement_timeout', coalesce($7, current_setting('statement_timeout')), true),
  set_config('transaction_read_only', coalesce($8, current_setting('default_transaction_read_only')), true),
  set_config('timezone', coalesce($9, current_setting('timezone')), true),
  set_config('request.cookies', $10, true)`;

interface Identity {
  readonly role: string;
  readonly claims: JwtClaims;
  readonly authenticated: boolean;
}

/** A PostgREST-12-compatible engine over one project database. */
export function createRestEngine(options: RestEngineOptions): RestEngine {
  const { pool } = options;
  const schemas = options.schemas.length ? options.schemas : ['public'];
  const anonRole = options.anonRole === undefined ? 'anon' : options.anonRole;
  const verifier = options.jwtSecret || options.jwks?.keys.length ? createJwtVerifier(options) : undefined;
  let cache: SchemaCache | undefined;
  let loading: Promise<SchemaCache> | undefined;
  let closed = false;

  let lastLoadStart = Number.NEGATIVE_INFINITY;
  const checkInterval =
    options.schemaCheckIntervalMs ??
    (options.listenForReload === false ? DEFAULT_SCHEMA_CHECK_INTERVAL_MS : Number.POSITIVE_INFINITY);
  /** When the catalogs were last read or compared (a load counts as a check). */
  let lastCheck = Number.NEGATIVE_INFINITY;
  /** Whether this request compares the catalogs with the cache (once per `checkInterval`). */
  function checkDue(): boolean {
    const now = performance.now();
    if (!(now - lastCheck >= checkInterval)) return false;
    lastCheck = now;
    return true;
  }
  /**
   * The check of a request that reached no transaction (a planning error such as PGRST201 from a
   * stale cache, a cached OpenAPI document, OPTIONS): one query of its own, as nothing else runs.
   */
  async function schemaChanged(current: SchemaCache): Promise<boolean> {
    try {
      const { rows } = await pool.query(`SELECT ${SCHEMA_FINGERPRINT} AS f`);
      return rows[0]?.f !== current.fingerprint;
    } catch {
      return false;
    }
  }
  /**
   * Single-flight load; `freshAfter` (a `performance.now()` instant) demands a load that started
   * after it. Loads start at most every MIN_RELOAD_INTERVAL_MS: a request that needs a fresh cache
   * waits for the next one rather than being answered from a stale cache, and a flood of misses
   * cannot turn into a flood of introspection queries.
   */
  function loadCache(freshAfter = Number.NEGATIVE_INFINITY): Promise<SchemaCache> {
    if (cache && cache.loadedAt >= freshAfter) return Promise.resolve(cache);
    if (loading) {
      return loading.then((c) => (c.loadedAt >= freshAfter ? c : loadCache(freshAfter)));
    }
    const wait = lastLoadStart + MIN_RELOAD_INTERVAL_MS - performance.now();
    let started = 0;
    loading = (wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve())
      .then(() => {
        started = performance.now();
        lastLoadStart = started;
        return loadSchemaCache(pool, schemas, cache?.timezones);
      })
      .then((loaded) => {
        // A slower, older load never replaces a newer cache.
        if (!cache || cache.loadedAt <= started) cache = { ...loaded, loadedAt: started };
        lastCheck = Math.max(lastCheck, started);
        options.onSchemaLoad?.(cache);
        return cache;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  let listener: pg.Client | undefined;
  let listenerRetry: NodeJS.Timeout | undefined;
  async function listen() {
    if (closed) return;
    const client = new pg.Client(pool.options);
    listener = client;
    const retry = () => {
      if (closed || listener !== client) return;
      listener = undefined;
      client.end().catch(() => {});
      listenerRetry = setTimeout(() => void listen(), 1000);
      listenerRetry.unref?.();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (n) => {
      if (n.channel === 'pgrst' && (n.payload === 'reload schema' || !n.payload)) {
        loadCache(performance.now()).catch((error) => options.onError?.(error));
      }
    });
    try {
      await client.connect();
      await client.query('LISTEN pgrst');
      // Anything created while we were not listening is picked up now.
      if (cache) await loadCache(performance.now());
    } catch {
      retry();
    }
  }
  if (options.listenForReload !== false) void listen();

  async function handle(request: RestRequest): Promise<RestResponse> {
    const started = performance.now();
    let identity: Identity | undefined;
    let reload = false;
    try {
      const headers = lowerCase(request.headers);
      identity = await authenticate(headers);
      for (let attempt = 0; ; attempt++) {
        try {
          const current = await loadCache(attempt && reload ? started : undefined);
          const check: SchemaCheck = { pending: attempt === 0 && checkDue() };
          let response: RestResponse;
          try {
            response = await route(current, request, headers, identity, check);
          } catch (error) {
            if (check.pending && error instanceof ApiError && !error.cacheMiss) {
              if (await schemaChanged(current)) staleCache.add(error);
            }
            throw error;
          }
          if (check.pending && (await schemaChanged(current))) {
            const stale = new Error('schema cache older than the catalogs');
            staleCache.add(stale);
            throw stale;
          }
          return response;
        } catch (error) {
          if (attempt > 0) throw error;
          // Something the cache does not know, or a cache older than the catalogs: reload once
          // (shared by concurrent requests), retry.
          reload =
            (error instanceof ApiError && error.cacheMiss) ||
            staleCache.has(error as object) ||
            (isPgError(error) && RETRY_CODES.has(error.code));
          // A pooled connection that died while idle (a frozen Lambda, a restarted database): a
          // read is safe to run again on a fresh one; a write may have committed, so it is not.
          const lostRead = connectionLost(error) && /^(GET|HEAD)$/i.test(request.method);
          if (!reload && !lostRead) throw error;
        }
      }
    } catch (error) {
      return renderError(error, identity?.authenticated ?? false, options.onError);
    }
  }

  async function authenticate(headers: Record<string, string>): Promise<Identity> {
    const token = bearer(headers['x-client-authorization']) ?? sigV4Free(headers.authorization);
    if (!token) {
      if (anonRole === null) {
        throw apiError(401, 'PGRST302', 'Anonymous access is disabled', null, null, {
          'www-authenticate': 'Bearer',
        });
      }
      return { role: anonRole, claims: { role: anonRole }, authenticated: false };
    }
    if (!verifier) throw apiError(500, 'PGRST300', 'Server lacks JWT secret');
    const result = await verifier.verify(token);
    if (!result.ok) {
      throw apiError(401, result.error.code, result.error.message, null, null, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${headerText(result.error.message)}"`,
      });
    }
    const claimed =
      typeof result.claims.role === 'string' && result.claims.role ? result.claims.role : anonRole;
    if (claimed === null) {
      throw apiError(401, 'PGRST302', 'Anonymous access is disabled', null, null, {
        'www-authenticate': 'Bearer',
      });
    }
    return { role: claimed, claims: result.claims, authenticated: claimed !== anonRole };
  }

  async function route(
    current: SchemaCache,
    request: RestRequest,
    headers: Record<string, string>,
    identity: Identity,
    check: SchemaCheck,
  ): Promise<RestResponse> {
    const method = request.method.toUpperCase();
    const path = request.path.replace(/^\/rest\/v1(?=\/|$)/, '') || '/';
    const segments = path
      .split('/')
      .filter(Boolean)
      .map((s) => safeDecode(s));
    const readMethod = method === 'GET' || method === 'HEAD';
    const profileHeader = readMethod ? headers['accept-profile'] : headers['content-profile'];
    const schema = profileHeader ?? schemas[0]!;
    if (!schemas.includes(schema)) {
      throw apiError(406, 'PGRST106', `The schema must be one of the following: ${schemas.join(', ')}`);
    }
    if (method === 'OPTIONS') return optionsResponse(current, schema, segments, request.rawQuery);
    if (!['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(method)) {
      throw apiError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
    }
    const root = segments.length === 0;
    const isRpc = segments[0] === 'rpc' && segments.length === 2;
    const { media, stripNulls } = root
      ? { media: negotiateOpenApi(headers.accept), stripNulls: false }
      : negotiate(headers.accept, isRpc);
    const prefer = parsePrefer(headers.prefer, options.txEnd ?? 'commit', current.timezones);
    const ctx: RequestContext = {
      current,
      request,
      headers,
      identity,
      method,
      schema,
      media,
      stripNulls,
      profile: profileHeader !== undefined,
      prefer,
      path,
      check,
    };
    if (root) {
      if (!readMethod) throw apiError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
      return openApi(ctx);
    }
    if (isRpc) return rpc(ctx, segments[1]!);
    if (segments.length !== 1) throw apiError(404, 'PGRST125', `Invalid path specified in request URL`);
    const relation = findRelation(current, schema, segments[0]!);
    if (readMethod) return read(ctx, relation);
    return write(ctx, relation);
  }

  /**
   * OPTIONS as PostgREST 12 answers it: `Allow` lists what the relation accepts (a view only what
   * it is updatable for, PUT only with a primary key) or, for a function found as GET would find
   * it, `OPTIONS,POST` when volatile; an unknown relation is a bare 404 `{}`.
   */
  function optionsResponse(
    current: SchemaCache,
    schema: string,
    segments: string[],
    rawQuery: string,
  ): RestResponse {
    const allow = (methods: string): RestResponse => ({
      status: 200,
      headers: { 'access-control-allow-origin': '*', allow: methods },
      body: '',
    });
    if (segments.length === 0) return allow('OPTIONS,GET,HEAD');
    if (segments[0] === 'rpc' && segments.length === 2) {
      const args = decodeQueryString(rawQuery)
        .map(([k]) => k)
        .filter((k) => !RESERVED.has(k));
      const { routine } = findRoutine(current, schema, segments[1]!, [...new Set(args)], false, false);
      return allow(routine.volatility === 'volatile' ? 'OPTIONS,POST' : 'OPTIONS,GET,HEAD,POST');
    }
    if (segments.length !== 1) throw apiError(404, 'PGRST125', 'Invalid path specified in request URL');
    const relation = current.relations.get(qualifiedKey(schema, segments[0]!));
    if (!relation) throw cacheMiss(new ApiError(404, {} as ErrorBody));
    const bits = relation.updatable ?? 0;
    const [update, insert, del] = [4, 8, 16].map((bit) => (bits & bit) === bit);
    const methods = ['OPTIONS,GET,HEAD'];
    if (insert) methods.push('POST');
    if (insert && update && relation.pk.length) methods.push('PUT');
    if (update) methods.push('PATCH');
    if (del) methods.push('DELETE');
    return allow(methods.join(','));
  }

  interface RequestContext {
    readonly current: SchemaCache;
    readonly request: RestRequest;
    readonly headers: Record<string, string>;
    readonly identity: Identity;
    readonly method: string;
    readonly schema: string;
    readonly media: Media;
    readonly stripNulls: boolean;
    /** The schema came from Accept-Profile / Content-Profile. */
    readonly profile: boolean;
    readonly prefer: Preferences;
    readonly path: string;
    /** Whether this request still has to compare the catalogs' fingerprint with `current`'s. */
    readonly check: SchemaCheck;
  }

  function pageRange(ctx: RequestContext, query: ParsedQuery) {
    const root = query.levels.get('')!;
    let offset = root.offset ?? 0;
    let limit = root.limit;
    const header = ctx.method === 'GET' || ctx.method === 'HEAD' ? ctx.headers.range : undefined;
    const m = header ? /^\s*(?:items=)?(\d+)-(\d*)\s*$/.exec(header) : null;
    if (m) {
      const lower = Number(m[1]);
      const upper = m[2] ? Number(m[2]) : undefined;
      if (upper !== undefined && lower > upper) {
        throw apiError(
          416,
          'PGRST103',
          'Requested range not satisfiable',
          'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
        );
      }
      const end = limit !== undefined ? offset + limit - 1 : Number.POSITIVE_INFINITY;
      const newEnd = Math.min(end, upper ?? Number.POSITIVE_INFINITY);
      offset = Math.max(offset, lower);
      limit = Number.isFinite(newEnd) ? Math.max(0, newEnd - offset + 1) : undefined;
    }
    if (options.maxRows !== undefined && (limit === undefined || limit > options.maxRows))
      limit = options.maxRows;
    return limit === undefined ? { offset } : { offset, limit };
  }

  /** The planner's context for a request: its cache, its query and the body format it answers in. */
  function planContext(ctx: RequestContext, query: ReturnType<typeof parseQuery>) {
    const plan = newContext(ctx.current, query);
    plan.csv = ctx.media === 'csv';
    plan.geojson = ctx.media === 'geojson';
    plan.stripNulls = ctx.stripNulls;
    return plan;
  }

  async function read(ctx: RequestContext, relation: Relation): Promise<RestResponse> {
    const query = parseQuery(ctx.request.rawQuery);
    const plan = planContext(ctx, query);
    const range = pageRange(ctx, query);
    const statement = planRead(
      plan,
      relation,
      qualified(relation.schema, relation.name),
      range,
      ctx.prefer.count,
    );
    const counting = statement.planned ? [statement.planned] : [];
    const tx = { readOnly: true, explicit: counting.length > 0, statements: [...counting, statement] };
    return transaction(ctx, tx, async (results, more) => {
      const row = resultRow(results[results.length - 1]!);
      const total = await countFor(more, ctx.prefer.count, statement, results[0], row);
      return renderRows(ctx, row, range.offset, total ?? nullableNumber(row.total), 'read');
    });
  }

  /**
   * `count=planned|estimated`: the planner's estimate. Estimated is, as in PostgREST, the exact count
   * up to maxRows and beyond it the larger of the two; counting stops one row past maxRows, unless the
   * statement counted the rows itself (`row.total`: a function call, which must run only once).
   */
  async function countFor(
    more: More,
    count: CountKind | undefined,
    plan: { planned?: Statement; exact?: Statement },
    explain: BatchResult | undefined,
    row: ResultRow,
  ): Promise<number | undefined> {
    if (!plan.planned || !count || !explain) return undefined;
    const json = JSON.parse(explain.rows[0]?.[0] ?? '[]') as { Plan?: { 'Plan Rows'?: number } }[];
    const planned = Number(json[0]?.Plan?.['Plan Rows'] ?? 0);
    if (count === 'planned') return planned;
    const max = options.maxRows ?? 1000;
    let exact: number;
    if (plan.exact) {
      const upTo = `SELECT count(*) FROM (${plan.exact.sql} LIMIT ${Math.trunc(max) + 1}) AS pgrst_rows`;
      exact = Number((await more({ sql: upTo, params: plan.exact.params })).rows[0]?.[0] ?? 0);
    } else if (row.total !== null) {
      exact = Number(row.total);
    } else {
      return planned;
    }
    return exact <= max ? exact : Math.max(exact, planned);
  }

  async function write(ctx: RequestContext, relation: Relation): Promise<RestResponse> {
    const { method, prefer } = ctx;
    const query = parseQuery(ctx.request.rawQuery);
    const plan = planContext(ctx, query);
    const ret: ReturnPreference = prefer.return ?? 'minimal';
    const format = bodyFormat(ctx.headers['content-type']);
    // As in PostgREST, PUT and PATCH take the first row of a list (JSON array or CSV); PATCH takes
    // an empty list as an empty object (nothing to change).
    const firstRow = (v: unknown, empty: unknown) => (Array.isArray(v) ? (v.length ? v[0] : empty) : v);
    let writePlan: WritePlan;
    let status: number;
    if (method === 'POST') {
      const body = parseBody(ctx.request.body, format);
      const rows = Array.isArray(body) ? body : [body];
      if (!rows.every(isObject)) throw invalidBody();
      const columns = query.columns ?? Object.keys(rows[0] ?? {});
      if (!query.columns && prefer.missing !== 'default') {
        const expected = [...columns].sort().join(',');
        for (const row of rows) {
          if (Object.keys(row).sort().join(',') !== expected) {
            throw apiError(400, 'PGRST102', 'All object keys must match');
          }
        }
      }
      // Without a conflict target (no primary key, no on_conflict) PostgREST ignores the resolution.
      const onConflict = query.onConflict ?? relation.pk;
      const upsert =
        prefer.resolution && onConflict.length
          ? { onConflict, ignore: prefer.resolution === 'ignore-duplicates' }
          : undefined;
      writePlan = planInsert(plan, relation, {
        rows,
        columns,
        missingDefault: prefer.missing === 'default',
        ret,
        ...(upsert ? { upsert } : {}),
      });
      status = 201;
    } else if (method === 'PUT') {
      const body = firstRow(parseBody(ctx.request.body, format), undefined);
      if (!isObject(body)) throw invalidBody();
      checkPut(query, relation, body);
      writePlan = planInsert(plan, relation, {
        rows: [body],
        columns: Object.keys(body),
        missingDefault: false,
        ret,
        upsert: { onConflict: relation.pk, ignore: false },
      });
      status = ret === 'minimal' ? 204 : 201;
    } else if (method === 'PATCH') {
      const body = firstRow(parseBody(ctx.request.body, format), {});
      if (!isObject(body)) throw invalidBody();
      const columns = query.columns ?? Object.keys(body);
      if (!columns.length) {
        return {
          status: ret === 'minimal' ? 204 : 200,
          headers: { 'content-range': '*/*', ...(ret === 'minimal' ? {} : { 'content-type': JSON_TYPE }) },
          body: ret === 'minimal' ? '' : '[]',
        };
      }
      writePlan = planUpdate(plan, relation, body, columns, ret);
      status = ret === 'minimal' ? 204 : 200;
    } else {
      writePlan = planDelete(plan, relation, ret);
      status = ret === 'minimal' ? 204 : 200;
    }
    // `max-affected` (honoured with handling=strict, for PATCH and DELETE) and a singular response
    // are checked before COMMIT; otherwise the write commits at Sync.
    const maxAffected =
      prefer.handling === 'strict' && (method === 'PATCH' || method === 'DELETE')
        ? prefer.maxAffected
        : undefined;
    // A limited PATCH/DELETE never changes more rows than its limit (a view's key may repeat).
    const limit = method === 'PATCH' || method === 'DELETE' ? query.levels.get('')?.limit : undefined;
    const checkAffected = (n: number) => {
      if (limit !== undefined && n > limit) {
        throw apiError(
          400,
          'PGRST110',
          'The maximum number of rows allowed to change was surpassed',
          `Results contain ${n} rows changed but the maximum number allowed is ${limit}`,
        );
      }
      if (maxAffected !== undefined && n > maxAffected) {
        throw apiError(
          400,
          'PGRST124',
          'Query result exceeds max-affected preference constraint',
          `The query affects ${n} rows`,
        );
      }
    };
    const applies =
      method === 'POST'
        ? query.onConflict || relation.pk.length
          ? APPLIED_BY.insert
          : APPLIED_BY.plainInsert
        : method === 'PUT'
          ? APPLIED_BY.put
          : method === 'PATCH'
            ? APPLIED_BY.update
            : APPLIED_BY.delete;
    const tx = {
      applies,
      readOnly: false,
      explicit: ctx.media === 'object' || maxAffected !== undefined || limit !== undefined,
      statements: writePlan.statements,
    };
    // An upsert that merged into existing rows only is 200, as in PostgREST (PUT with return=minimal
    // stays 204).
    const upsertStatus = (inserted: number | undefined) => (inserted === 0 && status === 201 ? 200 : status);
    // Content-Range as PostgREST sends it for writes: the range of changed rows for PATCH only, a
    // total with count=exact|estimated, none for PUT.
    const rangeHeader = (n: number): Record<string, string> => {
      if (method === 'PUT') return {};
      const range = method === 'PATCH' && n > 0 ? `0-${n - 1}` : '*';
      const counted = prefer.count === 'exact' || prefer.count === 'estimated';
      return { 'content-range': `${range}/${counted ? n : '*'}` };
    };
    return transaction(ctx, tx, async (results) => {
      if (!writePlan.returning) {
        // A counting upsert's statements each yield one row (affected, inserted).
        const counted = (column: number) =>
          results.reduce((sum, r) => sum + Number(r.rows[0]?.[column] ?? 0), 0);
        const affected = writePlan.countsInserted
          ? counted(0)
          : results.reduce((sum, r) => sum + r.rowCount, 0);
        status = upsertStatus(writePlan.countsInserted ? counted(1) : undefined);
        checkAffected(affected);
        if (ctx.media === 'object' && affected !== 1) throw singularError(affected);
        return { status, headers: rangeHeader(affected), body: '' };
      }
      const row = resultRow(results[0]!);
      checkAffected(row.n);
      // `inserted` follows total, n, body and the two RESPONSE_GUCS.
      status = upsertStatus(writePlan.countsInserted ? Number(results[0]!.rows[0]?.[5] ?? 0) : undefined);
      if (ret === 'headers-only') {
        if (ctx.media === 'object' && row.n !== 1) throw singularError(row.n);
        const first = (JSON.parse(row.body) as Record<string, unknown>[])[0];
        const headers = rangeHeader(row.n);
        if (first && relation.pk.length) {
          const q = relation.pk.map(
            (c) => `${encodeURIComponent(c)}=eq.${encodeURIComponent(String(first[c]))}`,
          );
          headers.location = `/${encodeURIComponent(relation.name)}?${q.join('&')}`;
        }
        return { status, headers, body: '' };
      }
      const response = renderRows(ctx, row, 0, undefined, 'write');
      const { 'content-range': _, ...headers } = response.headers;
      return {
        ...response,
        status: response.status === 200 ? status : response.status,
        headers: { ...headers, ...rangeHeader(row.n) },
      };
    });
  }

  /** OpenAPI documents by role and schema, valid for one schema cache load. */
  const openApiCache = new Map<string, { loadedAt: number; body: string }>();
  async function openApi(ctx: RequestContext): Promise<RestResponse> {
    const key = `${ctx.identity.role}\u0000${ctx.schema}`;
    let entry = openApiCache.get(key);
    if (!entry || entry.loadedAt !== ctx.current.loadedAt) {
      const body = await transaction(
        ctx,
        { readOnly: true, explicit: false, statements: [privilegesStatement(ctx.schema)] },
        (results) => ({ status: 200, headers: {}, body: results[0]?.rows[0]?.[0] ?? '{}' }),
      );
      const privileges = JSON.parse(body.body.toString()) as Privileges;
      entry = {
        loadedAt: ctx.current.loadedAt,
        body: JSON.stringify(openApiDocument(ctx.current, ctx.schema, privileges)),
      };
      openApiCache.delete(key);
      openApiCache.set(key, entry);
      if (openApiCache.size > 64) openApiCache.delete(openApiCache.keys().next().value!);
    }
    return {
      status: 200,
      headers: {
        'content-type': 'application/openapi+json; charset=utf-8',
        ...(ctx.profile || schemas.length > 1 ? { 'content-profile': ctx.schema } : {}),
      },
      body: ctx.method === 'HEAD' ? '' : entry.body,
    };
  }

  async function rpc(ctx: RequestContext, name: string): Promise<RestResponse> {
    const { method, prefer } = ctx;
    const candidates = ctx.current.routines.get(qualifiedKey(ctx.schema, name)) ?? [];
    const argNames = new Set(candidates.flatMap((r) => r.args.map((a) => a.name)).filter(Boolean));
    const readMethod = method === 'GET' || method === 'HEAD';
    if (!readMethod && method !== 'POST')
      throw apiError(405, 'PGRST101', 'Only GET or POST requests are allowed for RPC');
    if (!candidates.length) {
      const given = readMethod
        ? decodeQueryString(ctx.request.rawQuery)
            .map(([k]) => k)
            .filter((k) => !RESERVED.has(k.split('.').pop()!))
        : Object.keys((ctx.request.body?.length && (safeBody(ctx) as object)) || {});
      findRoutine(ctx.current, ctx.schema, name, given, prefer.params === 'single-object', !readMethod);
    }
    let query: ParsedQuery;
    try {
      query = parseQuery(ctx.request.rawQuery, readMethod ? argNames : undefined);
    } catch (error) {
      // A parameter the cached signature lacks may be an argument of a newer definition.
      throw error instanceof ApiError ? cacheMiss(error) : error;
    }
    let args: Record<string, unknown> | undefined;
    let body: unknown;
    let rawParameterType: string | undefined;
    if (readMethod) {
      // Repeated parameters fill a variadic argument: `?v=a&v=b`.
      const variadic = new Set(
        candidates.flatMap((r) => r.args.filter((a) => a.variadic).map((a) => a.name)),
      );
      const collected = new Map<string, unknown>();
      for (const [k, v] of query.rawParams) {
        collected.set(k, variadic.has(k) ? [...((collected.get(k) as string[] | undefined) ?? []), v] : v);
      }
      args = Object.fromEntries(collected);
    } else {
      const format = bodyFormat(ctx.headers['content-type'], true);
      if (isRawFormat(format)) {
        // The body as is, for the function whose one unnamed parameter has the matching type.
        body = parseBody(ctx.request.body, format);
        rawParameterType = RAW_PARAMETER_TYPE[format];
      } else {
        body = ctx.request.body?.length ? parseBody(ctx.request.body, format) : {};
        if (format === 'csv' && Array.isArray(body) && body.length === 1) body = body[0];
        if (isObject(body)) args = body;
      }
    }
    const singleObject = prefer.params === 'single-object';
    const { routine, singleParam } = rawParameterType
      ? findRawRoutine(ctx.current, ctx.schema, name, rawParameterType)
      : findRoutine(
          ctx.current,
          ctx.schema,
          name,
          singleObject || !args ? [] : Object.keys(args),
          singleObject || !args,
          !readMethod,
        );
    // A raw result (text/plain, text/xml, application/octet-stream) only of a scalar of that type.
    const rawMedia = isRawMedia(ctx.media) ? RAW_MEDIA[ctx.media] : undefined;
    if (
      rawMedia &&
      (routine.returns !== 'scalar' || routine.setof || routine.returnType !== rawMedia.returnType)
    ) {
      throw notAcceptable(ctx.headers.accept);
    }
    const plan = planContext(ctx, query);
    const call = routineCall(plan, routine, args, body, singleParam);
    const range = pageRange(ctx, query);
    const rpcPlan = planRpc(plan, routine, call, range, prefer.count, rawMedia !== undefined);
    const readOnly = readMethod || routine.volatility !== 'volatile';
    const counting = rpcPlan.planned ? [rpcPlan.planned] : [];
    // `max-affected` with handling=strict counts the rows a set-returning function returns.
    const maxAffected = prefer.handling === 'strict' ? prefer.maxAffected : undefined;
    if (maxAffected !== undefined && !routine.setof) {
      throw apiError(
        400,
        'PGRST128',
        'Function must return SETOF or TABLE when max-affected preference is used with handling=strict',
      );
    }
    const explicit =
      counting.length > 0 || (!readOnly && ctx.media === 'object') || maxAffected !== undefined;
    const tx = { readOnly, explicit, statements: [...counting, rpcPlan.statement], applies: APPLIED_BY.rpc };
    return rpcTransaction(ctx, tx, !readMethod && readOnly, async (results, more) => {
      if (rpcPlan.shape === 'void') return { status: 204, headers: {}, body: '' };
      const row = resultRow(results[results.length - 1]!);
      const total = await countFor(more, prefer.count, rpcPlan, results[0], row);
      if (maxAffected !== undefined && row.n > maxAffected) {
        throw apiError(
          400,
          'PGRST124',
          'Query result exceeds max-affected preference constraint',
          `The query affects ${row.n} rows`,
        );
      }
      if (rpcPlan.shape === 'scalar' && rawMedia) {
        const text = row.body ?? '';
        return {
          status: 200,
          headers: { 'content-type': rawMedia.contentType },
          body: method === 'HEAD' ? '' : rawMedia.returnType === 'bytea' ? Buffer.from(text, 'hex') : text,
        };
      }
      // A function of one value or row has a Content-Range too (`0-0/1` with count=exact), from
      // which supabase-js reads `count`.
      const single = (body: string): RestResponse => ({
        status: 200,
        headers: {
          'content-type': JSON_TYPE,
          'content-range': `${row.n > 0 ? `0-${row.n - 1}` : '*'}/${total ?? nullableNumber(row.total) ?? '*'}`,
        },
        body: method === 'HEAD' ? '' : body,
      });
      if (rpcPlan.shape === 'scalar') return single(row.body);
      if (rpcPlan.shape === 'object' && ctx.media !== 'csv' && ctx.media !== 'geojson') {
        return single(row.n === 1 ? row.body.slice(1, -1) : 'null');
      }
      return renderRows(ctx, row, range.offset, total ?? nullableNumber(row.total), 'read');
    });
  }

  /**
   * A function's transaction. A POST runs read-only only because the cache says the function is not
   * volatile; a 25006 there may mean it was redefined VOLATILE since (`CREATE OR REPLACE` after a
   * first try as STABLE), which without LISTEN (Lambda) nothing else would tell: the cache is
   * reloaded and the call tried once more. Nothing was written by the refused attempt.
   */
  async function rpcTransaction(
    ctx: RequestContext,
    tx: Parameters<typeof transaction>[1],
    readOnlyByVolatility: boolean,
    finish: Parameters<typeof transaction>[2],
  ): Promise<RestResponse> {
    try {
      return await transaction(ctx, tx, finish);
    } catch (error) {
      if (readOnlyByVolatility && isPgError(error) && error.code === '25006') staleCache.add(error);
      throw error;
    }
  }

  /**
   * Runs statements in a transaction set up like PostgREST's (role, claims, request.*, timeout,
   * read-only). Usually one batch and one round trip: setup + statements, committed at Sync. An
   * `explicit` transaction (or `tx=rollback`) wraps them in BEGIN and ends after `finish` decided.
   */
  async function transaction(
    ctx: RequestContext,
    tx: {
      readOnly: boolean;
      explicit: boolean;
      statements: readonly Statement[];
      /** The preferences this request applies (Preference-Applied); a read's by default. */
      applies?: ReadonlySet<PreferenceKey>;
    },
    finish: (results: BatchResult[], more: More) => Promise<RestResponse> | RestResponse,
  ): Promise<RestResponse> {
    const client = await pool.connect();
    // A socket error while the client is checked out must fail the request, not the process.
    if (!guarded.has(client)) {
      client.on('error', () => {});
      guarded.add(client);
    }
    let broken: Error | undefined;
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
        // As in PostgREST, the Cookie header is not among the headers but parsed into request.cookies.
        JSON.stringify({ ...ctx.headers, cookie: undefined }),
        // Unset, the database's own (or the login role's) statement_timeout stays in force.
        options.statementTimeoutMs === undefined ? null : String(options.statementTimeoutMs),
        // A write keeps the database's default: the platform makes a project's database read-only
        // (default_transaction_read_only) when it is over its size limit, and writes must then fail.
        tx.readOnly ? 'on' : null,
        // Only a name found in pg_timezone_names reaches here, and as a parameter.
        ctx.prefer.timezone ?? null,
        JSON.stringify(parseCookies(ctx.headers.cookie)),
      ],
    };
    const rollback = ctx.prefer.tx === 'rollback';
    const more: More = async (statement) => (await runBatch(client, [statement]))[0]!;
    // The fingerprint check rides in the request's own batch: no round trip of its own.
    const check = ctx.check.pending ? { ...SCHEMA_CHECK, params: [ctx.current.fingerprint] } : undefined;
    ctx.check.pending = false;
    const lead = check ? [check, setup] : [setup];
    try {
      let response: RestResponse;
      let results: BatchResult[];
      if (!tx.explicit && !rollback) {
        results = await runBatch(client, [...lead, ...tx.statements]);
        response = await finish(results.slice(lead.length), more);
      } else {
        const begin = { sql: tx.readOnly ? 'BEGIN READ ONLY' : 'BEGIN', params: [], prepare: false };
        try {
          results = await runBatch(client, [begin, ...lead, ...tx.statements]);
          response = await finish(results.slice(lead.length + 1), more);
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
      // As PostgREST: a body's schema is named when it was chosen by a profile header, or could
      // have been (more than one exposed schema).
      if (response.headers['content-type'] && (ctx.profile || schemas.length > 1)) {
        response.headers['content-profile'] = ctx.schema;
      }
      return response;
    } catch (error) {
      if (connectionLost(error) || (!isPgError(error) && !(error instanceof ApiError)))
        broken ??= error as Error;
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

  function renderRows(
    ctx: RequestContext,
    row: ResultRow,
    offset: number,
    total: number | undefined,
    kind: 'read' | 'write',
  ): RestResponse {
    const n = row.n;
    if (ctx.media === 'object' && n !== 1) throw singularError(n);
    const headers: Record<string, string> = {};
    const rangeText = n > 0 ? `${offset}-${offset + n - 1}` : '*';
    headers['content-range'] = `${rangeText}/${total ?? '*'}`;
    let status = 200;
    if (kind === 'read' && total !== undefined) {
      if (offset > total) {
        throw apiError(
          416,
          'PGRST103',
          'Requested range not satisfiable',
          `An offset of ${offset} was requested, but there are only ${total} rows.`,
          null,
          { 'content-range': `*/${total}` },
        );
      }
      if (n < total) status = 206;
    }
    let body: string;
    if (ctx.media === 'csv') {
      headers['content-type'] = CSV_TYPE;
      body = row.body;
    } else if (ctx.media === 'geojson') {
      headers['content-type'] = GEOJSON_TYPE;
      body = row.body;
    } else if (ctx.media === 'object') {
      headers['content-type'] = ctx.stripNulls ? OBJECT_STRIPPED_TYPE : OBJECT_TYPE;
      body = row.body.slice(1, -1);
    } else {
      headers['content-type'] = ctx.stripNulls ? ARRAY_STRIPPED_TYPE : JSON_TYPE;
      body = row.body;
    }
    return { status, headers, body: ctx.method === 'HEAD' ? '' : body };
  }

  return {
    handle,
    async reloadSchema() {
      await loadCache(performance.now());
    },
    async close() {
      closed = true;
      if (listenerRetry) clearTimeout(listenerRetry);
      const l = listener;
      listener = undefined;
      await l?.end().catch(() => {});
    },
  };
}

const RESERVED = new Set(['select', 'order', 'limit', 'offset', 'and', 'or', 'columns', 'on_conflict']);

function safeBody(ctx: { request: RestRequest; headers: Record<string, string> }): unknown {
  try {
    const body = parseBody(ctx.request.body, bodyFormat(ctx.headers['content-type']));
    return Array.isArray(body) ? body[0] : body;
  } catch {
    return undefined;
  }
}

/**
 * Text for a quoted header parameter. A verifier's message may quote the token (its `alg`), so
 * anything but printable ASCII (CR/LF would split the header; Node refuses such a header outright)
 * and the quote itself are replaced.
 */
const headerText = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').replaceAll('"', "'");

const guarded = new WeakSet<pg.PoolClient>();

/** `a=1; b=2` as `{"a": "1", "b": "2"}`: names lose leading spaces, values stay as sent, the last of a name wins. */
function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of header?.split(';') ?? []) {
    if (!part.trim()) continue;
    const at = part.indexOf('=');
    cookies[(at < 0 ? part : part.slice(0, at)).trimStart()] = at < 0 ? '' : part.slice(at + 1);
  }
  return cookies;
}

/**
 * A response as the statement's `response.headers` / `response.status` settings amend it, as in
 * PostgREST: the status replaces ours, and each header replaces ours of the same name. Settings
 * it cannot use are 500 PGRST111 / PGRST112 (the transaction has committed by then, as there).
 */
function withResponseGucs(
  response: RestResponse,
  headers: string | null,
  status: string | null,
): RestResponse {
  if (headers === null && status === null) return response;
  const out = { ...response, headers: { ...response.headers } };
  if (headers !== null) {
    let list: unknown;
    try {
      list = JSON.parse(headers);
    } catch {
      list = undefined;
    }
    const valid =
      Array.isArray(list) &&
      list.every(
        (h) => isObject(h) && Object.keys(h).length === 1 && typeof Object.values(h)[0] === 'string',
      );
    if (!valid) {
      throw apiError(
        500,
        'PGRST111',
        'response.headers guc must be a JSON array composed of objects with a single key and a string value',
      );
    }
    const fromGuc: Record<string, string> = {};
    const cookies: string[] = [];
    for (const h of list as Record<string, string>[]) {
      const [name, value] = Object.entries(h)[0]!;
      const key = name.toLowerCase();
      // A header Node cannot send (CR/LF, non-Latin-1) would fail the whole response.
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(key) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) {
        throw apiError(
          500,
          'PGRST111',
          'response.headers guc must be a JSON array composed of objects with a single key and a string value',
        );
      }
      if (key === 'set-cookie') cookies.push(value);
      else fromGuc[key] = fromGuc[key] === undefined ? value : `${fromGuc[key]}, ${value}`;
    }
    Object.assign(out.headers, fromGuc);
    if (cookies.length) out.cookies = cookies;
  }
  if (status !== null) {
    const code = /^\s*\d{3}\s*$/.test(status) ? Number(status) : Number.NaN;
    if (!(code >= 100 && code <= 599)) {
      throw apiError(500, 'PGRST112', 'response.status guc must be a valid status code');
    }
    out.status = code;
  }
  return out;
}

/** Database errors that may come from a stale schema cache rather than from the request. */
const staleCache = new WeakSet<object>();

interface SchemaCheck {
  pending: boolean;
}

/** The connection, not the statement, failed: socket errors, or the server ending the session. */
function connectionLost(error: unknown): boolean {
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

type More = (statement: Statement) => Promise<BatchResult>;

const resultRow = (result: BatchResult): ResultRow => {
  const [total = null, n = '0', body = '[]'] = result.rows[0] ?? [];
  return { total, n: Number(n), body: body ?? '[]' };
};

interface ResultRow {
  total: string | null;
  n: number;
  body: string;
}

const nullableNumber = (v: string | null) => (v === null ? undefined : Number(v));

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The root serves only the OpenAPI document (as `application/openapi+json` or JSON). */
function negotiateOpenApi(accept: string | undefined): Media {
  if (!accept) return 'json';
  for (const part of accept.split(',')) {
    const type = part.split(';')[0]!.trim().toLowerCase();
    if (['application/openapi+json', 'application/json', '*/*', 'application/*'].includes(type))
      return 'json';
  }
  throw notAcceptable(accept);
}

function singularError(n: number) {
  return apiError(
    406,
    'PGRST116',
    'Cannot coerce the result to a single JSON object',
    `The result contains ${n} rows`,
  );
}

function checkPut(query: ParsedQuery, relation: Relation, body: Record<string, unknown>) {
  const root = query.levels.get('')!;
  if (root.limit !== undefined || root.offset !== undefined) {
    throw apiError(400, 'PGRST114', 'limit/offset querystring parameters are not allowed for PUT');
  }
  const filters = root.conditions;
  const byColumn = new Map<string, string>();
  for (const c of filters) {
    if (c.kind !== 'filter' || c.op !== 'eq' || c.negate || c.field.json.length) break;
    byColumn.set(c.field.name, c.value as string);
  }
  const ok =
    relation.pk.length > 0 &&
    byColumn.size === filters.length &&
    byColumn.size === relation.pk.length &&
    relation.pk.every((c) => byColumn.has(c));
  if (!ok) {
    throw apiError(
      405,
      'PGRST105',
      "Filters must include all and only primary key columns with 'eq' operators",
    );
  }
  for (const c of relation.pk) {
    const v = body[c];
    if (v === undefined || String(v) !== byColumn.get(c)) {
      throw apiError(400, 'PGRST115', 'Payload values do not match URL in primary key column(s)');
    }
  }
}

function renderError(
  error: unknown,
  authenticated: boolean,
  onError?: (error: unknown) => void,
): RestResponse {
  let apiErr: ApiError;
  if (error instanceof ApiError) apiErr = error;
  else if (isPgError(error)) apiErr = fromPgError(error, authenticated);
  else {
    onError?.(error);
    const code = (error as { code?: string })?.code;
    const connection = typeof code === 'string' && /^E[A-Z]+/.test(code);
    apiErr = connection
      ? apiError(503, 'PGRST001', 'Database client error. Retrying the connection.')
      : apiError(500, 'PGRST000', 'Internal server error');
  }
  if (apiErr.status >= 500) onError?.(error);
  return {
    status: apiErr.status,
    headers: { 'content-type': JSON_TYPE, ...apiErr.headers },
    body: JSON.stringify(apiErr.body),
  };
}
