import { apiError } from './errors.js';
import type { AggregateFunction, Filter, Level, SelectItem } from './query-parser.js';
import type { Column, Relation } from './schema-cache.js';
import {
  checkUnusedLevels,
  embedJoinName,
  nextAlias,
  type PlanContext,
  relationOf,
  rootAlias,
  type Source,
} from './plan-context.js';
import { outputRef, renderCondition, renderOrder } from './filters.js';
import { type EmbedItem, type Relationship, relatedRows, resolveRelationship } from './relationships.js';
import { ident, type Statement, splitParams, whereClause } from './sql.js';

/** A read: the select list with its embedded resources, each level's filters and order, paging and counts. */

/** One entry of a level's select list. */
interface Output {
  readonly expr: string;
  /** Its column name (`AS`); a star has none unless expanded. */
  readonly name?: string;
  /** An aggregate: not grouped by. */
  readonly aggregate?: boolean;
  /** What GROUP BY names for it, when not `expr`. */
  readonly group?: string;
  /**
   * In a to-one spread, an aggregate is applied by the first level above that is no spread, as in
   * PostgREST: the spread selects its input under `name`, the level above `fn(input) AS as`.
   */
  readonly hoisted?: { readonly fn: AggregateFunction; readonly cast?: string; readonly as: string };
}

interface RenderedLevel {
  readonly selectList: string[];
  /** The select list's entries; each is named when the level was rendered with `expand`. */
  readonly outputs: readonly Output[];
  /** Every entry that is no aggregate, when the level has one (PostgREST's implicit GROUP BY). */
  readonly groupBy: string[];
  readonly joins: string[];
  readonly where: string[];
  readonly orderBy: string[];
  /** Joins the row count must keep because they drop rows (`!inner`, `rel=is.null`). */
  readonly filteringJoins: string[];
}

interface EmbedJoin {
  readonly alias: string;
  readonly toMany: boolean;
  readonly spread: boolean;
}

function outputName(item: Extract<SelectItem, { kind: 'column' }>): string {
  if (item.alias) return item.alias;
  // As in PostgREST: the last key of a JSON path; after an array index, the last name before it
  // (`data->arr->0` is `arr`, `data->0` is `data`).
  const names = [item.field.name, ...item.field.json.map((step) => step.key)];
  return String(names.findLast((key) => typeof key === 'string'));
}

/** Whether a column of the source is shown through its domain's `AS json` cast function. */
function hasOutputRepresentation(source: Source): boolean {
  let found = withOutputRepresentation.get(source.columns);
  if (found === undefined) {
    found = [...source.columns.values()].some((column) => column.representation?.toJson);
    withOutputRepresentation.set(source.columns, found);
  }
  return found;
}
/** Per columns map of the schema cache (a reload makes new ones). */
const withOutputRepresentation = new WeakMap<ReadonlyMap<string, Column>, boolean>();

/**
 * An embed that shows nothing: it selects no column, only (if anything) embeds that are empty too, as
 * PostgREST 12.2.2 omits them (Plan.hs generateRelSelectField: rsEmptyEmbed).
 */
const isEmptyEmbed = (item: EmbedItem): boolean =>
  item.select.every((child) => child.kind === 'embed' && isEmptyEmbed(child));

/** Whether a level has aggregates of its own or in its to-one spreads (hoisted to it). */
const aggregatesHere = (select: readonly SelectItem[]): boolean =>
  select.some(
    (item) =>
      item.kind === 'aggregate' || (item.kind === 'embed' && item.spread && aggregatesHere(item.select)),
  );

const aggregateSql = (fn: AggregateFunction, input: string, cast: string | undefined) =>
  cast ? `CAST(pg_catalog.${fn}(${input}) AS ${cast})` : `pg_catalog.${fn}(${input})`;

export const groupByClause = (level: RenderedLevel) =>
  level.groupBy.length ? ` GROUP BY ${level.groupBy.join(', ')}` : '';

