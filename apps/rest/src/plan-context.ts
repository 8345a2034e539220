import { apiError, cacheMiss, columnNotFound, tableNotFound } from './errors.js';
import type { ParsedQuery, SelectItem } from './query-parser.js';
import { type Column, closest, qualifiedKey, type Relation, type SchemaCache } from './schema-cache.js';
import { Params } from './sql.js';

/** What planning one request carries along: the schema cache, the parsed query, the parameters so far. */

/** Something rows can be selected from: a table, a view, or a function's result. */
export interface Source {
  readonly schema: string;
  readonly name: string;
  readonly columns: ReadonlyMap<string, Column>;
  readonly relation?: Relation;
}

/** The table or view a source's rows are rows of (itself, or what a function returns), if any. */
export const relationOf = (source: Source): Relation | undefined =>
  source.relation ?? ('pk' in source ? (source as Relation) : undefined);

/** Column names each once, in PostgREST's order for them (sorted by their bytes). */
export const columnSet = (columns: readonly string[]) =>
  [...new Set(columns)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

/**
 * The names a select list reads from the source's rows (its columns and aggregates' inputs, not its
 * embeds) when one of them is no column, computed field or `count` of the source; else null, and so
 * with a `*`. PostgREST lists exactly those names there (a write's RETURNING, a call's select), so
 * Postgres raises its 42703 for the unknown one, or reads a system column (`ctid`).
 */
export function selectNamingUnknown(select: readonly SelectItem[], source: Source): string[] | null {
  const names: string[] = [];
  for (const item of select) {
    if (item.kind === 'star') return null;
    if ((item.kind === 'column' || item.kind === 'aggregate') && item.field) names.push(item.field.name);
  }
  const computed = relationOf(source)?.computed;
  const unknown = (n: string) => !source.columns.has(n) && !computed?.has(n) && n !== 'count';
  return names.some(unknown) ? names : null;
}

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
  /**
   * What Postgres calls the relation one of our aliases reads in PostgREST's own query, for its
   * 42703 and 42803: the root is the table's (or function's) own name, an embedded one
   * `<table>_<depth>` (Plan.hs addRels), but a many-to-many target is unaliased, so its own name
   * (QueryBuilder.hs fromF).
   */
  readonly aliasNames: Map<string, string>;
  /** The aliases of the levels being rendered, outermost first: an embed's must differ from them all. */
  readonly openAliases: string[];
  aliasCounter: number;
}

export function newContext(cache: SchemaCache, query: ParsedQuery): PlanContext {
  return {
    cache,
    query,
    params: new Params(),
    usedLevels: new Set(['']),
    aliasNames: new Map(),
    openAliases: [],
    aliasCounter: 0,
  };
}

/**
 * PostgREST's name for the lateral join that shows an embed's row, `<table>_<embed>_<depth>` (Plan.hs
 * addRels relAggAlias): what a related order reads, and what Postgres's messages about it name.
 */
export const embedJoinName = (parentTable: string, embed: string, depth: number) =>
  `${parentTable}_${embed}_${depth}`;

/**
 * The alias of the relation a statement reads at the top: its table's or function's own name, as
 * PostgREST's statement names it (the table unaliased, a write's or function's rows `pgrst_source AS
 * "<name>"`), so that Postgres's hints for a column it lacks, which weigh every relation by how close
 * its name is to the one written, are those PostgREST's statement gets. Our own names are kept out.
 */
export function rootAlias(ctx: PlanContext, name: string): string {
  const alias = name.startsWith('pgrst_') ? nextAlias(ctx, 't') : name;
  ctx.aliasNames.set(alias, name);
  return alias;
}

export function nextAlias(ctx: PlanContext, prefix: string) {
  ctx.aliasCounter += 1;
  return `pgrst_${prefix}${ctx.aliasCounter}`;
}

/** PGRST108: a filter, order, limit or related order names a resource the select does not embed. */
export function notEmbedded(name: string) {
  return apiError(
    400,
    'PGRST108',
    `'${name}' is not an embedded resource in this request`,
    null,
    `Verify that '${name}' is included in the 'select' query parameter.`,
  );
}

/**
 * PGRST108 for a level no embed used. For a write (`write`), only one with filters or logic trees:
 * PostgREST 12.2 plans no `order`, `limit` or `offset` of an embedded resource for a write
 * (Plan.hs addOrders/addRanges skip mutations), so naming one the select lacks is no error.
 */
export function checkUnusedLevels(ctx: PlanContext, write = false) {
  for (const [path, level] of ctx.query.levels) {
    if (ctx.usedLevels.has(path) || (write && !level.conditions.length)) continue;
    throw notEmbedded(path.split('.').pop()!);
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
