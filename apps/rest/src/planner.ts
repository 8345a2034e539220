import { ApiError, apiError, cacheMiss, columnNotFound, tableNotFound, undefinedColumn } from './errors.js';
import type { Condition, Field, Filter, Level, OrderTerm, ParsedQuery, SelectItem } from './query-parser.js';
import {
  type Column,
  type ComputedField,
  type ForeignKey,
  type Relation,
  type Routine,
  type SchemaCache,
  closest,
  editDistance,
  qualifiedKey,
} from './schema-cache.js';

/**
 * AST + schema cache → one parameterized statement. Every value becomes a `$n` parameter; every
 * identifier goes through `ident` after being checked against the schema cache.
 */

export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** The one quoting helper for identifiers. */
export function ident(name: string): string {
  if (name.includes('\u0000')) throw apiError(400, 'PGRST100', 'identifiers cannot contain NUL characters');
  return `"${name.replaceAll('"', '""')}"`;
}

export const qualified = (schema: string, name: string) => `${ident(schema)}.${ident(name)}`;

/** Something rows can be selected from: a table, a view, or a function's result. */
export interface Source {
  readonly schema: string;
  readonly name: string;
  readonly columns: ReadonlyMap<string, Column>;
  readonly relation?: Relation;
}

export interface Statement {
  readonly sql: string;
  readonly params: unknown[];
}

// ---------------------------------------------------------------- relationships

type Relationship = FkRelationship | ComputedRelationship;

interface FkRelationship {
  readonly kind: 'fk';
  readonly cardinality: 'many-to-one' | 'one-to-many' | 'one-to-one' | 'many-to-many';
  readonly target: Relation;
  readonly fk: ForeignKey;
  /** For many-to-many: the join table and its key towards the target. */
  readonly junction?: { readonly relation: Relation; readonly toTarget: ForeignKey };
}

/** A function of the source row returning rows of the target, embedded by the function's name. */
interface ComputedRelationship {
  readonly kind: 'computed';
  readonly cardinality: 'many-to-one' | 'one-to-many';
  readonly target: Relation;
  readonly fn: ComputedField;
  /** The relation whose row the function takes (the parent row is cast to it). */
  readonly source: Relation;
}

/**
 * The computed relationship `name` of `source`, as PostgREST finds one: a function in the source's
 * schema returning rows of an exposed table or view.
 */
function computedRelationship(
  cache: SchemaCache,
  source: Relation,
  name: string,
): ComputedRelationship | undefined {
  const fn = source.computed.get(name);
  if (!fn?.returnRelation || fn.schema !== source.schema) return undefined;
  const target = cache.relations.get(qualifiedKey(fn.returnRelation.schema, fn.returnRelation.name));
  if (!target) return undefined;
  return { kind: 'computed', cardinality: fn.toOne ? 'many-to-one' : 'one-to-many', target, fn, source };
}

const sameColumns = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((c) => b.includes(c));

/** The names a relation can embed: tables and views its foreign keys reach (also through a join table), and its computed relationships. */
function relatedNames(cache: SchemaCache, source: Relation): Set<string> {
  const names = new Set<string>();
  const isSource = (schema: string, table: string) => schema === source.schema && table === source.name;
  for (const fk of cache.foreignKeys) {
    if (isSource(fk.fromSchema, fk.fromTable)) names.add(fk.toTable);
    if (!isSource(fk.toSchema, fk.toTable)) continue;
    names.add(fk.fromTable);
    for (const toTarget of cache.foreignKeys) {
      if (toTarget !== fk && toTarget.fromSchema === fk.fromSchema && toTarget.fromTable === fk.fromTable) {
        names.add(toTarget.toTable);
      }
    }
  }
  for (const name of source.computed.keys()) if (computedRelationship(cache, source, name)) names.add(name);
  return names;
}

function findRelationships(
  cache: SchemaCache,
  source: Relation,
  name: string,
  hint?: string,
): FkRelationship[] {
  const found: FkRelationship[] = [];
  const relationByKey = (schema: string, table: string) => cache.relations.get(qualifiedKey(schema, table));
  const target = relationByKey(source.schema, name);
  const isSource = (schema: string, table: string) => schema === source.schema && table === source.name;
  if (target) {
    for (const fk of cache.foreignKeys) {
      if (
        isSource(fk.fromSchema, fk.fromTable) &&
        fk.toSchema === target.schema &&
        fk.toTable === target.name
      ) {
        found.push({ kind: 'fk', cardinality: 'many-to-one', target, fk });
      }
      if (
        fk.fromSchema === target.schema &&
        fk.fromTable === target.name &&
        isSource(fk.toSchema, fk.toTable)
      ) {
        const oneToOne = target.pk.length > 0 && sameColumns(fk.fromColumns, target.pk);
        found.push({ kind: 'fk', cardinality: oneToOne ? 'one-to-one' : 'one-to-many', target, fk });
      }
    }
    // Many-to-many through a join table with keys to both sides.
    const toSource = cache.foreignKeys.filter((fk) => isSource(fk.toSchema, fk.toTable));
    for (const fk of toSource) {
      const junction = relationByKey(fk.fromSchema, fk.fromTable);
      // Views are not join tables: a view over one would make every many-to-many ambiguous.
      if (!junction || junction.kind === 'view' || isSource(junction.schema, junction.name)) continue;
      if (junction.schema === target.schema && junction.name === target.name) continue;
      for (const toTarget of cache.foreignKeys) {
        if (
          toTarget === fk ||
          toTarget.fromSchema !== junction.schema ||
          toTarget.fromTable !== junction.name
        )
          continue;
        if (toTarget.toSchema !== target.schema || toTarget.toTable !== target.name) continue;
        found.push({
          kind: 'fk',
          cardinality: 'many-to-many',
          target,
          fk,
          junction: { relation: junction, toTarget },
        });
      }
    }
  } else {
    // Embedding by a foreign-key column or constraint name of the source: `author_id(*)`, `fk_name(*)`.
    for (const fk of cache.foreignKeys) {
      if (!isSource(fk.fromSchema, fk.fromTable)) continue;
      if (fk.name === name || (fk.fromColumns.length === 1 && fk.fromColumns[0] === name)) {
        const t = relationByKey(fk.toSchema, fk.toTable);
        // A computed relationship named like the table replaces the keys towards it, these included.
        const overridden = t && computedRelationship(cache, source, t.name)?.fn.schema === t.schema;
        if (t && !overridden) found.push({ kind: 'fk', cardinality: 'many-to-one', target: t, fk });
      }
    }
  }
  if (!hint) return found;
  return found.filter(
    (r) =>
      r.fk.name === hint ||
      r.fk.fromColumns.includes(hint) ||
      r.fk.toColumns.includes(hint) ||
      r.junction?.relation.name === hint ||
      r.junction?.toTarget.name === hint,
  );
}