export interface LevelOptions {
  /** The level is a to-one spread: its aggregates are applied by the level above. */
  readonly spread?: boolean;
  /** Name every column (stars expanded, embeds as jsonb): the level or the one above groups by them. */
  readonly expand?: boolean;
}

/**
 * Renders one level: its select list (with embedded resources as lateral joins), its own filters
 * and order. `path` is the level's key in `query.levels`.
 */
export function renderLevel(
  ctx: PlanContext,
  source: Source,
  alias: string,
  select: readonly SelectItem[],
  path: string,
  options: LevelOptions = {},
): RenderedLevel {
  const level: Level = ctx.query.levels.get(path) ?? { conditions: [] };
  ctx.usedLevels.add(path);
  const expand = options.expand || aggregatesHere(select);
  const outputs: Output[] = [];
  const embedOutputs: Output[] = [];
  const joins: string[] = [];
  const filteringJoins: string[] = [];
  const embeds = new Map<string, EmbedJoin>();
  for (const item of select) {
    if (item.kind === 'star') {
      // As PostgREST: a star is expanded to name each column when one of them has a JSON representation.
      if (!expand && !hasOutputRepresentation(source)) outputs.push({ expr: `${ident(alias)}.*` });
      else
        for (const name of source.columns.keys())
          outputs.push({ expr: outputRef(ctx, source, alias, { name, json: [] }), name });
    } else if (item.kind === 'column') {
      const raw = outputRef(ctx, source, alias, item.field, true);
      const expr = item.cast ? `CAST(${raw} AS ${item.cast})` : raw;
      // As PostgREST: a column by its own name is grouped by its value, an aliased one by its output.
      outputs.push({ expr, name: outputName(item), ...(item.alias === undefined ? { group: raw } : {}) });
    } else if (item.kind === 'aggregate') {
      let input = item.field ? outputRef(ctx, source, alias, item.field) : undefined;
      if (input && item.inputCast) input = `CAST(${input} AS ${item.inputCast})`;
      const as = item.alias ?? item.fn;
      if (options.spread) {
        // `count()` counts the rows a spread adds: those with a related row.
        const hoisted = { fn: item.fn, as, ...(item.cast ? { cast: item.cast } : {}) };
        outputs.push({ expr: input ?? 'TRUE', name: nextAlias(ctx, 'a'), hoisted });
      } else
        outputs.push({ expr: aggregateSql(item.fn, input ?? '*', item.cast), name: as, aggregate: true });
    } else {
      const parent = relationOf(source);
      if (!parent) {
        throw apiError(
          400,
          'PGRST200',
          `Could not find a relationship between '${source.name}' and '${item.name}' in the schema cache`,
        );
      }
      const rel = resolveRelationship(ctx, parent, item);
      const childPath = path ? `${path}.${item.alias ?? item.name}` : (item.alias ?? item.name);
      const taken = embeds.has(item.alias ?? item.name);
      const rendered = renderEmbed(ctx, parent, alias, rel, item, childPath, expand, taken);
      joins.push(rendered.join);
      if (item.inner) filteringJoins.push(rendered.join);
      embeds.set(item.alias ?? item.name, {
        alias: rendered.alias,
        toMany: rendered.toMany,
        spread: item.spread,
      });
      if (isEmptyEmbed(item)) continue; // an empty embed filters, it is not shown
      const ea = ident(rendered.alias);
      const name = item.alias ?? item.name;
      // As PostgREST's (QueryBuilder.hs getJoinSelects): jsonb, whose objects' keys come shortest
      // first, after the level's columns.
      if (!item.spread) {
        const expr = rendered.toMany ? `COALESCE(${ea}.${ea}, '[]')` : `row_to_json(${ea}.*)::jsonb`;
        embedOutputs.push({ expr, name });
      } else if (!expand) embedOutputs.push({ expr: `${ea}.*` });
      else {
        for (const out of rendered.level.outputs) {
          const column = `${ea}.${ident(out.name!)}`;
          const { hoisted } = out;
          if (hoisted && !options.spread) {
            embedOutputs.push({
              expr: aggregateSql(hoisted.fn, column, hoisted.cast),
              name: hoisted.as,
              aggregate: true,
            });
          } else embedOutputs.push({ expr: column, name: out.name!, ...(hoisted ? { hoisted } : {}) });
        }
      }
    }
  }
  outputs.push(...embedOutputs);
  const selectList = outputs.map(({ expr, name }) =>
    name === undefined ? expr : `${expr} AS ${ident(name)}`,
  );
  const groupBy = outputs.some((o) => o.aggregate)
    ? outputs.filter((o) => !o.aggregate).map((o) => o.group ?? o.expr)
    : [];
  // `rel=is.null` / `rel=not.is.null`, alone or in a logic tree (`or=(rel.not.is.null,...)`): keep
  // parents without / with related rows.
  const embedNull = (filter: Filter): string | undefined => {
    const embed = filter.field.json.length ? undefined : embeds.get(filter.field.name);
    if (!embed || filter.op !== 'is' || filter.value !== 'null') return;
    const join = joins.find((j) => j.endsWith(`AS ${ident(embed.alias)} ON TRUE`));
    if (join && !filteringJoins.includes(join)) filteringJoins.push(join);
    const related = filter.negate; // `not.is.null`: there is a related row
    // A spread's join selects the related row's columns, not one value: whether there is a row is
    // whether its whole-row value is the null value, as PostgREST tests it (a row of nulls is a row).
    // So is a to-one embed's (SqlFragment.hs pgFmtFilter CoercibleFilterNullEmbed).
    if (!embed.toMany) return `${ident(embed.alias)} IS ${related ? '' : 'NOT '}DISTINCT FROM NULL`;
    const column = `${ident(embed.alias)}.${ident(embed.alias)}`;
    return related ? `${column} IS NOT NULL` : `${column} IS NULL`;
  };
  const where = level.conditions.map((condition) =>
    renderCondition(ctx, source, alias, condition, embedNull),
  );
  const depth = path ? path.split('.').length : 0;
  const joined = (name: string) => embeds.get(name)?.alias;
  const orderBy = level.order ? renderOrder(ctx, source, alias, level.order, select, depth, joined) : [];
  return { selectList, outputs, groupBy, joins, where, orderBy, filteringJoins };
}

