import { apiError } from './errors.js';
import {
  type Condition,
  FILTER_OPERATORS,
  type Field,
  type Filter,
  type OrderTerm,
  type SelectItem,
} from './query-parser.js';
import {
  embedJoinName,
  nextAlias,
  notEmbedded,
  type PlanContext,
  relationOf,
  type Source,
} from './plan-context.js';
import { type EmbedItem, relatedRows, resolveRelationship, rowOf } from './relationships.js';
import { ident, qualified, whereClause } from './sql.js';

/** Column references, filters, logic trees and order terms as SQL, for any level of a query. */

/** The system columns every table has, and their types. */
const SYSTEM_COLUMNS = new Map([
  ['tableoid', 'oid'],
  ['ctid', 'tid'],
  ['xmin', 'xid'],
  ['cmin', 'cid'],
  ['xmax', 'xid'],
  ['cmax', 'cid'],
]);

/**
 * A column, or what Postgres reads `alias.name` as when the relation has no such column: a computed
 * field `fn(alias)`, and in a select list the bare `count` that PostgREST has long answered with
 * `count(alias)` (`select=count`, `select=*,books(count)`), aggregates allowed or not.
 */
export function columnRef(
  ctx: PlanContext,
  source: Source,
  alias: string,
  field: Field,
  inSelect = false,
): string {
  let sql = `${ident(alias)}.${ident(field.name)}`;
  let type = source.columns.get(field.name)?.type;
  if (type === undefined) {
    const relation = relationOf(source);
    const computed = relation?.computed.get(field.name);
    if (computed && !computed.setof) {
      sql = `${qualified(computed.schema, computed.name)}(${rowOf(alias, relation!)})`;
      type = computed.type;
    } else if (inSelect && field.name === 'count' && !field.json.length) sql = `count(${ident(alias)})`;
    // Otherwise the name as written, unchecked, as PostgREST checks no column of a read: a table's own
    // system column (`order=ctid`, typed here for its JSON paths), or one the relation lacks, which
    // Postgres raises as 42703 with its hint from the relations the statement names as PostgREST's
    // does (see `rootAlias`).
    else if (relation?.kind === 'table') type = SYSTEM_COLUMNS.get(field.name);
  }
  // As in PostgREST, a JSON path into any other type (`tags->0` of a text[]) reads its to_jsonb();
  // json and jsonb stay as they are, so their indexes still apply.
  if (field.json.length && type !== 'json' && type !== 'jsonb') sql = `to_jsonb(${sql})`;
  return withJsonPath(ctx, sql, field);
}

/** `sql` followed by the field's JSON path (`->'a'->>0`), its keys as parameters. */
function withJsonPath(ctx: PlanContext, sql: string, field: Field): string {
  for (const step of field.json) {
    const key = typeof step.key === 'number' ? String(step.key) : `${ctx.params.add(step.key)}::text`;
    sql = `${sql}${step.arrow}${key}`;
  }
  return sql;
}

/**
 * A column as a JSON answer shows it: through its domain's `AS json` cast function when it has one
 * (PostgREST's domain representations), in select lists and aggregates' input alike; with a JSON
 * path, the path's value as it is.
 */
export function outputRef(
  ctx: PlanContext,
  source: Source,
  alias: string,
  field: Field,
  inSelect = false,
): string {
  const sql = columnRef(ctx, source, alias, field, inSelect);
  const fn = field.json.length ? undefined : source.columns.get(field.name)?.representation?.toJson;
  return fn ? `${qualified(fn.schema, fn.name)}(${sql})` : sql;
}

/**
 * Operators whose value a column's `text AS domain` cast function reads, as in PostgREST: all but LIKE
 * patterns, `is`/`isdistinct` and full-text search.
 */
const UNPARSED_OPERATORS = new Set(['like', 'ilike', 'is', 'isdistinct', 'fts', 'plfts', 'phfts', 'wfts']);
const PARSED_OPERATORS = new Set<string>(FILTER_OPERATORS.filter((op) => !UNPARSED_OPERATORS.has(op)));

const OPERATOR_SQL: Record<string, string> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'LIKE',
  ilike: 'ILIKE',
  match: '~',
  imatch: '~*',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  sl: '<<',
  sr: '>>',
  nxr: '&<',
  nxl: '&>',
  adj: '-|-',
  isdistinct: 'IS DISTINCT FROM',
};
const FTS_FUNCTION: Record<string, string> = {
  fts: 'to_tsquery',
  plfts: 'plainto_tsquery',
  phfts: 'phraseto_tsquery',
  wfts: 'websearch_to_tsquery',
};

const likePattern = (value: string) => value.replaceAll('*', '%');

