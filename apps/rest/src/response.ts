import type { BatchResult } from './batch.js';
import { ApiError, apiError, fromPgError, isObject, isPgError, parseJson, sendableHeader } from './errors.js';
import type { RequestContext, RestResponse } from './request-context.js';

/** Response shaping: content types, Content-Range, singular bodies, `response.*` settings, errors. */

export const JSON_TYPE = 'application/json; charset=utf-8';
const OBJECT_TYPE = 'application/vnd.pgrst.object+json; charset=utf-8';
const OBJECT_STRIPPED_TYPE = 'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8';
const ARRAY_STRIPPED_TYPE = 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8';
const CSV_TYPE = 'text/csv; charset=utf-8';
const GEOJSON_TYPE = 'application/geo+json; charset=utf-8';

export const resultRow = (result: BatchResult): ResultRow => {
  const [total = null, n = '0', body = '[]'] = result.rows[0] ?? [];
  return { total, n: Number(n), body: body ?? '[]' };
};

export interface ResultRow {
  total: string | null;
  n: number;
  body: string;
}

export const nullableNumber = (v: string | null) => (v === null ? undefined : Number(v));

export function renderRows(
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
  // An offset past the rows counted is 416 with the error as its body, and otherwise the answer
  // the rows would have had: its headers, its Content-Type too (PostgREST Response.hs, rangeStatusHeader).
  let outOfRange: string | undefined;
  if (kind === 'read' && total !== undefined) {
    if (offset > total) {
      status = 416;
      outOfRange = JSON.stringify(
        apiError(
          416,
          'PGRST103',
          'Requested range not satisfiable',
          `An offset of ${offset} was requested, but there are only ${total} rows.`,
        ).body,
      );
    } else if (n < total) status = 206;
  }
  let body: string;
  if (ctx.media === 'csv') {
    headers['content-type'] = CSV_TYPE;
    body = row.body;
  } else if (ctx.media === 'geojson') {
    headers['content-type'] = GEOJSON_TYPE;
    body = row.body;
  } else {
    headers['content-type'] = jsonType(ctx);
    body = ctx.media === 'object' ? row.body.slice(1, -1) : row.body;
  }
  return { status, headers, body: ctx.method === 'HEAD' ? '' : (outOfRange ?? body) };
}

/** The Content-Type of a JSON answer: the vendored type `Accept` chose, else plain JSON. */
export function jsonType(ctx: RequestContext): string {
  if (ctx.media === 'object') return ctx.stripNulls ? OBJECT_STRIPPED_TYPE : OBJECT_TYPE;
  return ctx.stripNulls ? ARRAY_STRIPPED_TYPE : JSON_TYPE;
}

export function singularError(n: number) {
  return apiError(
    406,
    'PGRST116',
    'Cannot coerce the result to a single JSON object',
    `The result contains ${n} rows`,
  );
}

/**
 * A response as the statement's `response.headers` / `response.status` settings amend it, as in
 * PostgREST: the status replaces ours, and each header replaces ours of the same name. Settings
 * it cannot use are 500 PGRST111 / PGRST112 (the transaction has committed by then, as there).
 */
export function withResponseGucs(
  response: RestResponse,
  headers: string | null,
  status: string | null,
): RestResponse {
  if (headers === null && status === null) return response;
  const out = { ...response, headers: { ...response.headers } };
  if (headers !== null) {
    const list = parseJson(headers);
    const valid =
      Array.isArray(list) &&
      list.every(
        (h) => isObject(h) && Object.keys(h).length === 1 && typeof Object.values(h)[0] === 'string',
      );
    if (!valid) {
      throw invalidHeadersSetting();
    }
    const fromGuc: Record<string, string> = {};
    const cookies: string[] = [];
    for (const h of list as Record<string, string>[]) {
      const [name, value] = Object.entries(h)[0]!;
      const key = name.toLowerCase();
      if (!sendableHeader([key, value])) throw invalidHeadersSetting();
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

const invalidHeadersSetting = () =>
  apiError(
    500,
    'PGRST111',
    'response.headers guc must be a JSON array composed of objects with a single key and a string value',
  );

/** `max-affected` (with `handling=strict`) was exceeded: nothing is committed. */
export const maxAffectedExceeded = (n: number) =>
  apiError(
    400,
    'PGRST124',
    'Query result exceeds max-affected preference constraint',
    `The query affects ${n} rows`,
  );

export function errorResponse(
  error: unknown,
  authenticated: boolean,
  onError?: (error: unknown) => void,
): RestResponse {
  let apiErr: ApiError;
  if (error instanceof ApiError) apiErr = error;
  else if (isPgError(error)) apiErr = fromPgError(error, authenticated);
  else {
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
