import {
  keysThroughViews,
  type KeyEnds,
  type ViewColumn,
  viewColumnJoins,
} from '@supaplane/view-relationships';
import type { Context } from './context.js';
import { AppError } from './errors.js';
import { runProjectQuery } from './sql-endpoint.js';

/**
 * TypeScript types of a project's schemas in the shape supabase-js takes as its `Database` type
 * parameter (`createClient<Database>(…)`), as Supabase's `GET /v1/projects/{ref}/types/typescript`
 * answers them: tables, views, functions, enums and composite types of each schema asked for, typed
 * as the data API sends them as JSON.
 */

/** What the introspection query answers: one JSON document. */
interface SchemaModel {
  readonly schemas: readonly string[];
  readonly types: readonly PgType[];
  readonly relations: readonly PgRelation[];
  /** Declared keys of every schema: one between tables not asked for may still relate views asked for. */
  readonly foreignKeys: readonly PgForeignKey[];
  /** Each view column that is a base table's column as it is, traced through the view's query. */
  readonly viewColumns: readonly ViewColumn[];
  readonly functions: readonly PgFunction[];
}

interface PgType {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** pg_type.typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  readonly kind: string;
  /** Element type of an array type, else 0. */
  readonly elem: number;
  /** Base type of a domain, else 0. */
  readonly base: number;
  /** The relation of a composite type: its kind (`r`, `v`, `c`, …) and name. */
  readonly relkind: string | null;
  readonly labels: readonly string[] | null;
  /** A stand-alone composite type's attributes (`CREATE TYPE … AS (…)`). */
  readonly attributes: readonly { name: string; type: number }[] | null;
}

interface PgRelation {
  readonly schema: string;
  readonly name: string;
  /** r table, p partitioned table, v view, m materialized view, f foreign table. */
  readonly kind: string;
  /** pg_relation_is_updatable bits: 4 UPDATE, 8 INSERT, 16 DELETE. */
  readonly updatable: number;
  readonly columns: readonly PgColumn[];
}

interface PgColumn {
  readonly name: string;
  readonly type: number;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
  /** `a` GENERATED ALWAYS AS IDENTITY, `d` BY DEFAULT, empty otherwise. */
  readonly identity: string;
  /** A generated (computed, stored) column. */
  readonly generated: boolean;
  /** False for a view column that is an expression rather than a base column. */
  readonly writable: boolean;
}

interface PgForeignKey extends KeyEnds {
  readonly name: string;
  /** The referencing columns are unique (a primary key or unique constraint): one row per row. */
  readonly oneToOne: boolean;
}

interface PgFunction {
  readonly schema: string;
  readonly name: string;
  readonly args: readonly { name: string; type: number; hasDefault: boolean }[];
  readonly returns: number;
  readonly setof: boolean;
  /** The planner's row estimate (`ROWS`): 0 unless SETOF, 1000 by default. */
  readonly rows: number;
  /** OUT / INOUT / TABLE columns: the function answers rows of these. */
  readonly columns: readonly { name: string; type: number }[] | null;
}

/**
 * One round trip (oids as int8: JSON writes an `oid` as a string). Types come whole (a few hundred rows in a fresh database) so that any type a column,
 * argument or attribute names can be resolved, arrays and domains included, whatever its schema.
 */