function describe(source: Relation, r: FkRelationship) {
  const cols = (table: string, columns: readonly string[]) => `${table}(${columns.join(', ')})`;
  const relationship = r.junction
    ? `${r.fk.name} using ${cols(source.name, r.fk.toColumns)} and ${r.junction.toTarget.name} using ${cols(r.target.name, r.junction.toTarget.toColumns)}`
    : r.cardinality === 'many-to-one'
      ? `${r.fk.name} using ${cols(source.name, r.fk.fromColumns)} and ${cols(r.target.name, r.fk.toColumns)}`
      : `${r.fk.name} using ${cols(source.name, r.fk.toColumns)} and ${cols(r.target.name, r.fk.fromColumns)}`;
  return { cardinality: r.cardinality, embedding: `${source.name} with ${r.target.name}`, relationship };
}

/**
 * The relationship an embed names. A computed relationship wins over the foreign keys towards a
 * table of the same name, whatever the hint, as in PostgREST (where it replaces them).
 */
function resolveRelationship(ctx: PlanContext, source: Relation, item: EmbedItem): Relationship {
  const computed = computedRelationship(ctx.cache, source, item.name);
  if (computed) return computed;
  const found = findRelationships(ctx.cache, source, item.name, item.hint);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    const using = item.hint ? ` using the hint '${item.hint}'` : '';
    const related = relatedNames(ctx.cache, source);
    // As PostgREST: a misspelt embed gets the closest related name; a related one (a hint that
    // matched nothing) gets none.
    const suggestion = related.has(item.name) ? undefined : closest(item.name, related);
    throw cacheMiss(
      apiError(
        400,
        'PGRST200',
        `Could not find a relationship between '${source.name}' and '${item.name}' in the schema cache`,
        `Searched for a foreign key relationship between '${source.name}' and '${item.name}'${using} in the schema '${source.schema}', but no matches were found.`,
        suggestion ? `Perhaps you meant '${suggestion}' instead of '${item.name}'.` : null,
      ),
    );
  }
  // Each option names its target, as PostgREST's hint does: an embed by column matches several.
  const options = found.map((r) => `'${r.target.name}!${r.junction ? r.junction.relation.name : r.fk.name}'`);
  throw apiError(
    300,
    'PGRST201',
    `Could not embed because more than one relationship was found for '${source.name}' and '${item.name}'`,
    found.map((r) => describe(source, r)),
    `Try changing '${item.name}' to one of the following: ${options.join(', ')}. Find the desired relationship in the 'details' key.`,
  );
}

// ---------------------------------------------------------------- levels

type EmbedItem = Extract<SelectItem, { kind: 'embed' }>;

export interface PlanContext {
  readonly cache: SchemaCache;
  readonly query: ParsedQuery;
  readonly params: Params;
  /** Render the body as CSV instead of a JSON array. */
  csv?: boolean;
  /** Render the body as a GeoJSON FeatureCollection (`application/geo+json`). */
  geojson?: boolean;
  /** Leave out the null fields of the rows' JSON (`nulls=stripped`). */
  stripNulls?: boolean;
  /** Paths of `query.levels` that matched an embedded resource; others are PGRST108. */
  readonly usedLevels: Set<string>;
  aliasCounter: number;
}

export function newContext(cache: SchemaCache, query: ParsedQuery): PlanContext {
  return { cache, query, params: new Params(), usedLevels: new Set(['']), aliasCounter: 0 };
}

interface RenderedLevel {
  readonly selectList: string[];
  readonly joins: string[];
  readonly where: string[];
  readonly orderBy: string[];
  /** Joins the row count must keep because they drop rows (`!inner`, `rel=is.null`). */
  readonly filteringJoins: string[];
}

interface EmbedJoin {
  readonly alias: string;
  readonly toMany: boolean;
}

/**
 * The row of `alias` as a value of `relation`'s type, for a function of that row. The cast matters
 * where the alias is a CTE or subquery (a write's representation, a to-one computed relationship):
 * its row is a `record`, which an overloaded function (`f(films)`, `f(film_view)`) cannot be chosen
 * by. PostgREST casts the same way.
 */
const rowOf = (alias: string, relation: Relation) =>
  `${ident(alias)}::${qualified(relation.schema, relation.name)}`;

/**
 * A column, or what Postgres reads `alias.name` as when the relation has no such column: a computed
 * field `fn(alias)`, and in a select list the bare `count` that PostgREST has long answered with
 * `count(alias)` (`select=count`, `select=*,books(count)`), aggregates allowed or not.
 */
