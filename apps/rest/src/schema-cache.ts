import {
  type KeyEnds,
  keysThroughViews,
  type ViewColumn as TracedColumn,
  viewColumnJoins,
} from '@supaplane/view-relationships';
import type pg from 'pg';

/** What the engine knows about the exposed schemas, introspected from pg_catalog in one round trip. */

export interface Column {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
  /** Generated or identity ALWAYS: cannot be written. */
  readonly generated: boolean;
  /** `COMMENT ON COLUMN` and the default expression, for the OpenAPI document. */
  readonly comment?: string | null;
  readonly defaultSql?: string | null;
  /**
   * What a value missing under `Prefer: missing=default` becomes: the default (the domain's, or
   * `nextval` for an identity). A view column has only its own (`ALTER VIEW … SET DEFAULT`) or its
   * domain's, as PostgREST reads defaults (its base column's is not looked at: NULL is written).
   */
  readonly insertDefault?: string | null;
  /** Its type is a domain with casts PostgREST reads as the domain's representations. */
  readonly representation?: Representation;
}

/** A function of a schema, named for SQL by `qualified(schema, name)`. */
export interface FunctionName {
  readonly schema: string;
  readonly name: string;
}

/**
 * PostgREST's domain representations (`CREATE CAST … WITH FUNCTION … AS IMPLICIT`, the function
 * executable by the login role): how a column of the domain is written in JSON answers
 * (`domain AS json`), read from a JSON body (`json AS domain`) and from a filter's value
 * (`text AS domain`). Only columns of the domain itself, not of a domain over it nor arrays of it.
 */
export interface Representation {
  readonly toJson?: FunctionName;
  readonly fromJson?: FunctionName;
  readonly fromText?: FunctionName;
}

export interface Relation {
  readonly schema: string;
  readonly name: string;
  readonly kind: 'table' | 'view';
  readonly columns: ReadonlyMap<string, Column>;
  readonly columnList: readonly Column[];
  readonly pk: readonly string[];
  readonly comment?: string | null;
  /**
   * What Postgres allows on the relation, as `pg_relation_is_updatable` bits (4 UPDATE, 8 INSERT,
   * 16 DELETE): all of them for tables, what auto-updatability or INSTEAD OF triggers give a view or
   * foreign table, none for a materialized view. For OPTIONS' `Allow`.
   */
  readonly updatable?: number;
  /**
   * Functions of an exposed schema taking this relation's row as their one argument, by name:
   * computed fields (one value, selected, filtered and ordered on like a column) and computed
   * relationships (rows of a table or view, embedded by the function's name).
   */
  readonly computed: ReadonlyMap<string, ComputedField>;
}

export interface ComputedField {
  readonly schema: string;
  readonly name: string;
  /** The return type (of one row, for a SETOF function). */
  readonly type: string;
  /** Returns a set: only a computed relationship, never a column. */
  readonly setof: boolean;
  /** The table or view whose rows the function returns: it is also a computed relationship. */
  readonly returnRelation?: { readonly schema: string; readonly name: string };
  /** Not SETOF, or `ROWS 1`: the relationship is to-one, as PostgREST reads it. */
  readonly toOne: boolean;
}

export interface ForeignKey extends KeyEnds {
  readonly name: string;
  /** Inferred through a view's columns rather than declared. */
  readonly throughView?: boolean;
}

export interface RoutineArg {
  readonly name: string;
  readonly type: string;
  readonly hasDefault: boolean;
  /** `VARIADIC` (always the last input argument; its type is the array type). */
  readonly variadic: boolean;
}