function renderEmbed(
  ctx: PlanContext,
  parent: Relation,
  parentAlias: string,
  rel: Relationship,
  item: EmbedItem,
  path: string,
  parentExpanded: boolean,
  /** An embed of the level above already has this one's name (PostgREST's join name is then ours). */
  taken: boolean,
): { join: string; alias: string; toMany: boolean; level: RenderedLevel } {
  const toMany = rel.cardinality === 'one-to-many' || rel.cardinality === 'many-to-many';
  if (item.spread && toMany) {
    throw apiError(
      400,
      'PGRST119',
      `A spread operation on '${item.name}' is not possible`,
      `'${parent.name}' and '${item.name}' do not form a many-to-one or one-to-one relationship`,
    );
  }
  const depth = path.split('.').length;
  // PostgREST's alias (Plan.hs addRels): `<table>_<depth>`, a many-to-many target unaliased. One of
  // a level it is inside would hide that level's columns (a self many-to-many): ours then.
  const name = rel.cardinality === 'many-to-many' ? rel.target.name : `${rel.target.name}_${depth}`;
  const childAlias = name.startsWith('pgrst_') || ctx.openAliases.includes(name) ? nextAlias(ctx, 't') : name;
  ctx.aliasNames.set(childAlias, name);
  const options = item.spread ? { spread: true, expand: parentExpanded } : {};
  ctx.openAliases.push(childAlias);
  const level = renderLevel(ctx, rel.target, childAlias, item.select, path, options);
  ctx.openAliases.pop();
  const { from, on } = relatedRows(ctx, rel, parentAlias, childAlias);
  const levelOptions = ctx.query.levels.get(path);
  let sql = `SELECT ${level.selectList.join(', ')} FROM ${from} ${level.joins.join(' ')}${whereClause([...on, ...level.where])}${groupByClause(level)}`;
  if (level.orderBy.length) sql += ` ORDER BY ${level.orderBy.join(', ')}`;
  if (levelOptions?.limit !== undefined) sql += ` LIMIT ${ctx.params.add(levelOptions.limit)}`;
  if (levelOptions?.offset !== undefined) sql += ` OFFSET ${ctx.params.add(levelOptions.offset)}`;
  // The join has PostgREST's own name for it, `<table>_<embed>_<depth>` (Plan.hs addRels
  // relAggAlias), which a related order reads and Postgres's hints for a column a statement lacks
  // weigh (by how close it is to the name written); so has a to-many join's one column.
  const joinAlias = taken ? nextAlias(ctx, 'e') : embedJoinName(parent.name, item.alias ?? item.name, depth);
  const ja = ident(joinAlias);
  const kind = item.inner ? 'INNER JOIN LATERAL' : 'LEFT JOIN LATERAL';
  // A to-one embed's join is its rows themselves, as PostgREST's (QueryBuilder.hs getJoin): a
  // related order reads their columns, and Postgres's messages see no name of ours.
  if (!toMany) return { join: `${kind} (${sql}) AS ${ja} ON TRUE`, alias: joinAlias, toMany, level };
  const rowAlias = ident(nextAlias(ctx, 'r'));
  const lateral = `(SELECT json_agg(${rowAlias})::jsonb AS ${ja} FROM (${sql}) AS ${rowAlias})`;
  const cond = item.inner ? `${ja}.${ja} IS NOT NULL` : 'TRUE';
  // Keep the `ON TRUE` suffix recognisable for `rel=is.null` filters.
  return { join: `${kind} ${lateral} AS ${ja} ON ${cond}`, alias: joinAlias, toMany, level };
}

