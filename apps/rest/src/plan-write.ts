import { type ApiError, apiError } from './errors.js';
import { jsonText } from './json-number.js';
import type { Condition, SelectItem } from './query-parser.js';
import type { Relation } from './schema-cache.js';
import {
  checkUnusedLevels,
  columnSet,
  nextAlias,
  type PlanContext,
  requireColumns,
  rootAlias,
  selectNamingUnknown,
} from './plan-context.js';
import { renderCondition, renderOrder } from './filters.js';
import { groupByClause, renderLevel, rowsBody, wrapRows } from './plan-read.js';
import { ident, qualified, type Statement } from './sql.js';

/** Inserts (with upsert and `missing=default`), updates and deletes, and the rows they return. */

export type ReturnPreference = 'minimal' | 'headers-only' | 'representation';

export interface WritePlan {
  /** The write, one statement; with `returning`, it also yields the rows. */
  readonly statement: Statement;
  readonly returning: boolean;
  /**
   * A merging upsert: how many rows it inserted (rather than updated) is a fourth column of the
   * returning row, or without returning the statement's one row `(affected, inserted)`.
   */
  readonly countsInserted?: boolean;
  /**
   * pg-safeupdate's refusal of a PATCH or DELETE without WHERE: the statement is only parsed, so
   * that what Postgres's parse analysis raises (a 42703) answers first, as the extension refuses
   * right after it (post_parse_analyze_hook).
   */
  readonly refused?: ApiError;
}

function returningSelect(
  ctx: PlanContext,
  relation: Relation,
  ret: ReturnPreference,
  cte: string,
  extra = '',
): string {
  const alias = rootAlias(ctx, relation.name);
  const select: readonly SelectItem[] =
    ret === 'headers-only'
      ? relation.pk.map((name) => ({ kind: 'column' as const, field: { name, json: [] } }))
      : ctx.query.select;
  // Root filters already applied to the written rows; embedded levels still apply.
  const levels = new Map([...ctx.query.levels].filter(([path]) => path !== ''));
  const sub: PlanContext = { ...ctx, query: { ...ctx.query, levels } };
  const level = renderLevel(sub, relation, alias, select, '');
  ctx.aliasCounter = sub.aliasCounter;
  const inner = `SELECT ${level.selectList.join(', ') || 'NULL'} FROM pgrst_source AS ${ident(alias)} ${level.joins.join(' ')}${groupByClause(level)}`;
  return `WITH pgrst_source AS (${cte}) ${wrapRows(inner, 'NULL::bigint', ctx.csv && ret === 'representation', rowsBody(ctx), extra)}`;
}

/**
 * The RETURNING list of a write whose rows come back: as PostgREST, only the columns the select
 * names, the key (for Location) and the columns of the relation's foreign keys when it embeds, so
 * a role with SELECT on those columns alone may write and read them back; `*` when the select has
 * `*`, a computed field or relationship (a function of the whole row), or an aggregate.
 */
function returningList(
  ctx: PlanContext,
  relation: Relation,
  alias: string | undefined,
  ret: ReturnPreference,
  extra: readonly string[] = [],
): string {
  const prefix = alias === undefined ? '' : `${ident(alias)}.`;
  const select: readonly SelectItem[] = ret === 'headers-only' ? [] : ctx.query.select;
  const named = selectNamingUnknown(select, relation);
  if (named) {
    // A name the relation has no column for: PostgREST's RETURNING lists the select's names (with
    // the key), sorted, qualified by the table (QueryBuilder.hs returningF), where Postgres raises a
    // 42703 for the first unknown one, or returns a system column (`ctid`). Every column is sorted in
    // among them, for a name Postgres reads as a function of the row.
    const qualifier = alias === undefined ? qualified(relation.schema, relation.name) : ident(alias);
    return columnSet([...named, ...relation.pk, ...extra, ...relation.columns.keys()])
      .map((c) => `${qualifier}.${ident(c)}`)
      .join(', ');
  }
  const names = new Set([...relation.pk, ...extra]);
  for (const item of select) {
    if (item.kind === 'column' && relation.columns.has(item.field.name)) names.add(item.field.name);
    else if (item.kind === 'embed' && !relation.computed.has(item.name)) {
      for (const fk of ctx.cache.foreignKeys) {
        const from = fk.fromSchema === relation.schema && fk.fromTable === relation.name;
        const to = fk.toSchema === relation.schema && fk.toTable === relation.name;
        for (const c of [...(from ? fk.fromColumns : []), ...(to ? fk.toColumns : [])]) names.add(c);
      }
    } else return `${prefix}*`;
  }
  return [...names].map((c) => prefix + ident(c)).join(', ') || '1';
}

