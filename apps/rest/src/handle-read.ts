import type { BatchResult } from './batch.js';
import { apiError } from './errors.js';
import { planRead } from './plan-read.js';
import { type ParsedQuery, parseQuery } from './query-parser.js';
import { planContext, type RequestContext, type RestResponse } from './request-context.js';
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
    limit = Number.isFinite(newEnd) ? Math.max(0, newEnd - offset + 1) : undefined;
  }
  const { maxRows } = ctx.engine;
  if (maxRows !== undefined && (limit === undefined || limit > maxRows)) limit = maxRows;
  return limit === undefined ? { offset } : { offset, limit };
}

export async function read(ctx: RequestContext, relation: Relation): Promise<RestResponse> {
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
    const total = await countFor(ctx, more, statement, results[0], row);
    return renderRows(ctx, row, range.offset, total ?? nullableNumber(row.total), 'read');
  });
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