export interface Range {
  readonly offset: number;
  readonly limit?: number;
}

export type CountKind = 'exact' | 'planned' | 'estimated';

export interface ReadPlan extends Statement {
  /**
   * For `count=planned|estimated`: EXPLAIN of the counted rows, and those rows (`SELECT 1 …`) alone;
   * without `exact`, `total` is their exact count.
   */
  readonly planned?: Statement;
  readonly exact?: Statement;
}

const ROWS_JSON = `coalesce(json_agg(pgrst_row), '[]'::json)::text`;
const ROWS_JSON_STRIPPED = `coalesce(json_strip_nulls(json_agg(pgrst_row)), '[]'::json)::text`;
/**
 * As PostgREST builds `application/geo+json`: each row through PostGIS's ST_AsGeoJSON(record) (found
 * on the search path; Supabase installs PostGIS in `extensions`), without PostGIS a 42883.
 */
const ROWS_GEOJSON = `json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(ST_AsGeoJSON(pgrst_row)::json), '[]'))::text`;

export const rowsBody = (ctx: PlanContext) =>
  ctx.geojson ? ROWS_GEOJSON : ctx.stripNulls ? ROWS_JSON_STRIPPED : ROWS_JSON;

/**
 * `response.headers` and `response.status` as the statement left them (a function, trigger or policy
 * may set them, as in PostgREST): read in the outer query, after the rows were produced.
 */
export const RESPONSE_GUCS = `nullif(current_setting('response.headers', true), '') AS response_headers, nullif(current_setting('response.status', true), '') AS response_status`;

/**
 * The statement every read and every returning write ends in: one row with `total`, `n` (rows in
 * this page), `body` (the JSON array, built by json_agg in the database; `jsonBody` builds
 * another from the rows `pgrst_row`), then the two RESPONSE_GUCS, then `extra`.
 */