export interface InsertOptions {
  readonly rows: Record<string, unknown>[];
  /** The rows as the JSON text the client sent, when they are all of its body (PostgREST passes that on). */
  readonly rowsText?: string;
  readonly columns: readonly string[];
  readonly missingDefault: boolean;
  readonly upsert?: { readonly onConflict: readonly string[]; readonly ignore: boolean };
  readonly ret: ReturnPreference;
  /**
   * PUT: the filters (the key's `eq`s) the body's rows must pass to be written, compared as the
   * columns' types; a key column the body lacks is Postgres's 42703 on `pgrst_body`, as in PostgREST.
   */
  readonly put?: readonly Condition[];
}

/** `missing=default`'s object of the written columns' defaults (PostgREST's includeDefaults), evaluated where it stands. */
function defaultsObject(ctx: PlanContext, relation: Relation, columns: readonly string[]): string {
  const defaults = columns.flatMap((c) => {
    const sql = relation.columns.get(c)?.insertDefault;
    return sql ? [`${ctx.params.add(c)}::text, ${sql}`] : [];
  });
  return `jsonb_build_object(${defaults.join(', ')})`;
}

/**
 * The rows to insert as a parameter: the JSON sent, or with `missing=default` (PostgREST 12.2,
 * SqlFragment.hs fromJsonBodyF) jsonb, each row over an object of the defaults of the columns
 * written, so a default is evaluated for every row in the order sent, even one that gives the column.
 */
function jsonRows(
  ctx: PlanContext,
  relation: Relation,
  columns: readonly string[],
  options: InsertOptions,
): string {
  const sent = ctx.params.add(options.rowsText ?? jsonText(options.rows));
  if (!options.missingDefault) return `${sent}::json`;
  return `(SELECT jsonb_agg(${defaultsObject(ctx, relation, columns)} || e.v ORDER BY e.i) FROM jsonb_array_elements(${sent}::jsonb) WITH ORDINALITY AS e(v, i))`;
}

/**
 * A JSON body's rows (`one`: its one object) as a FROM item `pgrst_body` of `columns`, read as
 * PostgREST 12.2 reads them (SqlFragment.hs fromJsonBodyF): json_to_record(set) typed with only those
 * columns' types (as the schema cache has them, with their modifiers), so a key naming another column
 * or none is never read and its value cannot fail; a column the object lacks is NULL. A column whose
 * domain has a `json AS domain` cast function (PostgREST's domain representations) is taken as
 * `json` and converted by that function (JSON null is NULL).
 */
function bodyRecords(
  relation: Relation,
  columns: readonly string[],
  json: string,
  one = false,
  /** The body is jsonb, as PostgREST reads it under `missing=default` (jsonb_to_record(set)). */
  jsonb = false,
): string {
  const fn = jsonb ? 'jsonb' : 'json';
  // No column (`{}` rows): a row each, of nothing.
  if (!columns.length) return one ? '(SELECT) AS pgrst_body' : `${fn}_array_elements(${json}) AS pgrst_body`;
  const from = `${fn}_to_record${one ? '' : 'set'}(${json})`;
  const parse = (c: string) => relation.columns.get(c)!.representation?.fromJson;
  const typed = columns.map((c) => `${ident(c)} ${parse(c) ? 'json' : relation.columns.get(c)!.type}`);
  if (!columns.some(parse)) return `${from} AS pgrst_body(${typed.join(', ')})`;
  const list = columns.map((c) => {
    const fn = parse(c);
    return fn
      ? `${qualified(fn.schema, fn.name)}(pgrst_j.${ident(c)}) AS ${ident(c)}`
      : `pgrst_j.${ident(c)}`;
  });
  return `(SELECT ${list.join(', ')} FROM ${from} AS pgrst_j(${typed.join(', ')})) AS pgrst_body`;
}

/**
 * Columns named for a write as PostgREST 12.2 keeps them (a set, Plan.hs mutatePlan): once each, in
 * code point order, which is the order an unknown one is reported in and the values are converted in.
 */
