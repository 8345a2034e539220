import type { BatchResult } from './batch.js';
import { apiError } from './errors.js';
import { planRead } from './plan-read.js';
import { type ParsedQuery, parseQuery } from './query-parser.js';
import { planContext, planned, type RequestContext, type RestResponse } from './request-context.js';
import { nullableNumber, renderRows, type ResultRow, resultRow } from './response.js';
import type { Relation } from './schema-cache.js';
import { qualified, type Statement } from './sql.js';
import { type More, transaction } from './transaction.js';

/** GET and HEAD on a table or view, and the paging and counting function results share. */

export function pageRange(ctx: RequestContext, query: ParsedQuery) {
  const root = query.levels.get('')!;
  let offset = root.offset ?? 0;
  let limit = root.limit;
  // As PostgREST (ApiRequest.hs), only a GET reads the Range header; HEAD and writes ignore it.
  const header = ctx.method === 'GET' ? ctx.headers.range : undefined;
  // `first-last` only (RangeQuery.hs): `items=0-1` is no range; spaces around it are HTTP's own.
  const m = header ? /^\s*(\d+)-(\d*)\s*$/.exec(header) : null;
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
    // No row in common with limit/offset is an invalid range, but for `limit=0`, the one empty
    // range PostgREST allows (its isInvalidRange, named NegativeLimit as the header is no empty range).
    if (newEnd < offset && limit !== 0) {
      throw apiError(
        416,
        'PGRST103',
        'Requested range not satisfiable',
        'Limit should be greater than or equal to zero.',
      );
    }
    limit = Number.isFinite(newEnd) ? Math.max(0, newEnd - offset + 1) : undefined;
  }
  const { maxRows } = ctx.engine;
  if (maxRows !== undefined && (limit === undefined || limit > maxRows)) limit = maxRows;
  return limit === undefined ? { offset } : { offset, limit };
}

export async function read(ctx: RequestContext, relation: Relation): Promise<RestResponse> {
  const { range, statement } = planned(ctx, false, () => {
    const query = parseQuery(ctx.request.rawQuery);
    const plan = planContext(ctx, query);
    const range = pageRange(ctx, query);
    return {
      range,
      statement: planRead(plan, relation, qualified(relation.schema, relation.name), range, ctx.prefer.count),
    };
  });
  const counting = statement.planned ? [statement.planned] : [];
  const tx = { readOnly: true, explicit: counting.length > 0, statements: [...counting, statement] };
  return transaction(ctx, tx, async (results, more) => {
    const row = resultRow(results[results.length - 1]!);
    const total = await countFor(ctx, more, statement, results[0], row);
    const response = renderRows(ctx, row, range.offset, total ?? nullableNumber(row.total), 'read');
    response.headers['content-location'] = canonicalLocation(relation.name, ctx.request.rawQuery);
    return response;
  });
}

/**
 * `/<relation>?<query>` as PostgREST 12.2 writes Content-Location (ApiRequest/QueryParams.hs
 * qsCanonical): the pairs split on `&` and `;` with `+` as a space, sorted by name (stably), a
 * repeated name's values comma-joined, and encoded as Network.HTTP's urlEncode does each byte: kept
 * when an ASCII letter, digit or `-_.~`, else `%XX`, a byte past ASCII as the UTF-8 of its Latin-1
 * character. A name outside ASCII is percent-encoded, as a header cannot carry it.
 */
function canonicalLocation(name: string, rawQuery: string): string {
  const pairs = rawQuery
    .split(/[&;]/)
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const [k, v] = eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)];
      return [percentBytes(k), percentBytes(v)] as const;
    });
  pairs.sort(([a], [b]) => Buffer.compare(a, b));
  const joined: string[] = [];
  for (let i = 0; i < pairs.length; ) {
    const key = pairs[i]![0];
    const values: string[] = [];
    for (; i < pairs.length && pairs[i]![0].equals(key); i++) values.push(urlEncodeBytes(pairs[i]![1]));
    joined.push(`${urlEncodeBytes(key)}=${values.join(',')}`);
  }
  const path = /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name);
  return `/${path}${joined.length ? `?${joined.join('&')}` : ''}`;
}

/** A query string part's bytes: `+` a space, `%XX` its byte (a malformed escape kept as written). */
function percentBytes(part: string): Buffer {
  const text = part.replaceAll('+', ' ');
  const out: number[] = [];
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const hex = bytes[i] === 0x25 ? bytes.subarray(i + 1, i + 3).toString('latin1') : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else out.push(bytes[i]!);
  }
  return Buffer.from(out);
}

/** Each byte as urlEncode writes it (see canonicalLocation), looked up rather than worked out per byte. */
const URL_ENCODED = Array.from({ length: 256 }, (_, b) => {
  const ch = String.fromCharCode(b);
  if (/[A-Za-z0-9\-_.~]/.test(ch)) return ch;
  return b < 0x80
    ? `%${b.toString(16).toUpperCase().padStart(2, '0')}`
    : encodeURIComponent(ch).toUpperCase();
});

function urlEncodeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += URL_ENCODED[b];
  return out;
}

/**
 * `count=planned|estimated`: the planner's estimate. Estimated is, as in PostgREST, the exact count
 * up to maxRows and beyond it the larger of the two; counting stops one row past maxRows, unless the
 * statement counted the rows itself (`row.total`: a function call, which must run only once).
 */
export async function countFor(
  ctx: RequestContext,
  more: More,
  plan: { planned?: Statement; exact?: Statement },
  explain: BatchResult | undefined,
  row: ResultRow,
): Promise<number | undefined> {
  const { count } = ctx.prefer;
  if (!plan.planned || !count || !explain) return undefined;
  const json = JSON.parse(explain.rows[0]?.[0] ?? '[]') as { Plan?: { 'Plan Rows'?: number } }[];
  const planned = Number(json[0]?.Plan?.['Plan Rows'] ?? 0);
  if (count === 'planned') return planned;
  const max = ctx.engine.maxRows ?? 1000;
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