const INTROSPECTION_SQL = `
with wanted as (
  select n.oid, n.nspname from pg_namespace n where n.nspname = any($1::text[])
),
rels as (
  select c.oid, w.nspname, c.relname, c.relkind from pg_class c join wanted w on w.oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm', 'f')
)
select json_build_object(
  'schemas', (select coalesce(json_agg(nspname order by nspname), '[]') from wanted),
  'types', (
    select json_agg(json_build_object(
      'oid', t.oid::int8, 'schema', tn.nspname, 'name', t.typname, 'kind', t.typtype,
      'elem', case when t.typcategory = 'A' then t.typelem::int8 else 0 end, 'base', t.typbasetype::int8,
      'relkind', tc.relkind,
      'labels', case when t.typtype = 'e' then (
        select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) end,
      'attributes', case when tc.relkind = 'c' then (
        select json_agg(json_build_object('name', a.attname, 'type', a.atttypid::int8) order by a.attnum)
        from pg_attribute a where a.attrelid = tc.oid and a.attnum > 0 and not a.attisdropped) end))
    from pg_type t join pg_namespace tn on tn.oid = t.typnamespace
    left join pg_class tc on tc.oid = t.typrelid
    where t.typtype <> 'c' or tc.relkind = 'c' or tn.oid in (select oid from wanted)
  ),
  'relations', (
    select coalesce(json_agg(json_build_object(
      'schema', r.nspname, 'name', r.relname, 'kind', r.relkind,
      'updatable', pg_relation_is_updatable(r.oid::regclass, false),
      'columns', (
        select coalesce(json_agg(json_build_object(
          'name', a.attname, 'type', a.atttypid::int8, 'nullable', not a.attnotnull,
          'hasDefault', a.atthasdef, 'identity', a.attidentity, 'generated', a.attgenerated <> '',
          'writable', pg_column_is_updatable(r.oid::regclass, a.attnum, false)
        ) order by a.attnum), '[]')
        from pg_attribute a where a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped)
    ) order by r.nspname, r.relname), '[]') from rels r
  ),
  'foreignKeys', (
    select coalesce(json_agg(json_build_object(
      'name', k.conname, 'fromSchema', rn.nspname, 'fromTable', rc.relname,
      'fromColumns', (select json_agg(a.attname order by u.i) from unnest(k.conkey) with ordinality u(n, i)
        join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n),
      'toSchema', fn.nspname, 'toTable', fc.relname,
      'toColumns', (select json_agg(a.attname order by u.i) from unnest(k.confkey) with ordinality u(n, i)
        join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n),
      'oneToOne', exists (select 1 from pg_constraint x where x.conrelid = k.conrelid and x.contype in ('p', 'u')
        and x.conkey @> k.conkey and x.conkey <@ k.conkey)
    ) order by rn.nspname, rc.relname, k.conname), '[]')
    from pg_constraint k join pg_class rc on rc.oid = k.conrelid join pg_namespace rn on rn.oid = rc.relnamespace
    join pg_class fc on fc.oid = k.confrelid join pg_namespace fn on fn.oid = fc.relnamespace
    where k.contype = 'f' and rn.nspname not in ('pg_catalog', 'information_schema')
  ),
  'viewColumns', (
    select coalesce(json_agg(json_build_object(
      'viewSchema', r.nspname, 'view', r.relname, 'column', m.match[1],
      'tableSchema', tn.nspname, 'table', tc.relname, 'tableColumn', ta.attname
    ) order by r.oid, m.ord), '[]')
    from rels r ${viewColumnJoins('r')}
    where r.relkind in ('v', 'm')
  ),
  'functions', (
    select coalesce(json_agg(json_build_object(
      'schema', w.nspname, 'name', p.proname, 'returns', p.prorettype::int8, 'setof', p.proretset,
      'rows', p.prorows,
      'args', (
        select coalesce(json_agg(json_build_object(
          'name', coalesce(x.name, ''), 'type', x.type::int8, 'hasDefault', x.input_no > p.pronargs - p.pronargdefaults
        ) order by x.i), '[]')
        from (
          select u.i, u.type, (coalesce(p.proargnames, '{}'))[u.i] as name,
                 count(*) over (order by u.i) as input_no
          from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(type, i)
          where coalesce((p.proargmodes)[u.i], 'i') in ('i', 'b', 'v')
        ) x
      ),
      'columns', (
        select json_agg(json_build_object('name', (p.proargnames)[u.i], 'type', u.type::int8) order by u.i)
        from unnest(p.proallargtypes) with ordinality u(type, i)
        where (p.proargmodes)[u.i] in ('o', 'b', 't')
      )
    ) order by w.nspname, p.proname, p.oid), '[]')
    from pg_proc p join wanted w on w.oid = p.pronamespace
    where p.prokind = 'f'
      and p.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype)
      and not exists (select 1 from unnest(p.proargtypes) t where t = 'internal'::regtype)
  )
) as model`;