export function planInsert(ctx: PlanContext, relation: Relation, options: InsertOptions): WritePlan {
  const columns = columnSet(options.columns);
  requireColumns(relation, columns);
  const target = qualified(relation.schema, relation.name);
  // on_conflict is not checked against the cache, as in PostgREST: an unknown column is Postgres's 42703.
  const cols = columns.map(ident).join(', ');
  // Objects with no columns at all become rows of defaults; no row at all (`[]`) inserts nothing.
  const body = () =>
    bodyRecords(relation, columns, jsonRows(ctx, relation, columns, options), false, options.missingDefault);
  let insert = options.put
    ? `INSERT INTO ${target}${columns.length ? ` (${cols})` : ''} SELECT ${cols} FROM ${body()} WHERE ${options.put.map((c) => renderCondition(ctx, relation, 'pgrst_body', c)).join(' AND ')}`
    : columns.length
      ? `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${body()}`
      : `INSERT INTO ${target} SELECT FROM generate_series(1, ${ctx.params.add(options.rows.length)}::int)`;
  if (options.upsert) {
    // Rows of no column (`{}`) have nothing to merge: as in PostgREST, a conflict leaves them out.
    const conflict = options.upsert.onConflict.map(ident).join(', ');
    insert +=
      options.upsert.ignore || !columns.length
        ? ` ON CONFLICT (${conflict}) DO NOTHING`
        : ` ON CONFLICT (${conflict}) DO UPDATE SET ${columns.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')}`;
  }
  // A merging upsert answers 200 rather than 201 when it inserted nothing. A written row was
  // inserted when no row had its conflict key before: the statement's other parts still see the
  // table as it was (unlike `xmax = 0`, this works for partitioned tables and views too).
  const countsInserted =
    options.upsert !== undefined && !options.upsert.ignore && options.upsert.onConflict.length > 0;
  const inserted = (rows: string) => {
    // PostgREST counts each row proposed as inserted unless its DO UPDATE ran; rows of no column
    // have none, so each counts, even one a conflict left out.
    if (!columns.length) return `${ctx.params.add(options.rows.length)}::int`;
    const same = options.upsert!.onConflict.map((c) => `pgrst_before.${ident(c)} = ${rows}.${ident(c)}`);
    return `count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ${target} AS pgrst_before WHERE ${same.join(' AND ')}))::int`;
  };
  if (options.ret === 'minimal') {
    checkUnusedLevels(ctx, true);
    // Only the key comes back: the role may lack SELECT on other columns.
    const sql = countsInserted
      ? `WITH pgrst_w AS (${insert} RETURNING ${options.upsert!.onConflict.map(ident).join(', ')}) SELECT count(*)::int, ${inserted('pgrst_w')} FROM pgrst_w`
      : insert;
    return { statement: { sql, params: ctx.params.values }, returning: false, countsInserted };
  }
  const extra = !countsInserted
    ? ''
    : columns.length
      ? `, (SELECT ${inserted('pgrst_written')} FROM pgrst_source AS pgrst_written) AS inserted`
      : `, ${inserted('')} AS inserted`;
  const returning = returningList(ctx, relation, undefined, options.ret, options.upsert?.onConflict);
  const sql = returningSelect(ctx, relation, options.ret, `${insert} RETURNING ${returning}`, extra);
  checkUnusedLevels(ctx, true);
  return {
    statement: { sql, params: ctx.params.values, aliases: ctx.aliasNames },
    returning: true,
    countsInserted,
  };
}

export function planUpdate(
  ctx: PlanContext,
  relation: Relation,
  /**
   * The one row whose values are set; null for an empty list, which PostgREST 12.2 reads as no row:
   * an unlimited update then changes nothing, a limited one (its values a subquery of that row) sets NULLs.
   */
  body: Record<string, unknown> | null,
  columns: readonly string[],
  ret: ReturnPreference,
  /**
   * The body as the JSON text the client sent, when it is that one object; with a null body, a text
   * Postgres is left to read as rows (and fail on), as PostgREST does with any body under `columns=`.
   */
  bodyText?: string,
  /** `missing=default`: a column the body omits is set to its default, as PostgREST's update does. */
  missingDefault = false,
): WritePlan {
  columns = columnSet(columns);
  requireColumns(relation, columns);
  const alias = rootAlias(ctx, relation.name);
  const target = qualified(relation.schema, relation.name);
  const where = renderRootWhere(ctx, relation, alias);
  const level = ctx.query.levels.get('');
  const limited = level?.limit !== undefined || level?.offset !== undefined;
  const set = columns.map((c) => `${ident(c)} = pgrst_body.${ident(c)}`).join(', ');
  const text = bodyText ?? (body ? jsonText(body) : limited ? '{}' : '[]');
  // Under missing=default PostgREST reads the body as jsonb (SqlFragment.hs fromJsonBodyF).
  const json = `${ctx.params.add(text)}::${missingDefault ? 'jsonb' : 'json'}`;
  const one = body !== null || (limited && bodyText === undefined);
  let records: string;
  if (missingDefault && body !== null) {
    // As PostgREST 12.2 (SqlFragment.hs fromJsonBodyF with includeDefaults): the object lies over
    // the defaults of every column written, drawn once for the statement in a FROM item before the
    // body is read, so a volatile default (a sequence) advances even for a column the body gives,
    // and every row updated gets the same value.
    const defs = `(SELECT ${defaultsObject(ctx, relation, columns)} || ${json} AS val) AS pgrst_json_defs`;
    records = `${defs}, LATERAL ${bodyRecords(relation, columns, 'pgrst_json_defs.val', true, true)}`;
  } else records = bodyRecords(relation, columns, json, one, missingDefault);
  const sql = `UPDATE ${target} AS ${ident(alias)} SET ${set} FROM ${records}${where}`;
  return finishWrite(ctx, relation, sql, alias, ret, where);
}

