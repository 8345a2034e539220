import { createJwtVerifier, type JwtKeys } from '@supaplane/jwt';
import type pg from 'pg';
import { type AuthSettings, authenticate } from './authenticate.js';
import { ApiError, isPgError } from './errors.js';
import type { EngineSettings, Identity, RestRequest, RestResponse, SchemaCheck } from './request-context.js';
import { lowerCase, type TxEnd } from './request-headers.js';
import { errorResponse } from './response.js';
import { route } from './route.js';
import type { SchemaCache } from './schema-cache.js';
import { createSchemaCacheLoader } from './schema-cache-loader.js';
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
  readonly sharedKeys?: JwtKeys['sharedKeys'];
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
  /**
   * PostgREST `db-aggregates-enabled`: allow `avg() count() max() min() sum()` in `select`. Default
   * false: any use of them is 400 PGRST123, as in PostgREST.
   */
  readonly aggregatesEnabled?: boolean;
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

/** A PostgREST-12-compatible engine over one project database. */
export function createRestEngine(options: RestEngineOptions): RestEngine {
  const { pool } = options;
  const schemas = options.schemas.length ? options.schemas : ['public'];
  const hasKeys = options.jwtSecret || options.jwks?.keys.length || options.sharedKeys?.length;
  const verifier = hasKeys ? createJwtVerifier(options) : undefined;
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
    aggregatesEnabled: options.aggregatesEnabled ?? false,
    openApiDocuments: new Map(),
  };
  const schemaCache = createSchemaCacheLoader({
    pool,
    schemas,
    listen: options.listenForReload !== false,
    ...(options.schemaCheckIntervalMs !== undefined
      ? { checkIntervalMs: options.schemaCheckIntervalMs }
      : {}),
    ...(options.onSchemaLoad ? { onLoad: options.onSchemaLoad } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });

  async function handle(request: RestRequest): Promise<RestResponse> {
    const started = performance.now();
    let identity: Identity | undefined;
    let reload = false;
    try {
      const headers = lowerCase(request.headers);
      identity = await authenticate(headers, auth);
      for (let attempt = 0; ; attempt++) {
        try {
          const loaded = await schemaCache.load(attempt && reload ? started : undefined);
          const current = headers.prefer?.includes('timezone=')
            ? await schemaCache.withTimezones(loaded)
            : loaded;
          const check: SchemaCheck = { pending: attempt === 0 && schemaCache.checkDue() };
          let response: RestResponse | undefined;
          let failure: unknown;
          try {
            response = await route(settings, current, request, headers, identity, check);
          } catch (error) {
            failure = error;
          }
          // Answered or refused without a transaction to compare the fingerprint (OPTIONS, a cached
          // OpenAPI document, a planning error): compare now. A cache miss reloads anyway.
          const planned = response !== undefined || (failure instanceof ApiError && !failure.cacheMiss);
          if (check.pending && planned && (await schemaCache.schemaChanged(current))) {
            const stale = new Error('schema cache older than the catalogs');
            staleCache.add(stale);
            throw stale;
          }
          if (response === undefined) throw failure;
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
      await schemaCache.load(performance.now());
    },
    close: () => schemaCache.close(),
  };
}