export interface Routine {
  readonly schema: string;
  readonly name: string;
  readonly volatility: 'immutable' | 'stable' | 'volatile';
  readonly setof: boolean;
  readonly returnType: string;
  /** `composite` when the function returns rows with known columns (a table type, or any OUT/INOUT/TABLE arg). */
  readonly returns: 'scalar' | 'composite' | 'void';
  readonly columns: ReadonlyMap<string, Column>;
  readonly args: readonly RoutineArg[];
  /** The table or view whose row type the function returns, for embedding from its result. */
  readonly returnRelation?: { readonly schema: string; readonly name: string };
  /** Its `SET default_transaction_isolation`: a call's transaction begins at this level. */
  readonly isolation?: IsolationLevel;
  /**
   * Its `SET statement_timeout` and `SET plan_filter.statement_cost_limit`, set for the call's whole
   * transaction as PostgREST 12 does (db-hoisted-tx-settings): inside the function alone, a timeout
   * set there would not bound the statement already running.
   */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The media type its result is answered as (PostgREST 12's handlers): it returns a domain named
   * after one (`"text/html"`, or the any type); `binary` when the domain is of `bytea`.
   */
  readonly media?: { readonly type: string; readonly binary: boolean };
  /** `COMMENT ON FUNCTION`, for the OpenAPI document. */
  readonly comment?: string;
}

/** The isolation levels PostgREST begins a transaction with (read uncommitted is read committed, as in Postgres). */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/**
 * A `default_transaction_isolation` value as PostgREST reads it (Config/Database.hs
 * toIsolationLevel): any value but repeatable read and serializable is read committed; none is undefined.
 */
function isolationLevel(value: string | null | undefined): IsolationLevel | undefined {
  if (value === null || value === undefined) return undefined;
  const level = value.trim().toLowerCase();
  return level === 'repeatable read' || level === 'serializable' ? level : 'read committed';
}

/** A role's own settings, read once with the schema cache and used by every request as that role. */
export interface RoleSettings {
  /** The settings but the isolation level, as the JSON object the transaction's set-up applies. */
  readonly json: string;
  /** Its `statement_timeout`, which wins over the engine's. */
  readonly statementTimeout?: string;
  /** Its `default_transaction_isolation`: the level its transactions begin with. */
  readonly isolation?: IsolationLevel;
}

export interface SchemaCache {
  readonly schemas: readonly string[];
  /** `performance.now()` when the introspection started. */
  readonly loadedAt: number;
  readonly relations: ReadonlyMap<string, Relation>;
  readonly foreignKeys: readonly ForeignKey[];
  readonly routines: ReadonlyMap<string, readonly Routine[]>;
  /**
   * `pg_timezone_names`, for `Prefer: timezone`: empty until a request names a zone (the loader
   * reads them then, once: they cost ~20 ms and change only with the server's tzdata).
   */
  readonly timezones: ReadonlySet<string>;
  /**
   * Per role the login role is a member of and that has settings (`ALTER ROLE … SET`, those of this
   * database over the global ones) any role may set: what PostgREST applies for the impersonated role.
   */
  readonly roleSettings: ReadonlyMap<string, RoleSettings>;
  /** `SCHEMA_FINGERPRINT` in the snapshot the cache was read from. */
  readonly fingerprint: string;
}

export const qualifiedKey = (schema: string, name: string) => `${schema}\u0000${name}`;

/** Each catalog's rows the fingerprint counts: `ns` and `rel` are the user schemas and their relations. */
const FINGERPRINTED = [
  'ns',
  'rel',
  'pg_attribute WHERE attrelid >= 16384 AND attnum > 0 AND attrelid IN (SELECT oid FROM rel)',
  'pg_attrdef WHERE adrelid >= 16384 AND adrelid IN (SELECT oid FROM rel)',
  'pg_rewrite WHERE oid >= 16384 AND ev_class IN (SELECT oid FROM rel)',
  'pg_constraint WHERE oid >= 16384 AND connamespace IN (SELECT oid FROM ns)',
  'pg_proc WHERE oid >= 16384 AND pronamespace IN (SELECT oid FROM ns)',
  'pg_type WHERE oid >= 16384 AND typnamespace IN (SELECT oid FROM ns)',
  'pg_trigger WHERE tgrelid >= 16384 AND tgrelid IN (SELECT oid FROM rel)',
  'pg_description WHERE objoid >= 16384',
  'pg_cast WHERE oid >= 16384',
  'pg_db_role_setting WHERE setrole IN (SELECT roleid FROM pg_auth_members WHERE member = current_user::regrole)',
];

/**
 * A scalar expression that changes with any DDL (or GRANT, COMMENT) on user objects, or with an
 * `ALTER ROLE … SET` of a role the login role may switch to: per catalog
 * the introspection reads, the number of rows and the sum of their `xmin`. A statement that adds or
 * rewrites a catalog row gives it the newest transaction id, so with the count unchanged the sum
 * grows; one that only removes rows lowers the count. (Only an xid wraparound between two checks
 * could, in theory, hide a change; freezing keeps the raw xmin.) Catalog updates made in place
 * (VACUUM, ANALYZE statistics) keep xmin and cause no reload. Objects of the system schemas and of
 * temporary schemas (a function's CREATE TEMP TABLE) are left out; everything else counts, because
 * views and foreign keys of exposed schemas reach into other ones. User objects are exactly those
 * with an OID from 16384 (FirstNormalObjectId; OIDs wrap back to it), which lets every catalog
 * but pg_namespace (`public` is 2200) be read by a range scan of its OID index.
 */

export const SCHEMA_FINGERPRINT = `(WITH ns AS (
    SELECT oid, xmin FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'),
  rel AS (SELECT oid, xmin FROM pg_class WHERE oid >= 16384 AND relnamespace IN (SELECT oid FROM ns))
  SELECT concat_ws(' ', ${FINGERPRINTED.map(
    (rows) => `(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM ${rows})`,
  ).join(', ')}))`;

/**
 * The expression column `a` of relation `c` takes when an INSERT leaves it out, as SQL text (or
 * NULL); `ownDefault` is the column's own default expression.
 */
const insertDefault = (c: string, a: string, ownDefault: string) => `CASE
    WHEN ${a}.attgenerated <> '' OR ${a}.attidentity = 'a' THEN NULL
    WHEN ${a}.attidentity = 'd' THEN format('nextval(%L::regclass)', pg_get_serial_sequence(${c}.oid::regclass::text, ${a}.attname))
    ELSE coalesce(${ownDefault},
      (SELECT pg_get_expr(t.typdefaultbin, 0) FROM pg_type t WHERE t.oid = ${a}.atttypid AND t.typbasetype <> 0))
  END`;

const INTROSPECTION_SQL = `
SELECT ${SCHEMA_FINGERPRINT} AS fingerprint,
 (SELECT coalesce(json_agg(json_build_object(
    'schema', n.nspname, 'name', c.relname, 'kind', c.relkind, 'comment', obj_description(c.oid, 'pg_class'),
    'updatable', CASE WHEN c.relkind IN ('r', 'p') THEN 28 WHEN c.relkind IN ('v', 'f') THEN pg_relation_is_updatable(c.oid::regclass, true) ELSE 0 END,
    'columns', coalesce((SELECT json_agg(json_build_object(
        'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
        'nullable', NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
        'hasDefault', a.atthasdef OR a.attidentity <> '', 'generated', a.attgenerated <> '' OR a.attidentity = 'a',
        'comment', cd.description, 'defaultSql', d.expr, 'insertDefault', ${insertDefault('c', 'a', 'd.expr')}
      ) ORDER BY a.attnum) FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      -- Joined rather than a subquery (or col_description) per column: thousands of columns.
      LEFT JOIN (SELECT adnum, pg_get_expr(adbin, adrelid) AS expr FROM pg_attrdef WHERE adrelid = c.oid) d ON d.adnum = a.attnum
      LEFT JOIN pg_description cd ON cd.objoid = c.oid AND cd.classoid = 'pg_class'::regclass AND cd.objsubid = a.attnum
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'),
    'pk', coalesce((SELECT json_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
        WHERE i.indrelid = c.oid AND i.indisprimary), '[]'),
    'computed', coalesce(computed.functions, '[]')
  )), '[]')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  -- Grouped once by row type: pg_proc has no index on argument types, and a subquery per relation
  -- read all of it each time (most of the load on a schema of hundreds of tables).
  LEFT JOIN (SELECT p.proargtypes[0] AS row_type, json_agg(json_strip_nulls(json_build_object(
        'schema', pn.nspname, 'name', p.proname, 'type', format_type(p.prorettype, NULL), 'setof', p.proretset,
        'toOne', NOT p.proretset OR p.prorows = 1,
        'returnRelation', CASE WHEN rc.oid IS NOT NULL THEN json_build_object('schema', rn.nspname, 'name', rc.relname) END))
        ORDER BY pn.oid = at.typnamespace DESC, pn.nspname) AS functions
      FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace JOIN pg_type rt ON rt.oid = p.prorettype
      JOIN pg_type at ON at.oid = p.proargtypes[0]
      LEFT JOIN pg_class rc ON rc.oid = rt.typrelid AND rc.relkind IN ('r', 'v', 'm', 'f', 'p')
      LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE p.pronargs = 1 AND p.prokind = 'f' AND (NOT p.proretset OR rc.oid IS NOT NULL)
        AND p.prorettype <> 'void'::regtype AND pn.nspname = ANY($1::text[])
      GROUP BY 1) computed ON computed.row_type = c.reltype
  WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'v', 'm', 'f', 'p')) AS relations,
 (SELECT coalesce(json_agg(json_build_object(
    'name', con.conname, 'fromSchema', n1.nspname, 'fromTable', c1.relname,
    'fromColumns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num),
    'toSchema', n2.nspname, 'toTable', c2.relname,
    'toColumns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num)
  )), '[]')
  FROM pg_constraint con
  JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace
  JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
  WHERE con.contype = 'f' AND n1.nspname NOT IN ('pg_catalog', 'information_schema')) AS foreign_keys,
 (SELECT coalesce(json_agg(json_build_object(
    'viewSchema', vn.nspname, 'view', vc.relname, 'column', m.match[1],
    'tableSchema', tn.nspname, 'table', tc.relname, 'tableColumn', ta.attname,
    'tablePk', (SELECT json_agg(pa.attname) FROM pg_index i JOIN pg_attribute pa ON pa.attrelid = i.indrelid
        AND pa.attnum = ANY(i.indkey::int2[]) WHERE i.indrelid = tc.oid AND i.indisprimary)
  ) ORDER BY vc.oid, m.ord), '[]')
  FROM pg_class vc JOIN pg_namespace vn ON vn.oid = vc.relnamespace
  ${viewColumnJoins('vc')}
  WHERE vc.relkind IN ('v', 'm') AND vn.nspname = ANY($1::text[])) AS view_columns,
 (SELECT coalesce(json_agg(json_build_object(
    'schema', n.nspname, 'name', p.proname, 'volatility', p.provolatile, 'setof', p.proretset,
    'comment', obj_description(p.oid, 'pg_proc'),
    'isolation', (SELECT substr(c, strpos(c, '=') + 1) FROM unnest(p.proconfig) AS c
      WHERE split_part(c, '=', 1) = 'default_transaction_isolation' LIMIT 1),
    'settings', (SELECT json_object_agg(split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)) FROM unnest(p.proconfig) AS c
      WHERE split_part(c, '=', 1) IN ('statement_timeout', 'plan_filter.statement_cost_limit')),
    'returnType', format_type(p.prorettype, NULL), 'typtype', rt.typtype, 'nDefaults', p.pronargdefaults,
    'mediaType', CASE WHEN rt.typtype = 'd' AND (rt.typname ~* '^[A-Za-z0-9.-]+/[A-Za-z0-9.+-]+$' OR rt.typname = '*/*')
      THEN rt.typname END,
    'mediaBinary', rt.typtype = 'd' AND rt.typbasetype = 'bytea'::regtype,
    'returnRelation', CASE WHEN rt.typrelid <> 0 THEN (SELECT json_build_object('schema', rn.nspname, 'name', rc.relname)
        FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace WHERE rc.oid = rt.typrelid AND rc.relkind <> 'c') END,
    'returnColumns', CASE WHEN rt.typrelid <> 0 THEN (SELECT json_agg(json_build_object('name', a.attname,
        'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
    'args', (SELECT json_agg(json_build_object('name', coalesce(p.proargnames[k.ord], ''),
        'type', format_type(k.t, NULL), 'mode', coalesce(p.proargmodes[k.ord]::text, 'i')) ORDER BY k.ord)
        FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY k(t, ord))
  )), '[]')
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_type rt ON rt.oid = p.prorettype
  WHERE n.nspname = ANY($1::text[]) AND p.prokind = 'f'
    -- As PostgREST (SchemaCache.hs callable): unnamed parameters only as the one json, jsonb, text,
    -- xml or bytea parameter a raw body goes to; other such functions cannot be called.
    AND (p.proargnames IS NOT NULL OR p.pronargs = 0 OR (p.pronargs = 1 AND p.proargtypes[0] IN
      ('json'::regtype, 'jsonb'::regtype, 'text'::regtype, 'xml'::regtype, 'bytea'::regtype)))) AS routines,
 (SELECT coalesce(json_object_agg(rolname, settings), '{}') FROM (
    SELECT rolname, json_object_agg(name, value ORDER BY name) AS settings FROM (
      SELECT DISTINCT ON (r.rolname, kv.name) r.rolname, kv.name, kv.value
      FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
      JOIN pg_db_role_setting s ON s.setrole = r.oid
        AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
      CROSS JOIN LATERAL (SELECT split_part(c.setting, '=', 1) AS name,
        substr(c.setting, strpos(c.setting, '=') + 1) AS value) kv
      JOIN pg_settings ps ON ps.name = kv.name AND ps.context = 'user'
      WHERE m.member = current_user::regrole
      ORDER BY r.rolname, kv.name, s.setdatabase DESC) per_setting
    GROUP BY rolname) per_role) AS role_settings,
 -- Domain representations, as PostgREST reads them (SchemaCache.hs dataRepresentations): implicit
 -- casts with a function the login role may execute, from a domain to json or from json or text to
 -- one; then the columns of exposed relations of those domains. A hash join: pg_attribute is only
 -- scanned when some domain has one.
 (SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'relation', c.relname, 'column', a.attname,
    'toJson', r.to_json, 'fromJson', r.from_json, 'fromText', r.from_text)), '[]')
  FROM (SELECT t.oid AS domain,
      min(f.fn) FILTER (WHERE k.castsource = t.oid) AS to_json,
      min(f.fn) FILTER (WHERE k.castsource = 'json'::regtype) AS from_json,
      min(f.fn) FILTER (WHERE k.castsource = 'text'::regtype) AS from_text
    FROM pg_cast k JOIN pg_type t ON t.typtype = 'd'
      AND ((k.castsource = t.oid AND k.casttarget = 'json'::regtype)
        OR (k.casttarget = t.oid AND k.castsource IN ('json'::regtype, 'text'::regtype)))
    -- The privilege is checked here, for the few casts left: in the WHERE it ran for all of pg_cast.
    CROSS JOIN LATERAL (SELECT json_build_object('schema', pn.nspname, 'name', p.proname)::text AS fn
      FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
      WHERE p.oid = k.castfunc AND has_function_privilege(p.oid, 'execute')) f
    WHERE k.castcontext = 'i' AND k.castmethod = 'f'
    GROUP BY t.oid) r
  JOIN pg_attribute a ON a.atttypid = r.domain AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = ANY($1::text[])) AS representations
`;

interface RawRoutine {
  schema: string;
  name: string;
  volatility: 'i' | 's' | 'v';
  setof: boolean;
  returnType: string;
  typtype: string;
  nDefaults: number;
  mediaType: string | null;
  mediaBinary: boolean;
  returnColumns: { name: string; type: string }[] | null;
  returnRelation: { schema: string; name: string } | null;
  args: { name: string; type: string; mode: string }[] | null;
  isolation: string | null;
  settings: Record<string, string> | null;
  comment: string | null;
}

const toColumn = (c: { name: string; type: string }): Column => ({
  name: c.name,
  type: c.type,
  nullable: true,
  hasDefault: false,
  generated: false,
});

/** Introspects tables, views, columns, keys, foreign keys and functions of `schemas`. */
export async function loadSchemaCache(
  pool: pg.Pool,
  schemas: readonly string[],
  /** The server's time zones, if read ({@link loadTimezones}). */
  timezones: ReadonlySet<string> = new Set(),
): Promise<SchemaCache> {
  const startedAt = performance.now();
  const { rows } = await pool.query(INTROSPECTION_SQL, [schemas]);
  const raw = rows[0] as {
    relations: (Omit<Relation, 'columns' | 'columnList' | 'kind' | 'computed'> & {
      kind: string;
      columns: Column[];
      computed: ComputedField[];
    })[];
    foreign_keys: ForeignKey[];
    view_columns: ViewColumn[];
    routines: RawRoutine[];
    role_settings: Record<string, Record<string, string>>;
    representations: RawRepresentation[];
    fingerprint: string;
  };
  const representations = representationsOf(raw.representations);
  const relations = new Map<string, Relation>();
  for (const r of raw.relations) {
    const represented = representations.get(qualifiedKey(r.schema, r.name));
    if (represented) {
      r.columns = r.columns.map((c) => {
        const representation = represented.get(c.name);
        return representation ? { ...c, representation } : c;
      });
    }
    relations.set(qualifiedKey(r.schema, r.name), {
      schema: r.schema,
      name: r.name,
      kind: r.kind === 'r' || r.kind === 'p' ? 'table' : 'view',
      columns: new Map(r.columns.map((c) => [c.name, c])),
      columnList: r.columns,
      pk: r.pk,
      comment: r.comment ?? null,
      updatable: r.updatable ?? 0,
      // The relation's own schema first: its function wins a name found in two exposed schemas.
      computed: new Map(r.computed.toReversed().map((f) => [f.name, f])),
    });
  }
  const routines = new Map<string, Routine[]>();
  for (const f of raw.routines) {
    const all = f.args ?? [];
    const inArgs = all.filter((a) => a.mode === 'i' || a.mode === 'b' || a.mode === 'v');
    const outArgs = all.filter((a) => a.mode === 'o' || a.mode === 'b' || a.mode === 't');
    let columns: Column[] = [];
    let returns: Routine['returns'] = 'scalar';
    if (f.returnType === 'void') returns = 'void';
    else if (f.returnColumns) {
      returns = 'composite';
      // Rows of a table or view: as PostgREST reads them with that relation's columns, with the
      // representations of its columns.
      const represented = f.returnRelation
        ? representations.get(qualifiedKey(f.returnRelation.schema, f.returnRelation.name))
        : undefined;
      columns = f.returnColumns.map((c) => {
        const representation = represented?.get(c.name);
        return representation ? { ...toColumn(c), representation } : toColumn(c);
      });
    } else if (outArgs.length > 0) {
      // As PostgREST: any OUT, INOUT or TABLE parameter makes rows of named columns, one of them
      // too (`RETURNS TABLE (id uuid)` answers `[{"id": …}]`, not `[…]`).
      returns = 'composite';
      columns = outArgs.map(toColumn);
    }
    let routine: Routine = {
      schema: f.schema,
      name: f.name,
      volatility: f.volatility === 'i' ? 'immutable' : f.volatility === 's' ? 'stable' : 'volatile',
      setof: f.setof,
      returnType: f.returnType,
      returns,
      columns: new Map(columns.map((c) => [c.name, c])),
      args: inArgs.map((a, i) => ({
        name: a.name,
        type: a.type,
        hasDefault: i >= inArgs.length - f.nDefaults,
        variadic: a.mode === 'v',
      })),
      ...(f.returnRelation ? { returnRelation: f.returnRelation } : {}),
      ...(f.mediaType ? { media: { type: f.mediaType, binary: f.mediaBinary } } : {}),
      ...(f.comment !== null ? { comment: f.comment } : {}),
    };
    const isolation = isolationLevel(f.isolation);
    if (isolation) routine = { ...routine, isolation };
    if (f.settings) routine = { ...routine, settings: f.settings };
    const key = qualifiedKey(f.schema, f.name);
    routines.set(key, [...(routines.get(key) ?? []), routine]);
  }
  inferViewPrimaryKeys(relations, raw.view_columns);
  const foreignKeys = [
    ...raw.foreign_keys,
    ...keysThroughViews(raw.foreign_keys, raw.view_columns, {
      hasRelation: (schema, name) => relations.has(qualifiedKey(schema, name)),
      hasColumn: (schema, name, column) =>
        relations.get(qualifiedKey(schema, name))?.columns.has(column) ?? false,
    }).map((key) => ({ ...key, throughView: true })),
  ];
  return {
    schemas,
    loadedAt: startedAt,
    relations,
    foreignKeys,
    routines,
    timezones,
    roleSettings: roleSettingsOf(raw.role_settings),
    fingerprint: raw.fingerprint,
  };
}

interface RawRepresentation {
  schema: string;
  relation: string;
  column: string;
  /** Each a function's `{"schema","name"}` as JSON text (min() has no json), or null. */
  toJson: string | null;
  fromJson: string | null;
  fromText: string | null;
}

/** Per relation (qualifiedKey), per column: its domain's representations. */
function representationsOf(raw: readonly RawRepresentation[]): Map<string, Map<string, Representation>> {
  const byRelation = new Map<string, Map<string, Representation>>();
  const fn = (text: string | null): FunctionName | undefined =>
    text === null ? undefined : (JSON.parse(text) as FunctionName);
  for (const r of raw) {
    const key = qualifiedKey(r.schema, r.relation);
    const columns = byRelation.get(key) ?? new Map<string, Representation>();
    byRelation.set(key, columns);
    const [toJson, fromJson, fromText] = [fn(r.toJson), fn(r.fromJson), fn(r.fromText)];
    columns.set(r.column, {
      ...(toJson ? { toJson } : {}),
      ...(fromJson ? { fromJson } : {}),
      ...(fromText ? { fromText } : {}),
    });
  }
  return byRelation;
}

/** The names `Prefer: timezone` accepts: `pg_timezone_names` (it reads every tzdata file). */
export async function loadTimezones(pool: pg.Pool): Promise<ReadonlySet<string>> {
  const { rows } = await pool.query('SELECT name FROM pg_timezone_names');
  return new Set(rows.map((row: { name: string }) => row.name));
}

/** Each role's settings; the isolation level apart, since it begins a transaction rather than being set in one. */
function roleSettingsOf(raw: Record<string, Record<string, string>>): Map<string, RoleSettings> {
  const roles = new Map<string, RoleSettings>();
  for (const [role, { default_transaction_isolation: level, ...settings }] of Object.entries(raw)) {
    const isolation = isolationLevel(level);
    roles.set(role, {
      json: JSON.stringify(settings),
      ...(settings.statement_timeout !== undefined ? { statementTimeout: settings.statement_timeout } : {}),
      ...(isolation ? { isolation } : {}),
    });
  }
  return roles;
}

interface ViewColumn extends TracedColumn {
  /** The base table's primary key columns (the table may be in an unexposed schema). */
  tablePk: string[] | null;
}

/**
 * A view's primary key, as PostgREST infers it: the key of a base table whose key columns the view
 * exposes unchanged (traced through the view's query tree). Makes PUT, upsert defaults, Location
 * and one-to-one detection work on simple views.
 */
function inferViewPrimaryKeys(relations: Map<string, Relation>, viewColumns: readonly ViewColumn[]) {
  // Per view: base column → the view column exposing it, and the base tables' keys.
  const byView = new Map<string, { exposed: Map<string, string>; pks: Map<string, string[]> }>();
  for (const vc of viewColumns) {
    const key = qualifiedKey(vc.viewSchema, vc.view);
    if (!relations.get(key)?.columns.has(vc.column)) continue;
    const entry = byView.get(key) ?? { exposed: new Map(), pks: new Map() };
    byView.set(key, entry);
    const table = qualifiedKey(vc.tableSchema, vc.table);
    entry.exposed.set(`${table}\u0000${vc.tableColumn}`, vc.column);
    if (vc.tablePk?.length) entry.pks.set(table, vc.tablePk);
  }
  for (const [key, { exposed, pks }] of byView) {
    const view = relations.get(key)!;
    if (view.kind !== 'view' || view.pk.length) continue;
    for (const [table, pk] of pks) {
      const mapped = pk.map((c) => exposed.get(`${table}\u0000${c}`));
      if (mapped.every((c): c is string => c !== undefined)) {
        relations.set(key, { ...view, pk: mapped });
        break;
      }
    }
  }
}

/** The closest name by edit distance, for PostgREST's "Perhaps you meant" hints. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    // The distance is at least the difference in length: a name from the URL, however long, costs
    // nothing against names it cannot be close to (the full comparison is O(length × length)).
    if (Math.abs(name.length - candidate.length) >= bestDistance) continue;
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