export function planDelete(ctx: PlanContext, relation: Relation, ret: ReturnPreference): WritePlan {
  const alias = rootAlias(ctx, relation.name);
  const where = renderRootWhere(ctx, relation, alias);
  const sql = `DELETE FROM ${qualified(relation.schema, relation.name)} AS ${ident(alias)}${where}`;
  return finishWrite(ctx, relation, sql, alias, ret, where);
}

function finishWrite(
  ctx: PlanContext,
  relation: Relation,
  sql: string,
  alias: string,
  ret: ReturnPreference,
  where: string,
): WritePlan {
  const full =
    ret === 'minimal'
      ? sql
      : returningSelect(ctx, relation, ret, `${sql} RETURNING ${returningList(ctx, relation, alias, ret)}`);
  checkUnusedLevels(ctx, true);
  const statement = { sql: full, params: ctx.params.values, aliases: ctx.aliasNames };
  // Hosted Supabase loads pg-safeupdate into the data API's sessions, whatever the role: a write
  // with no WHERE of its own (no root filter, no limit; RLS and filters on embeds do not count)
  // fails with 21000 when the database analyses it, after PostgREST planned it; PostgREST answers 400.
  if (!where) {
    const refused = apiError(400, '21000', `${sql.split(' ', 1)[0]} requires a WHERE clause`);
    return { statement: { ...statement, parseOnly: true }, returning: ret !== 'minimal', refused };
  }
  return { statement, returning: ret !== 'minimal' };
}

/** PGRST109: a limited PATCH or DELETE with no `order`. */
export const limitWithoutOrder = () =>
  apiError(
    400,
    'PGRST109',
    "A 'limit' was applied without an explicit 'order'",
    null,
    "Apply an 'order' using unique column(s)",
  );

/**
 * Filters of the root level for UPDATE/DELETE. With `limit`/`offset` (PostgREST's limited
 * update/delete) an explicit `order` is required (PGRST109) and the rows are picked by a subquery
 * on the order's columns.
 */
function renderRootWhere(ctx: PlanContext, relation: Relation, alias: string): string {
  const level = ctx.query.levels.get('') ?? { conditions: [] };
  if (level.limit === undefined && level.offset === undefined) {
    const where = level.conditions.map((c) => renderCondition(ctx, relation, alias, c));
    return where.length ? ` WHERE ${where.join(' AND ')}` : '';
  }
  if (!level.order?.length) throw limitWithoutOrder();
  // As PostgREST 12.2 (QueryBuilder.hs mutRangeF), the rows picked are those equal to the ones
  // ordered first on the order's columns (a JSON path's column): an order on no unique column
  // changes more rows than the limit, which is PGRST110. A related order (PostgREST fails there)
  // picks rows by `(tableoid, ctid)`, which alone repeats across partitions, or a view's key.
  const keys = level.order.every((t) => !t.relation)
    ? [...new Set(level.order.map((t) => t.field.name))]
    : relation.kind === 'table' || !relation.pk.length
      ? ['tableoid', 'ctid']
      : relation.pk;
  // The rows are picked in a subquery of the statement (PostgREST's is a CTE, which sees no other
  // relation): an alias of ours, named as the table in messages, keeps the target's columns out of
  // Postgres's hints there.
  const inner = nextAlias(ctx, 'l');
  ctx.aliasNames.set(inner, relation.name);
  const where = level.conditions.map((c) => renderCondition(ctx, relation, inner, c));
  let sql = `SELECT ${keys.map((k) => `${ident(inner)}.${ident(k)}`).join(', ')} FROM ${qualified(relation.schema, relation.name)} AS ${ident(inner)}`;
  if (where.length) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ` ORDER BY ${renderOrder(ctx, relation, inner, level.order, ctx.query.select).join(', ')}`;
  if (level.limit !== undefined) sql += ` LIMIT ${ctx.params.add(level.limit)}`;
  if (level.offset !== undefined) sql += ` OFFSET ${ctx.params.add(level.offset)}`;
  const outer = keys.map((k) => `${ident(alias)}.${ident(k)}`).join(', ');
  return ` WHERE (${outer}) IN (${sql})`;
}
