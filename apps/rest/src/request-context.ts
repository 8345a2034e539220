import type { JwtClaims } from '@supaplane/jwt';
import type pg from 'pg';
import { newContext } from './plan-context.js';
import { aggregatesDisabled, type ParsedQuery, usesAggregates } from './query-parser.js';
import { ApiError } from './errors.js';
import { checkStrict, type Media, type Preferences, type TxEnd } from './request-headers.js';
import type { SchemaCache } from './schema-cache.js';

/** What one request is, and what every step of answering it (route, plan, transaction, response) reads. */

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

export interface Identity {
  readonly role: string;
  readonly claims: JwtClaims;
  readonly authenticated: boolean;
}

export interface SchemaCheck {
  pending: boolean;
}

/** The engine's settings that requests read. */
export interface EngineSettings {
  readonly pool: pg.Pool;
  /** Exposed schemas; the first is the default profile. */
  readonly schemas: readonly string[];
  readonly maxRows?: number;
  readonly statementTimeoutMs?: number;
  readonly txEnd: TxEnd;
  /** PostgREST `db-aggregates-enabled`: `sum()`, `count()`, … in `select`; off, they are PGRST123. */
  readonly aggregatesEnabled: boolean;
  /** OpenAPI documents by role and schema, valid for one schema cache load. */
  readonly openApiDocuments: Map<string, { loadedAt: number; body: string }>;
}

export interface RequestContext {
  readonly current: SchemaCache;
  readonly request: RestRequest;
  readonly headers: Record<string, string>;
  readonly identity: Identity;
  readonly method: string;
  readonly schema: string;
  readonly media: Media;
  readonly stripNulls: boolean;
  /**
   * The schema a response body names in Content-Profile, as PostgREST: when a profile header chose
   * it, or could have (more than one exposed schema).
   */
  readonly contentProfile?: string;
  readonly prefer: Preferences;
  /** Prefer's tokens PostgREST does not know: PGRST122 under handling=strict, once planned. */
  readonly invalidPreferences: readonly string[];
  /** A table's Accept no answer can meet (406), answered once the request is planned. */
  readonly notAcceptable?: ApiError;
  readonly path: string;
  /** Whether this request still has to compare the catalogs' fingerprint with `current`'s. */
  readonly check: SchemaCheck;
  readonly engine: EngineSettings;
}

/**
 * What PostgREST 12.2 answers once a request is planned (Plan.hs wrappedReadPlan, mutateReadPlan,
 * callReadPlan): a 406 for its Accept and a PGRST122 for its preferences, the latter first for a
 * write.
 */
export function settlePlan(ctx: RequestContext, write: boolean) {
  if (write) checkStrict(ctx.prefer, ctx.invalidPreferences);
  if (ctx.notAcceptable) throw ctx.notAcceptable;
  if (!write) checkStrict(ctx.prefer, ctx.invalidPreferences);
}

/**
 * An error of the planner: one PostgREST would meet only in the database (a SQLSTATE rather than
 * a PGRST code: 42703, pg-safeupdate's 21000) waits behind {@link settlePlan}'s.
 */
export function planningFailed(ctx: RequestContext, write: boolean, error: unknown): never {
  if (error instanceof ApiError && !error.body.code.startsWith('PGRST')) settlePlan(ctx, write);
  throw error;
}

/** `planning()` with {@link planningFailed} on its errors and {@link settlePlan} after it. */
export function planned<T>(ctx: RequestContext, write: boolean, planning: () => T): T {
  let result: T;
  try {
    result = planning();
  } catch (error) {
    planningFailed(ctx, write, error);
  }
  settlePlan(ctx, write);
  return result;
}

/** The planner's context for a request: its cache, its query and the body format it answers in. */
export function planContext(ctx: RequestContext, query: ParsedQuery) {
  if (!ctx.engine.aggregatesEnabled && usesAggregates(query.select)) throw aggregatesDisabled();
  const plan = newContext(ctx.current, query);
  plan.csv = ctx.media === 'csv';
  plan.geojson = ctx.media === 'geojson';
  plan.stripNulls = ctx.stripNulls;
  return plan;
}
