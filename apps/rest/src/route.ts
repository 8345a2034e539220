import { openApiDocument, type Privileges, privilegesStatement } from './openapi.js';
import { ApiError, apiError, cacheMiss, type ErrorBody } from './errors.js';
import { read } from './handle-read.js';
import { RESERVED, rpc } from './handle-rpc.js';
import { write } from './handle-write.js';
import { findRelation } from './plan-context.js';
import { findRoutine } from './plan-rpc.js';
import { decodeQueryString } from './query-parser.js';
import type {
  EngineSettings,
  Identity,
  RequestContext,
  RestRequest,
  RestResponse,
  SchemaCheck,
} from './request-context.js';
import {
  acceptedTypes,
  invalidPath,
  type Media,
  negotiate,
  notAcceptable,
  readPreferences,
  safeDecode,
} from './request-headers.js';
import { qualifiedKey, type SchemaCache } from './schema-cache.js';
import { transaction } from './transaction.js';

/** Which handler answers a request (by method and path), OPTIONS, and the root's OpenAPI document. */

export async function route(
  engine: EngineSettings,
  current: SchemaCache,
  request: RestRequest,
  headers: Record<string, string>,
  identity: Identity,
  check: SchemaCheck,
): Promise<RestResponse> {
  const method = request.method.toUpperCase();
  const path = request.path.replace(/^\/rest\/v1(?=\/|$)/, '') || '/';
  // As wai's pathInfo: `/` is the root, and every other `/` starts a segment, an empty one included
  // (`/items/`, `//items`), which no resource has.
  const segments =
    path === '/'
      ? []
      : path
          .replace(/^\//, '')
          .split('/')
          .map((s) => safeDecode(s));
  const readMethod = method === 'GET' || method === 'HEAD';
  const profileHeader = readMethod ? headers['accept-profile'] : headers['content-profile'];
  const schema = profileHeader ?? engine.schemas[0]!;
  if (!engine.schemas.includes(schema)) {
    throw apiError(406, 'PGRST106', `The schema must be one of the following: ${engine.schemas.join(', ')}`);
  }
  if (method === 'OPTIONS') return optionsResponse(current, schema, segments, request.rawQuery);
  if (!['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(method)) {
    throw unsupportedMethod(method);
  }
  const root = segments.length === 0;
  const isRpc = segments[0] === 'rpc' && segments.length === 2;
  // A function call negotiates once it knows the function (its result may have a media type); a
  // table's 406 is answered once the request is planned, as PostgREST negotiates after planning.
  let unacceptable: ApiError | undefined;
  const { media, stripNulls } = root
    ? { media: negotiateOpenApi(headers.accept), stripNulls: false }
    : isRpc
      ? { media: 'json' as const, stripNulls: false }
      : negotiateLater(headers.accept, (error) => {
          unacceptable = error;
        });
  const { prefer, invalid } = readPreferences(headers.prefer, engine.txEnd, current.timezones);
  const ctx: RequestContext = {
    current,
    request,
    headers,
    identity,
    method,
    schema,
    media,
    stripNulls,
    ...(profileHeader !== undefined || engine.schemas.length > 1 ? { contentProfile: schema } : {}),
    prefer,
    invalidPreferences: invalid,
    ...(unacceptable ? { notAcceptable: unacceptable } : {}),
    path,
    check,
    engine,
  };
  if (root) {
    if (!readMethod) throw unsupportedMethod(method);
    return openApi(ctx);
  }
  if (isRpc) return rpc(ctx, segments[1]!);
  if (segments.length !== 1) throw invalidPath();
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
  if (segments.length !== 1) throw invalidPath();
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

async function openApi(ctx: RequestContext): Promise<RestResponse> {
  const openApiCache = ctx.engine.openApiDocuments;
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
      ...(ctx.contentProfile ? { 'content-profile': ctx.contentProfile } : {}),
    },
    body: ctx.method === 'HEAD' ? '' : entry.body,
  };
}

/** A table's negotiation; a 406 goes to `deferred` and the answer is JSON meanwhile. */
function negotiateLater(accept: string | undefined, deferred: (error: ApiError) => void) {
  try {
    return negotiate(accept);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 406) throw error;
    deferred(error);
    return { media: 'json' as const, stripNulls: false };
  }
}

const unsupportedMethod = (method: string) => apiError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);

/** The root serves only the OpenAPI document (as `application/openapi+json` or JSON). */
function negotiateOpenApi(accept: string | undefined): Media {
  if (accept === undefined) return 'json';
  // PostgREST 12 (Plan.hs inspectPlan): any of these among the types as it decodes them.
  if (acceptedTypes(accept).some((type) => OPENAPI_TYPES.has(type))) return 'json';
  throw notAcceptable(accept);
}

const OPENAPI_TYPES = new Set(['application/openapi+json', 'application/json', '*/*']);
