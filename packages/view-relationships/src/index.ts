/**
 * Relationships through views, as PostgREST infers them: a view exposing, unchanged, every column
 * of one side of a foreign key takes part in that key. The data API (its schema cache) embeds
 * through them and the generated TypeScript types describe them, so both read them from here and
 * cannot disagree on what supabase-js may embed.
 */

/**
 * The joins tracing the columns of `view` (the alias of its pg_class row) to the base columns they
 * are as they are, from the view's stored query tree (each target entry's `resorigtbl` and
 * `resorigcol`; an expression has none). They bind `m.match[1]` (the output column's name),
 * `m.ord` (its place in the tree: nested subqueries come first, the view's own target list last),
 * `tc`, `tn` and `ta` (the base table, its schema and its column).
 */
export function viewColumnJoins(view: string): string {
  return `JOIN pg_rewrite rw ON rw.ev_class = ${view}.oid AND rw.rulename = '_RETURN'
  CROSS JOIN LATERAL regexp_matches(rw.ev_action::text,
    ':resname (\\S+) :ressortgroupref \\d+ :resorigtbl (\\d+) :resorigcol (\\d+)', 'g') WITH ORDINALITY AS m(match, ord)
  JOIN pg_class tc ON tc.oid = m.match[2]::oid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
  JOIN pg_attribute ta ON ta.attrelid = tc.oid AND ta.attnum = m.match[3]::int2`;
}

/** A target entry of a view's query that is a base column as it is, in the order of `m.ord`. */
export interface ViewColumn {
  readonly viewSchema: string;
  readonly view: string;
  /** The entry's output name: the view's column when the entry is in the view's own target list. */
  readonly column: string;
  readonly tableSchema: string;
  readonly table: string;
  readonly tableColumn: string;
}

/** The two ends of a foreign key; a key type may carry more (its name, whether it is one-to-one). */
export interface KeyEnds {
  readonly fromSchema: string;
  readonly fromTable: string;
  readonly fromColumns: readonly string[];
  readonly toSchema: string;
  readonly toTable: string;
  readonly toColumns: readonly string[];
}

/** What the caller serves: relations (tables and views) and their columns. */
export interface Exposed {
  hasRelation(schema: string, name: string): boolean;
  hasColumn(schema: string, name: string, column: string): boolean;
}

interface End {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly string[];
  readonly view: boolean;
}

/**
 * Each key again for every pair of ends of it where at least one end is a view exposing that side's
 * columns (the other end the table itself, when exposed, or another such view). The keys themselves
 * may be of any schema: a key between unexposed tables still relates the views exposing them.
 */
export function keysThroughViews<K extends KeyEnds>(
  keys: readonly K[],
  viewColumns: readonly ViewColumn[],
  exposed: Exposed,
): K[] {
  // Per view: base column (schema, table, column) → the view's column exposing it.
  const views = new Map<string, { schema: string; name: string; columns: Map<string, string> }>();
  for (const c of viewColumns) {
    // A nested subquery's entry names no column of the view unless the view's own entry does too.
    if (!exposed.hasColumn(c.viewSchema, c.view, c.column)) continue;
    const at = `${c.viewSchema}\u0000${c.view}`;
    let view = views.get(at);
    if (!view) {
      view = { schema: c.viewSchema, name: c.view, columns: new Map() };
      views.set(at, view);
    }
    // Later entries are the view's own target list: the last word.
    view.columns.set(`${c.tableSchema}\u0000${c.table}\u0000${c.tableColumn}`, c.column);
  }
  if (views.size === 0) return [];

  const ends = (schema: string, table: string, columns: readonly string[]): End[] => {
    const found: End[] = exposed.hasRelation(schema, table)
      ? [{ schema, name: table, columns, view: false }]
      : [];
    for (const view of views.values()) {
      const mapped = columns.map((c) => view.columns.get(`${schema}\u0000${table}\u0000${c}`));
      if (mapped.every((c): c is string => c !== undefined)) {
        found.push({ schema: view.schema, name: view.name, columns: mapped, view: true });
      }
    }
    return found;
  };
  const out: K[] = [];
  for (const key of keys) {
    const targets = ends(key.toSchema, key.toTable, key.toColumns);
    for (const from of ends(key.fromSchema, key.fromTable, key.fromColumns)) {
      for (const to of targets) {
        if (!from.view && !to.view) continue;
        out.push({
          ...key,
          fromSchema: from.schema,
          fromTable: from.name,
          fromColumns: from.columns,
          toSchema: to.schema,
          toTable: to.name,
          toColumns: to.columns,
        });
      }
    }
  }
  return out;
}