/** Schemas whose types are never asked for: the catalog's, and the data API never exposes them. */
const SYSTEM_SCHEMA = /^(pg_.*|information_schema)$/;
const SCHEMA_NAME = /^[^,\s][^,]{0,62}$/;

/** `public,api` as the Management API's `included_schemas` takes it. */
export function parseIncludedSchemas(value: string | undefined): string[] {
  const names = (value ?? 'public')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new AppError(400, 'included_schemas names no schema', 'invalid_schema');
  for (const name of names) {
    if (!SCHEMA_NAME.test(name)) throw new AppError(400, `"${name}" is not a schema name`, 'invalid_schema');
    if (SYSTEM_SCHEMA.test(name)) {
      throw new AppError(400, `"${name}" is a system schema; its types are not generated`, 'invalid_schema');
    }
  }
  return [...new Set(names)];
}

/** The TypeScript module for `schemas` of the project's database. */
export async function projectTypescriptTypes(
  ctx: Context,
  ref: string,
  schemas: readonly string[],
): Promise<string> {
  const [row] = (await runProjectQuery(ctx, ref, INTROSPECTION_SQL, {
    parameters: [schemas],
    readOnly: true,
  })) as { model: SchemaModel }[];
  const model = row!.model;
  // As postgres-meta: schemas asked for that do not exist are left out (the Supabase CLI asks for
  // `public,graphql_public` by default); a request none of whose schemas exists is a mistake.
  const present = schemas.filter((name) => model.schemas.includes(name));
  if (present.length === 0) {
    throw new AppError(
      400,
      `no schema named ${schemas.map((name) => `"${name}"`).join(', ')} in the project database`,
      'invalid_schema',
    );
  }
  return renderTypescript(model, present);
}