function renderFilter(ctx: PlanContext, source: Source, alias: string, filter: Filter): string {
  const lhs = columnRef(ctx, source, alias, filter.field);
  const p = (v: unknown) => ctx.params.add(v);
  let sql: string;
  const op = filter.op;
  // A domain's `text AS domain` cast function reads the value (each of a list's), as in PostgREST.
  const parse =
    PARSED_OPERATORS.has(op) && !filter.field.json.length
      ? source.columns.get(filter.field.name)?.representation?.fromText
      : undefined;
  const parsedList = (list: unknown) =>
    `SELECT ${qualified(parse!.schema, parse!.name)}(unnest(${p(list)}::text[]))`;
  if (op === 'is') {
    const value = filter.value as string;
    sql = `${lhs} IS ${value.toUpperCase()}`;
  } else if (op === 'in') {
    sql = `${lhs} = ANY(${parse ? parsedList(filter.value) : p(filter.value)})`;
  } else if (op in FTS_FUNCTION) {
    const fn = FTS_FUNCTION[op]!;
    const query = filter.language
      ? `${fn}(${p(filter.language)}::regconfig, ${p(filter.value)})`
      : `${fn}(${p(filter.value)})`;
    sql = `${lhs} @@ ${query}`;
  } else {
    const raw = filter.value as string;
    // A quantified value is an array literal Postgres reads as the column's type, as PostgREST
    // sends it (its malformed-literal 22P02 included); parsed by a representation, element by element.
    let value: string;
    if (!parse) value = p(op === 'like' || op === 'ilike' ? likePattern(raw) : raw);
    else if (filter.quantifier) value = parsedList(raw);
    else value = `${qualified(parse.schema, parse.name)}(${p(raw)}::text)`;
    sql = `${lhs} ${OPERATOR_SQL[op]} ${filter.quantifier ? `${filter.quantifier.toUpperCase()}(${value})` : value}`;
  }
  return filter.negate ? `NOT (${sql})` : sql;
}

/** `special` renders a filter the level treats otherwise (`rel=is.null` on an embed), else undefined. */
export function renderCondition(
  ctx: PlanContext,
  source: Source,
  alias: string,
  condition: Condition,
  special?: (filter: Filter) => string | undefined,
): string {
  if (condition.kind === 'filter') {
    return special?.(condition) ?? renderFilter(ctx, source, alias, condition);
  }
  const parts = condition.children.map((child) => renderCondition(ctx, source, alias, child, special));
  const joined = parts.length ? `(${parts.join(condition.op === 'and' ? ' AND ' : ' OR ')})` : 'TRUE';
  return condition.negate ? `NOT ${joined}` : joined;
}

/**
 * `joined` gives, for a read, the alias of the lateral join that shows an embed's row (see
 * relatedOrderRef).
 */
export function renderOrder(
  ctx: PlanContext,
  source: Source,
  alias: string,
  terms: readonly OrderTerm[],
  select: readonly SelectItem[] = [],
  depth = 0,
  joined?: (embed: string) => string | undefined,
): string[] {
  return terms.map((t) => {
    let sql = t.relation
      ? relatedOrderRef(ctx, source, alias, t.relation, t, select, depth, joined?.(t.relation))
      : columnRef(ctx, source, alias, t.field);
    if (t.direction) sql += t.direction === 'desc' ? ' DESC' : ' ASC';
    if (t.nulls) sql += t.nulls === 'first' ? ' NULLS FIRST' : ' NULLS LAST';
    return sql;
  });
}

/**
 * `order=rel(col)`: the column of the one related row. As in PostgREST, `rel` must be an embed of
 * the level's select, by its alias or its name when it has none (PGRST108 otherwise), and keeps
 * that embed's hint. In a read it is, as in PostgREST (QueryBuilder.hs pgFmtOrderTerm), a column
 * the embed shows, through its `join` (so `col` is an output name: an alias, or 42703 for a column
 * the embed leaves out; a grouped spread column orders an aggregate); in a write's limit, the
 * table's column, by a correlated subquery.
 */
function relatedOrderRef(
  ctx: PlanContext,
  source: Source,
  alias: string,
  name: string,
  term: OrderTerm,
  select: readonly SelectItem[],
  depth: number,
  join: string | undefined,
): string {
  const parent = relationOf(source);
  const notPossible = () =>
    apiError(
      400,
      'PGRST118',
      `A related order on '${name}' is not possible`,
      `'${source.name}' and '${name}' do not form a many-to-one or one-to-one relationship`,
    );
  const embedded = select.find(
    (item): item is EmbedItem => item.kind === 'embed' && (item.alias ?? item.name) === name,
  );
  if (!embedded) throw notEmbedded(name);
  if (!parent) throw notPossible();
  const rel = resolveRelationship(ctx, parent, embedded);
  if (rel.cardinality !== 'many-to-one' && rel.cardinality !== 'one-to-one') throw notPossible();
  // The join is named as PostgREST's, `<table>_<embed>_<depth>` (Plan.hs addRelatedOrders).
  if (join) return withJsonPath(ctx, `${ident(join)}.${ident(term.field.name)}`, term.field);
  const ra = nextAlias(ctx, 'o');
  ctx.aliasNames.set(ra, embedJoinName(parent.name, name, depth + 1));
  const column = columnRef(ctx, rel.target, ra, term.field);
  const { from, on } = relatedRows(ctx, rel, alias, ra);
  return `(SELECT ${column} FROM ${from}${whereClause(on)} LIMIT 1)`;
}
