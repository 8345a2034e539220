import { createJwtVerifier, type JwtKeys } from '@supaplane/jwt';
import pg from 'pg';
import { type AuthSettings, authenticate } from './authenticate.js';
import { ApiError, isPgError } from './errors.js';
import type { EngineSettings, Identity, RestRequest, RestResponse, SchemaCheck } from './request-context.js';
import { lowerCase, type TxEnd } from './request-headers.js';
import { errorResponse } from './response.js';
import { route } from './route.js';
import { loadSchemaCache, SCHEMA_FINGERPRINT, type SchemaCache } from './schema-cache.js';
import { connectionLost, staleCache } from './transaction.js';

export type { RestRequest, RestResponse } from './request-context.js';

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

export interface RestEngine {
  handle(request: RestRequest): Promise<RestResponse>;
  /** Forces a schema cache reload (what `NOTIFY pgrst, 'reload schema'` does). */
  reloadSchema(): Promise<void>;
  close(): Promise<void>;
}

const RETRY_CODES = new Set(['42P01', '42703', '42883']);
const MIN_RELOAD_INTERVAL_MS = 50;
const DEFAULT_SCHEMA_CHECK_INTERVAL_MS = 3000;

/** A PostgREST-12-compatible engine over one project database. */
export function createRestEngine(options: RestEngineOptions): RestEngine {
  const { pool } = options;
  const schemas = options.schemas.length ? options.schemas : ['public'];
  const verifier = options.jwtSecret || options.jwks?.keys.length ? createJwtVerifier(options) : undefined;
  const auth: AuthSettings = {
    anonRole: options.anonRole === undefined ? 'anon' : options.anonRole,
    ...(verifier ? { verifier } : {}),
  };
  const settings: EngineSettings = {
    pool,
    schemas,
    ...(options.maxRows !== undefined ? { maxRows: options.maxRows } : {}),
    ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    txEnd: options.txEnd ?? 'commit',
    openApiDocuments: new Map(),
  };
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
      identity = await authenticate(headers, auth);
      for (let attempt = 0; ; attempt++) {
        try {
          const current = await loadCache(attempt && reload ? started : undefined);
          const check: SchemaCheck = { pending: attempt === 0 && checkDue() };
          let response: RestResponse;
          try {
            response = await route(settings, current, request, headers, identity, check);
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
      return errorResponse(error, identity?.authenticated ?? false, options.onError);
    }
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
