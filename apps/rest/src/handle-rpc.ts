import { ApiError, apiError, cacheMiss, isObject, isPgError } from './errors.js';
import { countFor, pageRange } from './handle-read.js';
import { findRawRoutine, findRoutine, planRpc, routineCall } from './plan-rpc.js';
import { decodeQueryString, type ParsedQuery, parseQuery } from './query-parser.js';
import {
  bodyFormat,
  bodyRows,
  holdsRows,
  isRawFormat,
  parseBody,
  RAW_PARAMETER_TYPE,
} from './request-body.js';
import {
  planContext,
  planned,
  type RequestContext,
  type RestRequest,
  type RestResponse,
} from './request-context.js';
import { APPLIED_BY, negotiate } from './request-headers.js';
import {
  jsonType,
  maxAffectedExceeded,
  nullableNumber,
  renderRows,
  resultRow,
  singularError,
} from './response.js';
import { qualifiedKey, type Routine } from './schema-cache.js';
import { staleCache, transaction } from './transaction.js';

/** GET and POST on /rpc/fn: the function a request calls, its arguments, and its result. */

export async function rpc(request: RequestContext, name: string): Promise<RestResponse> {
  const { method, prefer } = request;
  let ctx = request;
  const candidates = ctx.current.routines.get(qualifiedKey(ctx.schema, name)) ?? [];
  const argNames = new Set(candidates.flatMap((r) => r.args.map((a) => a.name)).filter(Boolean));
  const readMethod = method === 'GET' || method === 'HEAD';
  if (!readMethod && method !== 'POST')
    throw apiError(405, 'PGRST101', 'Only GET or POST requests are allowed for RPC');
  const format = readMethod ? undefined : safeFormat(ctx);
  if (!candidates.length) {
    if (format && isRawFormat(format) && prefer.params !== 'single-object') {
      findRawRoutine(ctx.current, ctx.schema, name, RAW_PARAMETER_TYPE[format]);
    }
    const given = readMethod
      ? decodeQueryString(ctx.request.rawQuery)
          .map(([k]) => k)
          .filter((k) => !RESERVED.has(k.split('.').pop()!))
      : Object.keys((ctx.request.body?.length && (safeBody(ctx) as object)) || {});
    findRoutine(ctx.current, ctx.schema, name, given, prefer.params === 'single-object', format === 'json');
  }
  let query: ParsedQuery;
  try {
    query = parseQuery(ctx.request.rawQuery, readMethod ? argNames : undefined);
  } catch (error) {
    // A parameter the cached signature lacks may be an argument of a newer definition.
    throw error instanceof ApiError ? cacheMiss(error) : error;
  }
  const { args, body, text, rawParameterType, unread } = callArguments(ctx, query, candidates);
  const singleObject = prefer.params === 'single-object';
  const { routine, singleParam, noArguments } = rawParameterType
    ? findRawRoutine(ctx.current, ctx.schema, name, rawParameterType)
    : {
        ...findRoutine(
          ctx.current,
          ctx.schema,
          name,
          singleObject || !args ? [] : Object.keys(args),
          singleObject || !args,
          format === 'json',
        ),
        noArguments: false,
      };
  // Its result's own media type counts only for one value and the default select (PostgREST
  // Plan.hs negotiateContent looks the function's handler up only then; mediaHandlers: NOT proretset).
  const handler = !routine.setof && isDefaultSelect(query) ? routine.media?.type : undefined;
  const negotiated = negotiate(ctx.headers.accept, handler);
  ctx = { ...ctx, media: negotiated.media, stripNulls: negotiated.stripNulls };
  const { range, rpcPlan } = planned(ctx, false, () => {
    const plan = planContext(ctx, query);
    // By GET the single parameter gets the query's arguments as one object (PostgREST jsonRpcParams).
    const call = noArguments
      ? routineCall(plan, routine, {}, undefined, false)
      : routineCall(plan, routine, args, readMethod && singleParam ? args : body, singleParam, text, unread);
    const range = pageRange(ctx, query);
    return { range, rpcPlan: planRpc(plan, routine, call, range, prefer.count, negotiated.media === 'raw') };
  });
  const readOnly = readMethod || routine.volatility !== 'volatile';
  const counting = rpcPlan.planned ? [rpcPlan.planned] : [];
  // `max-affected` with handling=strict counts the rows of the page a set-returning function
  // returns, and one for any other (Statements.hs prepareCall's page_total; PostgREST 13's PGRST128
  // for those is not 12.2's).
  const maxAffected = prefer.handling === 'strict' ? prefer.maxAffected : undefined;
  const explicit = counting.length > 0 || (!readOnly && ctx.media === 'object') || maxAffected !== undefined;
  const tx = {
    readOnly,
    explicit,
    statements: [...counting, rpcPlan.statement],
    applies: APPLIED_BY.rpc,
    ...(routine.isolation ? { isolation: routine.isolation } : {}),
    ...(routine.settings ? { settings: routine.settings } : {}),
  };
  return rpcTransaction(ctx, tx, !readMethod && readOnly, async (results, more) => {
    // The call's one row gives a void result its range, counted as one (Response.hs DbCallResult).
    if (rpcPlan.shape === 'void') {
      if (maxAffected !== undefined && maxAffected < 1) throw maxAffectedExceeded(1);
      return { status: 204, headers: { 'content-range': `0-0/${prefer.count ? 1 : '*'}` }, body: '' };
    }
    const row = resultRow(results[results.length - 1]!);
    const total = await countFor(ctx, more, rpcPlan, results[0], row);
    const affected = routine.setof ? row.n : 1;
    if (maxAffected !== undefined && affected > maxAffected) throw maxAffectedExceeded(affected);
    // A function of one value or row has a Content-Range too (`0-0/1` with count=exact), from
    // which supabase-js reads `count`.
    const single = (body: string | Buffer, contentType = jsonType(ctx)): RestResponse => ({
      status: 200,
      headers: {
        'content-type': contentType,
        'content-range': `${row.n > 0 ? `0-${row.n - 1}` : '*'}/${total ?? nullableNumber(row.total) ?? '*'}`,
      },
      body: method === 'HEAD' ? '' : body,
    });
    if (rpcPlan.shape === 'scalar' && negotiated.contentType) {
      const text: string = row.body ?? '';
      return single(routine.media?.binary ? Buffer.from(text, 'hex') : text, negotiated.contentType);
    }
    // As PostgREST (Query.hs failNotSingular): one value or row under the singular type too.
    if (ctx.media === 'object' && row.n !== 1) throw singularError(row.n);
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
 * What a call passes: for GET the query's arguments (repeated ones fill a variadic argument,
 * `?v=a&v=b`); for POST the body's object, or under a raw content type the body as it is, for the
 * function whose one unnamed parameter has the matching type.
 */
function callArguments(
  ctx: RequestContext,
  query: ParsedQuery,
  candidates: readonly Routine[],
): {
  args?: Record<string, unknown>;
  body?: unknown;
  text?: string;
  rawParameterType?: string;
  /** The arguments are Postgres's to read from `text`, which it cannot take as rows. */
  unread?: boolean;
} {
  // Pairs, of the query or of a form, as PostgREST's jsonRpcParams reads them: a repeated key
  // fills a variadic argument, else its last value counts.
  const collect = (pairs: readonly (readonly [string, string])[]) => {
    const variadic = new Set(candidates.flatMap((r) => r.args.filter((a) => a.variadic).map((a) => a.name)));
    const collected = new Map<string, unknown>();
    for (const [k, v] of pairs) {
      collected.set(k, variadic.has(k) ? [...((collected.get(k) as string[] | undefined) ?? []), v] : v);
    }
    return Object.fromEntries(collected);
  };
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return { args: collect(query.rawParams) };
  const format = bodyFormat(ctx.headers['content-type'], true);
  if (isRawFormat(format)) {
    // Under params=single-object a raw body goes as sent to the one json/jsonb parameter, as any
    // other body does (PostgREST Plan.hs callReadPlan: payRaw; Postgres reads it as json or fails).
    if (ctx.prefer.params === 'single-object') return { text: ctx.request.body?.toString() ?? '' };
    return { body: parseBody(ctx.request.body, format), rawParameterType: RAW_PARAMETER_TYPE[format] };
  }
  if (format === 'form') {
    const pairs = decodeQueryString(ctx.request.body?.toString() ?? '', true);
    return { args: collect(pairs), body: Object.fromEntries(pairs) };
  }
  // A JSON body's text, decoded once: parsed here, and passed on whole to a single json parameter.
  const text = format === 'json' && ctx.request.body?.length ? ctx.request.body.toString() : undefined;
  const named = query.columns && format === 'json' && ctx.prefer.params !== 'single-object';
  let body: unknown;
  if (named) {
    // With `columns=` PostgREST hands the body to Postgres unread (ApiRequest.hs getPayload: RawJSON):
    // one that is no object or list of objects, or no JSON, is Postgres's error when it reads the
    // arguments from it, so each is read from the text sent.
    try {
      body = parseBody(text ?? '', format);
    } catch {}
    if (!holdsRows(body)) {
      return {
        args: Object.fromEntries(query.columns!.map((c) => [c, null])),
        text: text ?? '',
        unread: true,
      };
    }
  } else {
    body = ctx.request.body?.length ? parseBody(text ?? ctx.request.body, format) : {};
  }
  // `columns=` names the arguments: other keys are dropped, a missing one is NULL (PostgREST
  // ApiRequest.hs getPayload: the columns are the keys, read from the body by json_to_record).
  if (named) {
    const first = (Array.isArray(body) ? body[0] : body) ?? {};
    const args = Object.fromEntries(
      query.columns.map((c) => [c, isObject(first) && Object.hasOwn(first, c) ? first[c] : null]),
    );
    return { args, body, text };
  }
  // As PostgREST 12 (ApiRequest payloadAttributes): a list must hold objects of the same keys, and
  // its first gives the arguments (json_to_recordset … LIMIT 1).
  if (Array.isArray(body) && (format === 'json' || format === 'csv')) {
    return { args: bodyRows(body, true)[0] ?? {}, body, text };
  }
  // Any other JSON value is an empty list: no arguments, and `[]` for a single json parameter,
  // under params=single-object too (PostgREST payloadAttributes: emptyPJArray is the payload).
  if (format === 'json' && !isObject(body)) {
    return { args: {}, body: [], text: '[]' };
  }
  return isObject(body) ? { args: body, body, text } : { body, text };
}

/** No `select`, or `select=*` alone (PostgREST Plan.hs hasDefaultSelect). */
const isDefaultSelect = (query: ParsedQuery) => query.select.length === 1 && query.select[0]!.kind === 'star';

export const RESERVED = new Set([
  'select',
  'order',
  'limit',
  'offset',
  'and',
  'or',
  'columns',
  'on_conflict',
]);

/** The body's format, or undefined for a Content-Type no body format has (refused later). */
function safeFormat(ctx: RequestContext) {
  try {
    return bodyFormat(ctx.headers['content-type'], true);
  } catch {
    return undefined;
  }
}

function safeBody(ctx: { request: RestRequest; headers: Record<string, string> }): unknown {
  try {
    const body = parseBody(ctx.request.body, bodyFormat(ctx.headers['content-type']));
    return Array.isArray(body) ? body[0] : body;
  } catch {
    return undefined;
  }
}