function columnRef(ctx: PlanContext, source: Source, alias: string, field: Field, inSelect = false): string {
  let sql: string;
  if (source.columns.has(field.name)) sql = `${ident(alias)}.${ident(field.name)}`;
  else {
    const relation = source.relation ?? ('pk' in source ? (source as Relation) : undefined);
    const computed = relation?.computed.get(field.name);
    if (computed && !computed.setof)
      sql = `${qualified(computed.schema, computed.name)}(${rowOf(alias, relation!)})`;
    else if (inSelect && field.name === 'count' && !field.json.length) sql = `count(${ident(alias)})`;
    else throw cacheMiss(undefinedColumn(source.name, field.name));
  }
  for (const step of field.json) {
    const key = typeof step.key === 'number' ? String(step.key) : `${ctx.params.add(step.key)}::text`;
    sql = `${sql}${step.arrow}${key}`;
  }
  return sql;
}

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
  if (op === 'is') {
    const value = filter.value as string;
    sql = value === 'not_null' ? `${lhs} IS NOT NULL` : `${lhs} IS ${value.toUpperCase()}`;
  } else if (op === 'in') {
    sql = `${lhs} = ANY(${p(filter.value)})`;
  } else if (op in FTS_FUNCTION) {
    const fn = FTS_FUNCTION[op]!;
    const query = filter.language
      ? `${fn}(${p(filter.language)}::regconfig, ${p(filter.value)})`
      : `${fn}(${p(filter.value)})`;
    sql = `${lhs} @@ ${query}`;
  } else if (filter.quantifier) {
    const values = (filter.value as string[]).map((v) =>
      op === 'like' || op === 'ilike' ? likePattern(v) : v,
    );
    sql = `${lhs} ${OPERATOR_SQL[op]} ${filter.quantifier.toUpperCase()}(${p(values)})`;
  } else {
    const raw = filter.value as string;
    const value = op === 'like' || op === 'ilike' ? likePattern(raw) : raw;
    sql = `${lhs} ${OPERATOR_SQL[op]} ${p(value)}`;
  }
  return filter.negate ? `NOT (${sql})` : sql;
}