export function wrapRows(inner: string, totalSql: string, csv = false, jsonBody = ROWS_JSON, extra = '') {
  extra = `, ${RESPONSE_GUCS}${extra}`;
  if (!csv) {
    return `SELECT ${totalSql} AS total, count(*)::int AS n, ${jsonBody} AS body${extra} FROM (${inner}) AS pgrst_row`;
  }
  // CSV as PostgREST renders it: the first row's keys, then each row's record text without its
  // parentheses, so fields are quoted as Postgres quotes record fields (spaces, commas, quotes,
  // parentheses, backslashes), arrays are {a,b} and booleans t/f. No rows is the empty header.
  const head = `(SELECT string_agg(k, ',') FROM json_object_keys(row_to_json(pgrst_row)) AS k)`;
  const line = `substring(pgrst_row::text, 2, length(pgrst_row::text) - 2)`;
  return `SELECT ${totalSql} AS total, count(*)::int AS n, coalesce(min(pgrst_head), '') || E'\n' || coalesce(string_agg(pgrst_line, E'\n'), '') AS body${extra} FROM (SELECT ${head} AS pgrst_head, ${line} AS pgrst_line FROM (${inner}) AS pgrst_row) AS pgrst_csv`;
}

function assemble(level: RenderedLevel, from: string, range: Range | undefined, ctx: PlanContext): string {
  let sql = `SELECT ${level.selectList.join(', ')} FROM ${from} ${level.joins.join(' ')}`;
  if (level.where.length) sql += ` WHERE ${level.where.join(' AND ')}`;
  sql += groupByClause(level);
  if (level.orderBy.length) sql += ` ORDER BY ${level.orderBy.join(', ')}`;
  if (range?.limit !== undefined) sql += ` LIMIT ${ctx.params.add(range.limit)}`;
  if (range && range.offset > 0) sql += ` OFFSET ${ctx.params.add(range.offset)}`;
  return sql;
}

/** The rows a read counts: `count(*)` of them, or `SELECT 1` for each (to EXPLAIN, or to count up to a bound). */
function countSql(level: RenderedLevel, from: string, what = 'count(*)') {
  let sql = `SELECT ${what} FROM ${from} ${level.filteringJoins.join(' ')}`;
  if (level.where.length) sql += ` WHERE ${level.where.join(' AND ')}`;
  return sql;
}

export interface ReadOptions {
  /**
   * The query `from` reads as `pgrst_call` (a function call). A volatile function runs once however
   * often the statement reads it (the page and its count), as in PostgREST; NOT MATERIALIZED keeps
   * any other inlined, so filters still reach an inlinable SQL function.
   */
  readonly call?: string;
  /** The body from the page's rows `pgrst_row`, instead of their JSON array. */
  readonly jsonBody?: string;
}

export function planRead(
  ctx: PlanContext,
  source: Source,
  from: string,
  range: Range,
  count: CountKind | undefined,
  options: ReadOptions = {},
): ReadPlan {
  const alias = rootAlias(ctx, source.name);
  const fromSql = `${from} AS ${ident(alias)}`;
  ctx.openAliases.push(alias);
  const level = renderLevel(ctx, source, alias, ctx.query.select, '');
  ctx.openAliases.pop();
  checkUnusedLevels(ctx);
  const withCall = options.call ? `WITH pgrst_call AS NOT MATERIALIZED (${options.call}) ` : '';
  const count_ = countSql(level, fromSql);
  const inner = assemble(level, fromSql, range, ctx);
  // A call's rows are counted by the statement that reads them (for `estimated` too, as PostgREST
  // does): a statement of their own would call the function again.
  const counted = count === 'exact' || (count === 'estimated' && options.call !== undefined);
  const totalSql = counted ? `(${count_})` : 'NULL::bigint';
  const jsonBody = (!ctx.geojson && options.jsonBody) || rowsBody(ctx);
  const sql = withCall + wrapRows(inner, totalSql, ctx.csv, jsonBody);
  const params = ctx.params.values;
  const aliases = ctx.aliasNames;
  if (count !== 'planned' && count !== 'estimated') return { sql, params, aliases };
  // EXPLAIN of count(*) would estimate its one row: the estimate is that of the rows themselves.
  const rows = withCall + countSql(level, fromSql, '1');
  const [planned, exact] = splitParams([`EXPLAIN (FORMAT JSON) ${rows}`, rows], params);
  return counted
    ? { sql, params, aliases, planned: planned! }
    : { sql, params, aliases, planned: planned!, exact: exact! };
}
