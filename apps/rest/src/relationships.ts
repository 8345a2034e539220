import { apiError, cacheMiss } from './errors.js';
import type { SelectItem } from './query-parser.js';
import {
  type ComputedField,
  closest,
  type ForeignKey,
  qualifiedKey,
  type Relation,
  type SchemaCache,
} from './schema-cache.js';
import { nextAlias, type PlanContext } from './plan-context.js';
import { ident, qualified } from './sql.js';

/**
 * Which relationship an embed (or a related order) names, and how the related rows are reached:
 * foreign keys either way, many-to-many through a join table, and computed relationships.
 */

export type Relationship = FkRelationship | ComputedRelationship;

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

/** The tables and views of `schema` that have any relationship: a foreign key either way, or a computed one. */
function namesWithRelationships(cache: SchemaCache, schema: string): Set<string> {
  const names = new Set<string>();
  for (const fk of cache.foreignKeys) {
    if (fk.fromSchema === schema) names.add(fk.fromTable);
    if (fk.toSchema === schema) names.add(fk.toTable);
  }
  for (const relation of cache.relations.values()) {
    if (relation.schema !== schema || names.has(relation.name)) continue;
    for (const name of relation.computed.keys()) {
      if (computedRelationship(cache, relation, name)) names.add(relation.name);
    }
  }
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
export function resolveRelationship(ctx: PlanContext, source: Relation, item: EmbedItem): Relationship {
  const computed = computedRelationship(ctx.cache, source, item.name);
  if (computed) return computed;
  const found = findRelationships(ctx.cache, source, item.name, item.hint);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    const using = item.hint ? ` using the hint '${item.hint}'` : '';
    const related = relatedNames(ctx.cache, source);
    // As PostgREST: a parent with no relationships at all may be what is misspelt, and gets the
    // closest table or view that has some; otherwise a misspelt embed gets the closest related
    // name, and a related one (a hint that matched nothing) gets none.
    const [suggestion, instead] =
      related.size === 0
        ? [closest(source.name, namesWithRelationships(ctx.cache, source.schema)), source.name]
        : [related.has(item.name) ? undefined : closest(item.name, related), item.name];
    throw cacheMiss(
      apiError(
        400,
        'PGRST200',
        `Could not find a relationship between '${source.name}' and '${item.name}' in the schema cache`,
        `Searched for a foreign key relationship between '${source.name}' and '${item.name}'${using} in the schema '${source.schema}', but no matches were found.`,
        suggestion ? `Perhaps you meant '${suggestion}' instead of '${instead}'.` : null,
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

export type EmbedItem = Extract<SelectItem, { kind: 'embed' }>;

/**
 * The row of `alias` as a value of `relation`'s type, for a function of that row. The cast matters
 * where the alias is a CTE or subquery (a write's representation, a to-one computed relationship):
 * its row is a `record`, which an overloaded function (`f(films)`, `f(film_view)`) cannot be chosen
 * by. PostgREST casts the same way.
 */
export const rowOf = (alias: string, relation: Relation) =>
  `${ident(alias)}::${qualified(relation.schema, relation.name)}`;

/**
 * How the rows of a relationship's target (as `childAlias`) are reached from one parent row: the
 * FROM item and the conditions tying it to `parentAlias`.
 */
export function relatedRows(
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
    const { relation, toTarget } = junction;
    // Unaliased in PostgREST's query (QueryBuilder.hs fromF), so named after its table here too,
    // as Postgres's hints for a column the target lacks weigh it by that name; ours when that
    // would hide the target or a level the embed is inside.
    const taken = relation.name === childAlias || ctx.openAliases.includes(relation.name);
    const ja = ident(taken || relation.name.startsWith('pgrst_') ? nextAlias(ctx, 'j') : relation.name);
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