/** `special` renders a filter the level treats otherwise (`rel=is.null` on an embed), else undefined. */
function renderCondition(
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

function renderOrder(
  ctx: PlanContext,
  source: Source,
  alias: string,
  terms: readonly OrderTerm[],
  select: readonly SelectItem[] = [],
): string[] {
  return terms.map((t) => {
    let sql = t.relation
      ? relatedOrderRef(ctx, source, alias, t.relation, t, select)
      : columnRef(ctx, source, alias, t.field);
    if (t.direction) sql += t.direction === 'desc' ? ' DESC' : ' ASC';
    if (t.nulls) sql += t.nulls === 'first' ? ' NULLS FIRST' : ' NULLS LAST';
    return sql;
  });
}

/**
 * `order=rel(col)`: the column of the one related row, as a correlated subquery. As in PostgREST,
 * `rel` is an embed of the level's select by its alias, or its name when it has none, and keeps
 * that embed's hint.
 */
function relatedOrderRef(
  ctx: PlanContext,
  source: Source,
  alias: string,
  name: string,
  term: OrderTerm,
  select: readonly SelectItem[],
): string {
  const parent = source.relation ?? ('pk' in source ? (source as Relation) : undefined);
  const notPossible = () =>
    apiError(
      400,
      'PGRST118',
      `A related order on '${name}' is not possible`,
      `'${source.name}' and '${name}' do not form a many-to-one or one-to-one relationship`,
    );
  if (!parent) throw notPossible();
  const embedded = select.find(
    (item): item is EmbedItem => item.kind === 'embed' && (item.alias ?? item.name) === name,
  );
  const rel = resolveRelationship(
    ctx,
    parent,
    embedded ?? { kind: 'embed', name, inner: false, spread: false, select: [] },
  );
  if (rel.cardinality !== 'many-to-one' && rel.cardinality !== 'one-to-one') throw notPossible();
  const ra = nextAlias(ctx, 'o');
  const column = columnRef(ctx, rel.target, ra, term.field);
  const { from, on } = relatedRows(ctx, rel, alias, ra);
  return `(SELECT ${column} FROM ${from}${whereClause(on)} LIMIT 1)`;
}

const whereClause = (conditions: readonly string[]) =>
  conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';

/**
 * How the rows of a relationship's target (as `childAlias`) are reached from one parent row: the
 * FROM item and the conditions tying it to `parentAlias`.
 */
function relatedRows(
  ctx: PlanContext,
  rel: Relationship,
  parentAlias: string,
  childAlias: string,
): { from: string; on: string[] } {
  const pa = ident(parentAlias);
  const ca = ident(childAlias);
  if (rel.kind === 'computed') {
    const call = `${qualified(rel.fn.schema, rel.fn.name)}(${rowOf(parentAlias, rel.source)})`;
    if (rel.fn.setof) return { from: `${call} AS ${ca}`, on: [] };
    // In FROM, a function returning one row turns a NULL result into a row of NULLs: no row is
    // no related row, so the result is tested as a whole value first.
    const row = 'pgrst_f';
    return {
      from: `(SELECT (${row}.v).* FROM (SELECT ${call} AS v OFFSET 0) AS ${row} WHERE ${row}.v IS DISTINCT FROM NULL) AS ${ca}`,
      on: [],
    };
  }
  const from = `${qualified(rel.target.schema, rel.target.name)} AS ${ca}`;
  const { fk, junction } = rel;
  if (rel.cardinality === 'many-to-one') {
    return { from, on: fk.fromColumns.map((c, i) => `${ca}.${ident(fk.toColumns[i]!)} = ${pa}.${ident(c)}`) };
  }
  if (junction) {
    const ja = ident(nextAlias(ctx, 'j'));
    const { relation, toTarget } = junction;
    const joinOn = toTarget.fromColumns.map(
      (c, i) => `${ja}.${ident(c)} = ${ca}.${ident(toTarget.toColumns[i]!)}`,
    );
    return {
      from: `${from} JOIN ${qualified(relation.schema, relation.name)} AS ${ja} ON ${joinOn.join(' AND ')}`,
      on: fk.fromColumns.map((c, i) => `${ja}.${ident(c)} = ${pa}.${ident(fk.toColumns[i]!)}`),
    };
  }
  return { from, on: fk.fromColumns.map((c, i) => `${ca}.${ident(c)} = ${pa}.${ident(fk.toColumns[i]!)}`) };
}

function outputName(item: Extract<SelectItem, { kind: 'column' }>): string {
  if (item.alias) return item.alias;
  // As in PostgREST: the last key of a JSON path; after an array index, the last name before it
  // (`data->arr->0` is `arr`, `data->0` is `data`).
  const names = [item.field.name, ...item.field.json.map((step) => step.key)];
  return String(names.findLast((key) => typeof key === 'string'));
}

function nextAlias(ctx: PlanContext, prefix: string) {
  ctx.aliasCounter += 1;
  return `pgrst_${prefix}${ctx.aliasCounter}`;
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
): RenderedLevel {
  const level: Level = ctx.query.levels.get(path) ?? { conditions: [] };
  ctx.usedLevels.add(path);
  const selectList: string[] = [];
  const joins: string[] = [];
  const filteringJoins: string[] = [];
  const embeds = new Map<string, EmbedJoin>();
  for (const item of select) {
    if (item.kind === 'star') selectList.push(`${ident(alias)}.*`);
    else if (item.kind === 'column') {
      let expr = columnRef(ctx, source, alias, item.field, true);
      if (item.cast) expr = `CAST(${expr} AS ${item.cast})`;
      selectList.push(`${expr} AS ${ident(outputName(item))}`);
    } else {
      const parent = source.relation ?? ('pk' in source ? (source as Relation) : undefined);
      if (!parent) {
        throw apiError(
          400,
          'PGRST200',
          `Could not find a relationship between '${source.name}' and '${item.name}' in the schema cache`,
        );
      }
      const rel = resolveRelationship(ctx, parent, item);
      const childPath = path ? `${path}.${item.alias ?? item.name}` : (item.alias ?? item.name);
      const rendered = renderEmbed(ctx, parent, alias, rel, item, childPath);
      joins.push(rendered.join);
      if (item.inner) filteringJoins.push(rendered.join);
      embeds.set(item.alias ?? item.name, { alias: rendered.alias, toMany: rendered.toMany });
      if (item.select.length === 0) continue; // an empty embed filters, it is not shown
      if (item.spread) selectList.push(`${ident(rendered.alias)}.*`);
      else if (rendered.toMany) {
        selectList.push(
          `COALESCE(${ident(rendered.alias)}.agg, '[]'::json) AS ${ident(item.alias ?? item.name)}`,
        );
      } else selectList.push(`${ident(rendered.alias)}.obj AS ${ident(item.alias ?? item.name)}`);
    }
  }
  // `rel=is.null` / `rel=not.is.null`, alone or in a logic tree (`or=(rel.not.is.null,...)`): keep
  // parents without / with related rows.
  const embedNull = (filter: Filter): string | undefined => {
    const embed = filter.field.json.length ? undefined : embeds.get(filter.field.name);
    if (!embed || filter.op !== 'is' || (filter.value !== 'null' && filter.value !== 'not_null')) return;
    const column = `${ident(embed.alias)}.${embed.toMany ? 'agg' : 'obj'}`;
    const join = joins.find((j) => j.endsWith(`AS ${ident(embed.alias)} ON TRUE`));
    if (join && !filteringJoins.includes(join)) filteringJoins.push(join);
    return filter.negate === (filter.value === 'null') ? `${column} IS NOT NULL` : `${column} IS NULL`;
  };
  const where = level.conditions.map((condition) =>
    renderCondition(ctx, source, alias, condition, embedNull),
  );
  const orderBy = level.order ? renderOrder(ctx, source, alias, level.order, select) : [];
  return { selectList, joins, where, orderBy, filteringJoins };
}

function renderEmbed(
  ctx: PlanContext,
  parent: Relation,
  parentAlias: string,
  rel: Relationship,
  item: EmbedItem,
  path: string,
): { join: string; alias: string; toMany: boolean } {
  const toMany = rel.cardinality === 'one-to-many' || rel.cardinality === 'many-to-many';
  if (item.spread && toMany) {
    throw apiError(
      400,
      'PGRST119',
      `A spread operation on '${item.name}' is not possible`,
      `'${parent.name}' and '${item.name}' do not form a many-to-one or one-to-one relationship`,
    );
  }
  const childAlias = nextAlias(ctx, 't');
  const level = renderLevel(ctx, rel.target, childAlias, item.select, path);
  const { from, on } = relatedRows(ctx, rel, parentAlias, childAlias);
  const levelOptions = ctx.query.levels.get(path);
  let sql = `SELECT ${level.selectList.join(', ')} FROM ${from} ${level.joins.join(' ')}${whereClause([...on, ...level.where])}`;
  if (level.orderBy.length) sql += ` ORDER BY ${level.orderBy.join(', ')}`;
  if (levelOptions?.limit !== undefined) sql += ` LIMIT ${ctx.params.add(levelOptions.limit)}`;
  if (levelOptions?.offset !== undefined) sql += ` OFFSET ${ctx.params.add(levelOptions.offset)}`;
  const joinAlias = nextAlias(ctx, 'e');
  const ja = ident(joinAlias);
  const rowAlias = ident(nextAlias(ctx, 'r'));
  const kind = item.inner ? 'INNER JOIN LATERAL' : 'LEFT JOIN LATERAL';
  if (item.spread) return { join: `${kind} (${sql}) AS ${ja} ON TRUE`, alias: joinAlias, toMany };
  if (toMany) {
    const lateral = `(SELECT json_agg(${rowAlias}) AS agg FROM (${sql}) AS ${rowAlias})`;
    const cond = item.inner ? `${ja}.agg IS NOT NULL` : 'TRUE';
    // Keep the `ON TRUE` suffix recognisable for `rel=is.null` filters.
    return { join: `${kind} ${lateral} AS ${ja} ON ${cond}`, alias: joinAlias, toMany };
  }
  const lateral = `(SELECT row_to_json(${rowAlias}) AS obj FROM (${sql}) AS ${rowAlias})`;
  return { join: `${kind} ${lateral} AS ${ja} ON TRUE`, alias: joinAlias, toMany };
}

export function checkUnusedLevels(ctx: PlanContext) {
  for (const path of ctx.query.levels.keys()) {
    if (ctx.usedLevels.has(path)) continue;
    const name = path.split('.').pop()!;
    throw apiError(
      400,
      'PGRST108',
      `'${name}' is not an embedded resource in this request`,
      null,
      `Verify that '${name}' is included in the 'select' query parameter.`,
    );
  }
}

// ---------------------------------------------------------------- lookups

export function findRelation(cache: SchemaCache, schema: string, name: string): Relation {
  const relation = cache.relations.get(qualifiedKey(schema, name));
  if (relation) return relation;
  const names = [...cache.relations.values()].filter((r) => r.schema === schema).map((r) => r.name);
  throw cacheMiss(tableNotFound(schema, name, closest(name, names)));
}

export function requireColumns(relation: Relation, columns: Iterable<string>) {
  for (const c of columns) {
    if (!relation.columns.has(c)) throw cacheMiss(columnNotFound(c, relation.name));
  }
}

// ---------------------------------------------------------------- reads

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

const rowsBody = (ctx: PlanContext) =>
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
function wrapRows(inner: string, totalSql: string, csv = false, jsonBody = ROWS_JSON, extra = '') {
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
  const alias = 'pgrst_t0';
  const fromSql = `${from} AS ${ident(alias)}`;
  const level = renderLevel(ctx, source, alias, ctx.query.select, '');
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
  if (count !== 'planned' && count !== 'estimated') return { sql, params };
  // EXPLAIN of count(*) would estimate its one row: the estimate is that of the rows themselves.
  const rows = withCall + countSql(level, fromSql, '1');
  const [planned, exact] = splitParams([`EXPLAIN (FORMAT JSON) ${rows}`, rows], params);
  return counted ? { sql, params, planned: planned! } : { sql, params, planned: planned!, exact: exact! };
}

// ---------------------------------------------------------------- writes

export type ReturnPreference = 'minimal' | 'headers-only' | 'representation';

export interface WritePlan {
  /** Statements run in order; with `returning`, the last one yields the rows. */
  readonly statements: Statement[];
  readonly returning: boolean;
  /**
   * A merging upsert: how many rows it inserted (rather than updated) is a fourth column of the
   * returning row, or each statement's one row `(affected, inserted)` without returning.
   */
  readonly countsInserted?: boolean;
}

function returningSelect(
  ctx: PlanContext,
  relation: Relation,
  ret: ReturnPreference,
  cte: string,
  extra = '',
): string {
  const alias = 'pgrst_t0';
  const select: readonly SelectItem[] =
    ret === 'headers-only'
      ? relation.pk.map((name) => ({ kind: 'column' as const, field: { name, json: [] } }))
      : ctx.query.select;
  // Root filters already applied to the written rows; embedded levels still apply.
  const levels = new Map([...ctx.query.levels].filter(([path]) => path !== ''));
  const sub: PlanContext = { ...ctx, query: { ...ctx.query, levels } };
  const level = renderLevel(sub, relation, alias, select, '');
  ctx.aliasCounter = sub.aliasCounter;
  const inner = `SELECT ${level.selectList.join(', ') || 'NULL'} FROM pgrst_source AS ${ident(alias)} ${level.joins.join(' ')}`;
  return `WITH pgrst_source AS (${cte}) ${wrapRows(inner, 'NULL::bigint', ctx.csv && ret === 'representation', rowsBody(ctx), extra)}`;
}

export interface InsertOptions {
  readonly rows: Record<string, unknown>[];
  readonly columns: readonly string[];
  readonly missingDefault: boolean;
  readonly upsert?: { readonly onConflict: readonly string[]; readonly ignore: boolean };
  readonly ret: ReturnPreference;
}

export function planInsert(ctx: PlanContext, relation: Relation, options: InsertOptions): WritePlan {
  requireColumns(relation, options.columns);
  const target = qualified(relation.schema, relation.name);
  if (options.upsert) requireColumns(relation, options.upsert.onConflict);
  const { columns } = options;
  const cols = columns.map(ident).join(', ');
  let rows = `${ctx.params.add(JSON.stringify(options.rows))}::json`;
  // `missing=default`, as in PostgREST: a row that omits a column gets the column's default,
  // evaluated for that row in the order sent (so a sequence's values follow the rows).
  const defaulted = options.missingDefault
    ? columns.flatMap((c) => {
        const sql = relation.columns.get(c)?.insertDefault;
        if (!sql) return [];
        const name = `${ctx.params.add(c)}::text`;
        return [`CASE WHEN e.v ? ${name} THEN '{}' ELSE jsonb_build_object(${name}, ${sql}) END`];
      })
    : [];
  if (defaulted.length) {
    rows = `(SELECT jsonb_agg(${defaulted.join(' || ')} || e.v ORDER BY e.i) FROM jsonb_array_elements(${rows}::jsonb) WITH ORDINALITY AS e(v, i))::json`;
  }
  // Objects with no columns at all become rows of defaults.
  let insert = columns.length
    ? `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::${target}, ${rows})`
    : `INSERT INTO ${target} SELECT FROM generate_series(1, ${ctx.params.add(options.rows.length)}::int)`;
  if (options.upsert && columns.length) {
    const conflict = options.upsert.onConflict.map(ident).join(', ');
    insert += options.upsert.ignore
      ? ` ON CONFLICT (${conflict}) DO NOTHING`
      : ` ON CONFLICT (${conflict}) DO UPDATE SET ${columns.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ')}`;
  }
  // A merging upsert answers 200 rather than 201 when it inserted nothing. A written row was
  // inserted when no row had its conflict key before: the statement's other parts still see the
  // table as it was (unlike `xmax = 0`, this works for partitioned tables and views too).
  const countsInserted =
    options.upsert !== undefined && !options.upsert.ignore && options.upsert.onConflict.length > 0;
  const inserted = (rows: string) => {
    const same = options.upsert!.onConflict.map((c) => `pgrst_before.${ident(c)} = ${rows}.${ident(c)}`);
    return `count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ${target} AS pgrst_before WHERE ${same.join(' AND ')}))::int`;
  };
  if (options.ret === 'minimal') {
    checkUnusedLevels(ctx);
    // Only the key comes back: the role may lack SELECT on other columns.
    const sql = countsInserted
      ? `WITH pgrst_w AS (${insert} RETURNING ${options.upsert!.onConflict.map(ident).join(', ')}) SELECT count(*)::int, ${inserted('pgrst_w')} FROM pgrst_w`
      : insert;
    return { statements: [{ sql, params: ctx.params.values }], returning: false, countsInserted };
  }
  const extra = countsInserted
    ? `, (SELECT ${inserted('pgrst_written')} FROM pgrst_source AS pgrst_written) AS inserted`
    : '';
  const sql = returningSelect(ctx, relation, options.ret, `${insert} RETURNING *`, extra);
  checkUnusedLevels(ctx);
  return { statements: [{ sql, params: ctx.params.values }], returning: true, countsInserted };
}

export function planUpdate(
  ctx: PlanContext,
  relation: Relation,
  body: Record<string, unknown>,
  columns: readonly string[],
  ret: ReturnPreference,
): WritePlan {
  requireColumns(relation, columns);
  const alias = 'pgrst_t0';
  const target = qualified(relation.schema, relation.name);
  const where = renderRootWhere(ctx, relation, alias);
  const set = columns.map((c) => `${ident(c)} = pgrst_body.${ident(c)}`).join(', ');
  const sql = `UPDATE ${target} AS ${ident(alias)} SET ${set} FROM (SELECT * FROM json_populate_record(NULL::${target}, ${ctx.params.add(JSON.stringify(body))}::json)) AS pgrst_body${where}`;
  return finishWrite(ctx, relation, sql, alias, ret);
}

export function planDelete(ctx: PlanContext, relation: Relation, ret: ReturnPreference): WritePlan {
  const alias = 'pgrst_t0';
  const where = renderRootWhere(ctx, relation, alias);
  const sql = `DELETE FROM ${qualified(relation.schema, relation.name)} AS ${ident(alias)}${where}`;
  return finishWrite(ctx, relation, sql, alias, ret);
}

function finishWrite(
  ctx: PlanContext,
  relation: Relation,
  sql: string,
  alias: string,
  ret: ReturnPreference,
): WritePlan {
  if (ret === 'minimal') {
    checkUnusedLevels(ctx);
    return { statements: [{ sql, params: ctx.params.values }], returning: false };
  }
  const full = returningSelect(ctx, relation, ret, `${sql} RETURNING ${ident(alias)}.*`);
  checkUnusedLevels(ctx);
  return { statements: [{ sql: full, params: ctx.params.values }], returning: true };
}

/** Renumbers `$n` so each statement carries only the parameters it references. */
function splitParams(statements: string[], values: unknown[]): Statement[] {
  return statements.map((sql) => {
    const used: unknown[] = [];
    const map = new Map<string, string>();
    const renumbered = sql.replace(/\$(\d+)/g, (_m, n: string) => {
      let to = map.get(n);
      if (!to) {
        used.push(values[Number(n) - 1]);
        to = `$${used.length}`;
        map.set(n, to);
      }
      return to;
    });
    return { sql: renumbered, params: used };
  });
}

/**
 * Filters of the root level for UPDATE/DELETE. With `limit`/`offset` (PostgREST's limited
 * update/delete) an explicit `order` is required (PGRST109) and the rows are picked by a subquery
 * on `(tableoid, ctid)` (tables) or the primary key (views).
 */
function renderRootWhere(ctx: PlanContext, relation: Relation, alias: string): string {
  const level = ctx.query.levels.get('') ?? { conditions: [] };
  if (level.limit === undefined && level.offset === undefined) {
    const where = level.conditions.map((c) => renderCondition(ctx, relation, alias, c));
    return where.length ? ` WHERE ${where.join(' AND ')}` : '';
  }
  if (!level.order?.length) {
    throw apiError(
      400,
      'PGRST109',
      "A 'limit' was applied without an explicit 'order'",
      null,
      "Apply an 'order' using unique column(s)",
    );
  }
  // `ctid` alone repeats across the partitions of a partitioned table; `tableoid` tells them apart.
  const keys = relation.kind === 'table' || !relation.pk.length ? ['tableoid', 'ctid'] : relation.pk;
  const inner = 'pgrst_l';
  const where = level.conditions.map((c) => renderCondition(ctx, relation, inner, c));
  let sql = `SELECT ${keys.map((k) => `${ident(inner)}.${ident(k)}`).join(', ')} FROM ${qualified(relation.schema, relation.name)} AS ${ident(inner)}`;
  if (where.length) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ` ORDER BY ${renderOrder(ctx, relation, inner, level.order).join(', ')}`;
  if (level.limit !== undefined) sql += ` LIMIT ${ctx.params.add(level.limit)}`;
  if (level.offset !== undefined) sql += ` OFFSET ${ctx.params.add(level.offset)}`;
  const outer = keys.map((k) => `${ident(alias)}.${ident(k)}`).join(', ');
  return ` WHERE (${outer}) IN (${sql})`;
}

// ---------------------------------------------------------------- functions

/**
 * Picks the function a request calls, as PostgREST 12 does: by the set of argument names (every
 * required argument given, every given name an argument), else a single unnamed json/jsonb
 * argument for a POST body. More than one match is ambiguous (PGRST203), none is PGRST202.
 */
export function findRoutine(
  cache: SchemaCache,
  schema: string,
  name: string,
  argNames: readonly string[],
  singleObject: boolean,
  post = true,
): { routine: Routine; singleParam: boolean } {
  const candidates = cache.routines.get(qualifiedKey(schema, name)) ?? [];
  const given = new Set(argNames);
  const isJson = (type: string) => type === 'json' || type === 'jsonb';
  const pick = (found: Routine[], singleParam: boolean) => {
    if (found.length === 1) return { routine: found[0]!, singleParam };
    if (found.length > 1) throw ambiguous(found);
    return undefined;
  };
  if (singleObject) {
    const chosen =
      pick(
        candidates.filter((r) => r.args.length === 1 && isJson(r.args[0]!.type)),
        true,
      ) ?? // Beyond PostgREST: any one-argument function takes the whole body.
      pick(
        candidates.filter((r) => r.args.length === 1),
        true,
      );
    if (chosen) return chosen;
  } else {
    const byName = candidates.filter(
      (r) =>
        r.args.every((a) => a.name !== '') &&
        argNames.every((n) => r.args.some((a) => a.name === n)) &&
        r.args.every((a) => a.hasDefault || given.has(a.name)),
    );
    const chosen =
      pick(byName, false) ??
      (post
        ? pick(
            candidates.filter(
              (r) => r.args.length === 1 && r.args[0]!.name === '' && isJson(r.args[0]!.type),
            ),
            true,
          )
        : undefined);
    if (chosen) return chosen;
  }
  const qualifiedName = `${schema}.${name}`;
  const sorted = [...argNames].sort();
  const list = sorted.join(', ');
  // PostgREST's wording: the parameters given (none, one, several), and the single-json fallback
  // only where a POST could have used it; under params=single-object only that.
  const withGiven = argNames.length
    ? ` with parameter${argNames.length > 1 ? 's' : ''} ${list}`
    : ' without parameters';
  const searched = singleObject
    ? ' with a single json/jsonb parameter'
    : `${withGiven}${post ? ' or with a single unnamed json/jsonb parameter' : ''}`;
  let hint: string | null = null;
  if (!singleObject) {
    // A function of that name with other parameters: the closest parameter list, as PostgREST.
    const allNames = [...cache.routines.values()]
      .flat()
      .filter((r) => r.schema === schema)
      .map((r) => r.name);
    const suggestion = candidates.length ? closestParameters(sorted, candidates) : closest(name, allNames);
    if (suggestion)
      hint = `Perhaps you meant to call the function ${schema}.${candidates.length ? name : ''}${suggestion}`;
  }
  throw cacheMiss(
    apiError(
      404,
      'PGRST202',
      singleObject
        ? `Could not find the function ${qualifiedName} in the schema cache`
        : argNames.length
          ? `Could not find the function ${qualifiedName}(${list}) in the schema cache`
          : `Could not find the function ${qualifiedName} without parameters in the schema cache`,
      `Searched for the function ${qualifiedName}${searched}, but no matches were found in the schema cache.`,
      hint,
    ),
  );
}

/**
 * The parameter list of `candidates` most like the given one, compared as PostgREST's hint does
 * (each list as text, `(a, b)` with names sorted): similarity is 1 - edit distance / longer
 * length, and at least a third.
 */
function closestParameters(given: readonly string[], candidates: readonly Routine[]): string | undefined {
  const text = (names: readonly string[]) => `(${[...names].sort().join(', ')})`;
  const target = text(given);
  let best: string | undefined;
  let bestScore = 0.33;
  for (const r of candidates) {
    const option = text(r.args.map((a) => a.name));
    const longer = Math.max(option.length, target.length);
    // Not worth comparing texts so different in length that they cannot score.
    if (Math.abs(option.length - target.length) > longer * (1 - bestScore)) continue;
    const score = 1 - editDistance(target, option) / longer;
    if (score >= bestScore && option !== best) {
      best = option;
      bestScore = score;
    }
  }
  return best;
}

/** The function a raw body goes to: its one parameter is unnamed and of `type` (`text`, `xml`, `bytea`). */
export function findRawRoutine(
  cache: SchemaCache,
  schema: string,
  name: string,
  type: string,
): { routine: Routine; singleParam: true } {
  const found = (cache.routines.get(qualifiedKey(schema, name)) ?? []).filter(
    (r) => r.args.length === 1 && r.args[0]!.name === '' && r.args[0]!.type === type,
  );
  if (found.length === 1) return { routine: found[0]!, singleParam: true };
  if (found.length > 1) throw ambiguous(found);
  throw cacheMiss(
    apiError(
      404,
      'PGRST202',
      `Could not find the function ${schema}.${name} in the schema cache`,
      `Searched for the function ${schema}.${name} with a single unnamed ${type} parameter, but no matches were found in the schema cache.`,
    ),
  );
}

function ambiguous(routines: readonly Routine[]) {
  const signature = (r: Routine) =>
    `${r.schema}.${r.name}(${r.args.map((a) => (a.name ? `${a.name} => ${a.type}` : a.type)).join(', ')})`;
  return apiError(
    300,
    'PGRST203',
    `Could not choose the best candidate function between: ${routines.map(signature).join(', ')}`,
    null,
    'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  );
}

/** A JSON argument value as the text Postgres parses for the argument's type. */
function argValue(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  // A raw `application/octet-stream` body stays bytes (sent as bytea hex, see toParam).
  if (Buffer.isBuffer(value)) return value;
  if (type === 'json' || type === 'jsonb') return JSON.stringify(value);
  if (Array.isArray(value) && type.endsWith('[]')) return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function routineCall(
  ctx: PlanContext,
  routine: Routine,
  args: Record<string, unknown> | undefined,
  singleParamBody: unknown,
  singleParam: boolean,
): string {
  const fn = qualified(routine.schema, routine.name);
  if (singleParam) {
    const arg = routine.args[0]!;
    const value = ctx.params.add(argValue(singleParamBody, arg.type));
    return arg.name ? `${fn}(${ident(arg.name)} := ${value}::${arg.type})` : `${fn}(${value}::${arg.type})`;
  }
  const parts: string[] = [];
  for (const arg of routine.args) {
    if (!args || !Object.hasOwn(args, arg.name)) continue;
    let value = args[arg.name];
    // A variadic argument takes a list; a single value is a list of one.
    if (arg.variadic && value !== null && !Array.isArray(value)) value = [value];
    const sql = `${ident(arg.name)} := ${ctx.params.add(argValue(value, arg.type))}::${arg.type}`;
    parts.push(arg.variadic ? `VARIADIC ${sql}` : sql);
  }
  return `${fn}(${parts.join(', ')})`;
}

/** The one column of a scalar function's result, named as PostgREST names it for clients to filter on. */
const SCALAR_COLUMN = 'pgrst_scalar';

function scalarSource(routine: Routine): Source {
  const column: Column = {
    name: SCALAR_COLUMN,
    type: routine.returnType,
    nullable: true,
    hasDefault: false,
    generated: false,
  };
  // Named after the function: an unknown column is `column <function>.<name> does not exist`.
  return { schema: routine.schema, name: routine.name, columns: new Map([[SCALAR_COLUMN, column]]) };
}

/**
 * The body from the rows left after filters: a JSON array for a SETOF function; for one value the
 * value, JSON `null` when it is NULL or filtered out, as in PostgREST; under a raw media type its
 * text (`bytea` as hex), empty then.
 */
function scalarBody(routine: Routine, raw: boolean): string {
  const value = `pgrst_row.${SCALAR_COLUMN}`;
  if (raw) {
    const text = routine.returnType === 'bytea' ? `encode(${value}, 'hex')` : `${value}::text`;
    return `coalesce(string_agg(${text}, ''), '')`;
  }
  return routine.setof
    ? `coalesce(json_agg(${value}), '[]'::json)::text`
    : `coalesce((json_agg(${value})->0)::text, 'null')`;
}

export interface RpcPlan {
  readonly statement: Statement;
  /** `rows`: array body (json_agg); `object`: a single composite; `scalar`/`void` as named. */
  readonly shape: 'rows' | 'object' | 'scalar' | 'void';
  readonly planned?: Statement;
  readonly exact?: Statement;
}

export function planRpc(
  ctx: PlanContext,
  routine: Routine,
  call: string,
  range: Range,
  count: CountKind | undefined,
  /** The scalar result as its own text (`bytea` as hex) instead of JSON: a raw media type was asked for. */
  raw = false,
): RpcPlan {
  if (routine.returns === 'void') {
    checkUnusedLevels(ctx);
    // A fixed result type keeps the prepared statement valid if the function is redefined.
    const sql = `SELECT NULL::bigint AS total, 0 AS n, '' AS body, ${RESPONSE_GUCS} FROM ${call} AS pgrst_void`;
    return { statement: { sql, params: ctx.params.values }, shape: 'void' };
  }
  if (routine.returns === 'scalar') {
    // As in PostgREST, the result is a relation with the one column `pgrst_scalar`, so filters,
    // order, paging, counts and select work on it like on any other read.
    const plan = planRead(ctx, scalarSource(routine), 'pgrst_call', range, count, {
      call: `SELECT ${call} AS ${SCALAR_COLUMN}`,
      jsonBody: scalarBody(routine, raw),
    });
    // CSV is rows under the `pgrst_scalar` header, for one value as for a set of them.
    return rpcRead(plan, routine.setof || ctx.csv || ctx.geojson ? 'rows' : 'scalar');
  }
  const returned = routine.returnRelation
    ? ctx.cache.relations.get(qualifiedKey(routine.returnRelation.schema, routine.returnRelation.name))
    : undefined;
  const source: Source = {
    schema: routine.schema,
    name: routine.name,
    columns: routine.columns,
    ...(returned ? { relation: returned } : {}),
  };
  const plan = planRead(ctx, source, 'pgrst_call', range, count, { call: `SELECT * FROM ${call}` });
  return rpcRead(plan, routine.setof ? 'rows' : 'object');
}

const rpcRead = (plan: ReadPlan, shape: RpcPlan['shape']): RpcPlan => ({
  statement: plan,
  shape,
  ...(plan.planned ? { planned: plan.planned } : {}),
  ...(plan.exact ? { exact: plan.exact } : {}),
});

export { ApiError };