/** Property names as TypeScript needs them: bare when they are identifiers, else quoted. */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENTIFIER.test(name) ? name : JSON.stringify(name));
const literal = (value: string) => JSON.stringify(value);
/** Postgres writes these as JSON numbers (`money` is text: it carries its currency sign). */
const NUMBER_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);
const EMPTY = '{\n      [_ in never]: never\n    }';
/** A list of `ts`: bare after a name, an indexed access or an object type, in parentheses after a union. */
const arrayOf = (ts: string) => (/^[\w.$[\]"']+$/.test(ts) || ts.startsWith('{') ? `${ts}[]` : `(${ts})[]`);

/** Renders the module: the `Json` and `Database` types, helpers over the first schema, enum constants. */
function renderTypescript(model: SchemaModel, schemas: readonly string[]): string {
  const types = new Map(model.types.map((t) => [t.oid, t]));
  const included = new Set(schemas);
  /** The relations asked for, by `schema.name`. */
  const relationsByName = new Map(model.relations.map((r) => [`${r.schema}.${r.name}`, r]));

  /** The TypeScript type of a value of type `oid` as it reaches a client in JSON. */
  const tsType = (oid: number): string => {
    const type = types.get(oid);
    if (!type) return 'unknown';
    if (type.elem !== 0) return arrayOf(tsType(type.elem));
    switch (type.kind) {
      case 'd':
        return tsType(type.base);
      case 'e':
        return included.has(type.schema)
          ? `Database[${literal(type.schema)}]["Enums"][${literal(type.name)}]`
          : (type.labels ?? []).map(literal).join(' | ') || 'string';
      case 'c': {
        if (!included.has(type.schema)) return 'Record<string, unknown>';
        if (type.relkind === 'c')
          return `Database[${literal(type.schema)}]["CompositeTypes"][${literal(type.name)}]`;
        const kind = relationsByName.get(`${type.schema}.${type.name}`)?.kind;
        const group = kind === 'r' || kind === 'p' ? 'Tables' : 'Views';
        return kind
          ? `Database[${literal(type.schema)}][${literal(group)}][${literal(type.name)}]["Row"]`
          : 'unknown';
      }
      case 'r':
      case 'm':
        return 'string';
      case 'p':
        return type.name === 'void'
          ? 'undefined'
          : type.name === 'record'
            ? 'Record<string, unknown>'
            : 'unknown';
      default:
        if (type.schema === 'pg_catalog') {
          if (type.name === 'bool') return 'boolean';
          if (NUMBER_TYPES.has(type.name)) return 'number';
          if (type.name === 'json' || type.name === 'jsonb') return 'Json';
        }
        return 'string';
    }
  };
  const nullable = (ts: string) => `${ts} | null`;

  // The relations asked for and their columns: the ends a key seen through a view may have.
  const exposed = {
    hasRelation: (schema: string, name: string) => relationsByName.has(`${schema}.${name}`),
    hasColumn: (schema: string, name: string, column: string) =>
      relationsByName.get(`${schema}.${name}`)?.columns.some((c) => c.name === column) ?? false,
  };
  /** Every key, declared or seen through a view, by its referencing relation (`schema.name`). */
  const keysByRelation = new Map<string, PgForeignKey[]>();
  for (const k of [
    ...model.foreignKeys,
    ...keysThroughViews(model.foreignKeys, model.viewColumns, exposed),
  ]) {
    const at = `${k.fromSchema}.${k.fromTable}`;
    const keys = keysByRelation.get(at);
    if (keys) keys.push(k);
    else keysByRelation.set(at, [k]);
  }
  const out: string[] = [];
  out.push(
    'export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]',
    '',
    'export type Database = {',
    '  __InternalSupabase: {',
    '    PostgrestVersion: "12"',
    '  }',
  );
  for (const schema of schemas) {
    const relations = model.relations.filter((r) => r.schema === schema);
    const tables = relations.filter((r) => r.kind === 'r' || r.kind === 'p');
    const views = relations.filter((r) => r.kind !== 'r' && r.kind !== 'p');
    const relationships = (r: PgRelation) =>
      (keysByRelation.get(`${schema}.${r.name}`) ?? []).map(
        (k) =>
          `          {\n            foreignKeyName: ${literal(k.name)}\n` +
          `            columns: [${k.fromColumns.map(literal).join(', ')}]\n` +
          `            isOneToOne: ${k.oneToOne}\n` +
          `            referencedRelation: ${literal(k.toTable)}\n` +
          `            referencedColumns: [${k.toColumns.map(literal).join(', ')}]\n          },`,
      );
    const relationBlock = (r: PgRelation, isView: boolean): string => {
      const lines = [`      ${key(r.name)}: {`, '        Row: {'];
      for (const c of r.columns) {
        const ts = tsType(c.type);
        lines.push(`          ${key(c.name)}: ${isView || c.nullable ? nullable(ts) : ts}`);
      }
      lines.push('        }');
      const writable = (bit: number) => !isView || (r.updatable & bit) !== 0;
      for (const [section, bit] of [
        ['Insert', 8],
        ['Update', 4],
      ] as const) {
        if (!writable(bit)) continue;
        lines.push(`        ${section}: {`);
        for (const c of r.columns) {
          const ts = tsType(c.type);
          if (c.generated || c.identity === 'a' || !c.writable) {
            lines.push(`          ${key(c.name)}?: never`);
            continue;
          }
          const optional = section === 'Update' || isView || c.nullable || c.hasDefault || c.identity === 'd';
          lines.push(
            `          ${key(c.name)}${optional ? '?' : ''}: ${isView || c.nullable ? nullable(ts) : ts}`,
          );
        }
        lines.push('        }');
      }
      const rels = relationships(r);
      lines.push(
        rels.length > 0
          ? `        Relationships: [\n${rels.join('\n')}\n        ]`
          : '        Relationships: []',
      );
      lines.push('      }');
      return lines.join('\n');
    };
    const section = (name: string, blocks: string[]) =>
      `    ${name}: ${blocks.length > 0 ? `{\n${blocks.join('\n')}\n    }` : EMPTY}`;

    /** The name of the table or view of this schema whose row type `oid` is, if it is one. */
    const relationNamed = (oid: number): string | undefined => {
      const type = types.get(oid);
      return type?.kind === 'c' && type.schema === schema && relationsByName.has(`${schema}.${type.name}`)
        ? type.name
        : undefined;
    };
    /**
     * What supabase-js needs to embed from a function's rows: the relation they are rows of (`to`),
     * and the relation whose row is its one argument when it is a computed relationship (`from`;
     * otherwise any, `*`).
     */
    const setofOptions = (f: PgFunction): string | undefined => {
      const to = f.columns ? undefined : relationNamed(f.returns);
      if (!to) return undefined;
      const from = f.args.length === 1 ? relationNamed(f.args[0]!.type) : undefined;
      const oneToOne = !f.setof || f.rows <= 1;
      return (
        `\n          SetofOptions: {\n            from: ${literal(from ?? '*')}\n            to: ${literal(to)}\n` +
        `            isOneToOne: ${oneToOne}\n            isSetofReturn: ${f.setof}\n          }`
      );
    };
    const functionsByName = new Map<string, PgFunction[]>();
    for (const f of model.functions.filter((f) => f.schema === schema)) {
      functionsByName.set(f.name, [...(functionsByName.get(f.name) ?? []), f]);
    }
    const functionBlocks = [...functionsByName].map(([name, overloads]) => {
      const variants = overloads.map((f) => {
        const args =
          f.args.length === 0
            ? 'Record<PropertyKey, never>'
            : `{ ${f.args.map((a) => `${key(a.name)}${a.hasDefault ? '?' : ''}: ${tsType(a.type)}`).join('; ')} }`;
        let returns = f.columns
          ? `{ ${f.columns.map((c) => `${key(c.name)}: ${tsType(c.type)}`).join('; ')} }`
          : tsType(f.returns);
        const setof = setofOptions(f);
        // A function estimated at one row (`ROWS 1`) is typed as that row; supabase-js makes a call's
        // answer a list again from `SetofOptions` (the data API answers a list either way).
        if (f.setof && !(setof && f.rows <= 1)) returns = arrayOf(returns);
        return `{\n          Args: ${args}\n          Returns: ${returns}${setof ?? ''}\n        }`;
      });
      return `      ${key(name)}:\n        | ${variants.join('\n        | ')}`;
    });

    const enums = model.types.filter((t) => t.kind === 'e' && t.schema === schema);
    const composites = model.types.filter((t) => t.kind === 'c' && t.relkind === 'c' && t.schema === schema);
    out.push(
      `  ${key(schema)}: {`,
      section(
        'Tables',
        tables.map((r) => relationBlock(r, false)),
      ),
      section(
        'Views',
        views.map((r) => relationBlock(r, true)),
      ),
      section('Functions', functionBlocks),
      section(
        'Enums',
        enums.map((e) => `      ${key(e.name)}: ${(e.labels ?? []).map(literal).join(' | ') || 'never'}`),
      ),
      section(
        'CompositeTypes',
        composites.map(
          (t) =>
            `      ${key(t.name)}: {\n${(t.attributes ?? [])
              .map((a) => `        ${key(a.name)}: ${nullable(tsType(a.type))}`)
              .join('\n')}\n      }`,
        ),
      ),
      '  }',
    );
  }
  out.push('}', '');

  const first = literal(schemas[0]!);
  out.push(
    `type DefaultSchema = Database[${first}]`,
    '',
    'export type Tables<Name extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])> =',
    '  (DefaultSchema["Tables"] & DefaultSchema["Views"])[Name] extends { Row: infer Row } ? Row : never',
    'export type TablesInsert<Name extends keyof DefaultSchema["Tables"]> = DefaultSchema["Tables"][Name]["Insert"]',
    'export type TablesUpdate<Name extends keyof DefaultSchema["Tables"]> = DefaultSchema["Tables"][Name]["Update"]',
    'export type Enums<Name extends keyof DefaultSchema["Enums"]> = DefaultSchema["Enums"][Name]',
    'export type CompositeTypes<Name extends keyof DefaultSchema["CompositeTypes"]> =',
    '  DefaultSchema["CompositeTypes"][Name]',
    '',
    'export const Constants = {',
  );
  for (const schema of schemas) {
    const enums = model.types.filter((t) => t.kind === 'e' && t.schema === schema);
    out.push(
      `  ${key(schema)}: {`,
      '    Enums: {',
      ...enums.map((e) => `      ${key(e.name)}: [${(e.labels ?? []).map(literal).join(', ')}],`),
      '    },',
      '  },',
    );
  }
  out.push('} as const', '');
  return out.join('\n');
}
