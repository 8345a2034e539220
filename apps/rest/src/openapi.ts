import type { Statement } from './sql.js';
import type { Column, ForeignKey, Relation, Routine, SchemaCache } from './schema-cache.js';

/**
 * The Swagger 2.0 description PostgREST 12.2 serves at the API root (Response/OpenAPI.hs, as of
 * 12.2.3): a path per table, view and function of the exposed schema that the current role may use,
 * a definition per table/view with column formats, required columns and PK/FK notes, and the shared
 * query parameters.
 */

/**
 * A column's type as PostgREST's schema cache names it for the OpenAPI document (SchemaCache.hs
 * tablesSqlQuery data_type): a built-in type (or a domain over one, by its base) without its
 * modifier, any other with it.
 */
const DATA_TYPE = `CASE
    WHEN t.typtype = 'd' THEN CASE WHEN bt.typnamespace = 'pg_catalog'::regnamespace
      THEN format_type(t.typbasetype, NULL) ELSE format_type(a.atttypid, a.atttypmod) END
    WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, NULL)
    ELSE format_type(a.atttypid, a.atttypmod)
  END`;

/**
 * What the current role may do, read in the request's transaction (so `current_user` is the role),
 * with what only the document shows of the schema's columns: read here, when a document is made,
 * not in the schema cache every cold start and reload loads (it made the large schema's load 40% slower).
 */
const PRIVILEGES_SQL = `SELECT json_build_object(
  'relations', (SELECT coalesce(json_agg(c.relname), '[]')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition
      AND (pg_has_role(c.relowner, 'USAGE')
        OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))),
  'functions', (SELECT coalesce(json_agg(DISTINCT p.proname), '[]')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = $1 AND p.prokind = 'f' AND has_function_privilege(p.oid, 'EXECUTE')),
  'comment', (SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d ON d.objoid = n.oid
    WHERE n.nspname = $1 LIMIT 1),
  'columns', (SELECT coalesce(json_object_agg(c.relname, (SELECT json_object_agg(a.attname, json_build_object(
        'dataType', ${DATA_TYPE}, 'maxLength', information_schema._pg_char_max_length(
          information_schema._pg_truetypid(a.*, t.*), information_schema._pg_truetypmod(a.*, t.*)),
        'enumValues', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid))))
      FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)), '{}')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p'))
)::text`;

export const privilegesStatement = (schema: string): Statement => ({ sql: PRIVILEGES_SQL, params: [schema] });

export interface Privileges {
  /** What PostgREST's accessibleTables lists: relations the role owns or has any privilege on, no partition. */
  relations: string[];
  functions: string[];
  /** The schema's comment: the document's title (first line) and description. */
  comment: string | null;
  /** By relation and column: the type as PostgREST names it, a character type's length, an enum's labels. */
  columns: Record<string, Record<string, ColumnDetails> | null>;
}

interface ColumnDetails {
  dataType: string;
  maxLength: number | null;
  enumValues: string[] | null;
}

type Json = Record<string, unknown>;

const INTEGER = new Set(['smallint', 'integer', 'bigint']);
const NUMBER = new Set(['numeric', 'real', 'double precision']);

/** Swagger type of a type as PostgREST names it (toSwaggerType): json and jsonb have none. */
function swaggerType(pgType: string): Json {
  if (pgType.endsWith('[]')) return { type: 'array' };
  if (INTEGER.has(pgType)) return { type: 'integer' };
  if (NUMBER.has(pgType)) return { type: 'number' };
  if (pgType === 'boolean') return { type: 'boolean' };
  if (pgType === 'json' || pgType === 'jsonb') return {};
  return { type: 'string' };
}

/** A column's or argument's schema (makeProperty, makeProcProperty): an array's items typed by its element. */
function typeSchema(pgType: string): Json {
  const items = pgType.endsWith('[]') ? { items: swaggerType(pgType.slice(0, -2)) } : {};
  return { format: pgType, ...swaggerType(pgType), ...items };
}

function columnSchema(
  relation: Relation,
  column: Column,
  fks: readonly ForeignKey[],
  details: ColumnDetails | undefined,
): Json {
  const notes: string[] = [];
  if (relation.pk.includes(column.name)) notes.push('This is a Primary Key.<pk/>');
  for (const fk of fks) {
    const i = fk.fromColumns.indexOf(column.name);
    if (i < 0 || fk.fromColumns.length !== 1) continue;
    const to = fk.toColumns[i]!;
    notes.push(`This is a Foreign Key to \`${fk.toTable}.${to}\`.<fk table='${fk.toTable}' column='${to}'/>`);
    break;
  }
  const description = [column.comment, notes.length ? `Note:\n${notes.join('\n')}` : null]
    .filter(Boolean)
    .join('\n\n');
  const type = details?.dataType ?? column.type;
  const fallback = column.defaultSql ? defaultValue(type, column.defaultSql) : undefined;
  return {
    ...(fallback !== undefined ? { default: fallback } : {}),
    ...(description ? { description } : {}),
    ...(details?.enumValues?.length ? { enum: details.enumValues } : {}),
    ...(typeof details?.maxLength === 'number' ? { maxLength: details.maxLength } : {}),
    ...typeSchema(type),
  };
}

/**
 * A column default as PostgREST's parseDefault reads it: the JSON its text is, for a type of
 * Swagger type string first without a trailing `::<type>` cast and its quotes, then in double
 * quotes; none when that is no JSON (`nextval(…)`, `'{}'::jsonb`, `'-1'::integer`).
 */
function defaultValue(pgType: string, sql: string): unknown {
  let text = sql;
  if (swaggerType(pgType).type === 'string') {
    const cast = `::${pgType}`;
    const value = sql.endsWith(cast) ? sql.slice(0, -cast.length).replace(/^'+|'+$/g, '') : sql;
    text = `"${value}"`;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const ref = (name: string) => ({ $ref: `#/parameters/${name}` });
const jsonPointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

const MEDIA = [
  'application/json',
  'application/vnd.pgrst.object+json;nulls=stripped',
  'application/vnd.pgrst.object+json',
  'text/csv',
];

const SHARED_PARAMETERS: Json = {
  preferParams: {
    name: 'Prefer',
    description: 'Preference',
    required: false,
    enum: ['params=single-object'],
    in: 'header',
    type: 'string',
  },
  preferReturn: {
    name: 'Prefer',
    description: 'Preference',
    required: false,
    enum: ['return=representation', 'return=minimal', 'return=none'],
    in: 'header',
    type: 'string',
  },
  preferCount: {
    name: 'Prefer',
    description: 'Preference',
    required: false,
    enum: ['count=none'],
    in: 'header',
    type: 'string',
  },
  preferPost: {
    name: 'Prefer',
    description: 'Preference',
    required: false,
    enum: [
      'return=representation',
      'return=minimal',
      'return=none',
      'resolution=ignore-duplicates',
      'resolution=merge-duplicates',
    ],
    in: 'header',
    type: 'string',
  },
  select: {
    name: 'select',
    description: 'Filtering Columns',
    required: false,
    in: 'query',
    type: 'string',
  },
  on_conflict: {
    name: 'on_conflict',
    description: 'On Conflict',
    required: false,
    in: 'query',
    type: 'string',
  },
  order: { name: 'order', description: 'Ordering', required: false, in: 'query', type: 'string' },
  range: {
    name: 'Range',
    description: 'Limiting and Pagination',
    required: false,
    in: 'header',
    type: 'string',
  },
  rangeUnit: {
    name: 'Range-Unit',
    description: 'Limiting and Pagination',
    required: false,
    default: 'items',
    in: 'header',
    type: 'string',
  },
  offset: {
    name: 'offset',
    description: 'Limiting and Pagination',
    required: false,
    in: 'query',
    type: 'string',
  },
  limit: {
    name: 'limit',
    description: 'Limiting and Pagination',
    required: false,
    in: 'query',
    type: 'string',
  },
};

/** The first line of a comment, and the rest without its leading newlines (PostgREST's summary and description). */
function splitComment(comment: string | null | undefined): { summary?: string; description?: string } {
  if (comment === null || comment === undefined) return {};
  const at = comment.indexOf('\n');
  const rest = at < 0 ? '' : comment.slice(at + 1).replace(/^\n+/, '');
  return { summary: at < 0 ? comment : comment.slice(0, at), ...(rest ? { description: rest } : {}) };
}

const PROC_MEDIA = MEDIA.slice(0, 3);
const INSERTABLE = 8;
const UPDATABLE = 4;
const DELETABLE = 16;

/** One GET parameter of a function (makeProcGetParam): a variadic one repeats, an array or JSON one is a string. */
function procGetParam(arg: Routine['args'][number]): Json {
  const base = { name: arg.name, required: !arg.hasDefault, in: 'query' };
  if (arg.variadic) {
    const element = arg.type.endsWith('[]') ? arg.type.slice(0, -2) : arg.type;
    return {
      ...base,
      ...(swaggerType(arg.type).type ? swaggerType(arg.type) : { type: 'string' }),
      collectionFormat: 'multi',
      items: { ...swaggerType(element), format: element },
    };
  }
  const type = swaggerType(arg.type).type;
  return { ...base, format: arg.type, type: type === undefined || type === 'array' ? 'string' : type };
}

export function openApiDocument(cache: SchemaCache, schema: string, privileges: Privileges): Json {
  const paths: Json = {
    '/': {
      get: {
        produces: ['application/openapi+json', 'application/json'],
        responses: { 200: { description: 'OK' } },
        summary: 'OpenAPI description (this document)',
        tags: ['Introspection'],
      },
    },
  };
  const definitions: Json = {};
  const parameters: Json = { ...SHARED_PARAMETERS };
  const accessible = new Set(privileges.relations);
  const relations = [...cache.relations.values()]
    .filter((r) => r.schema === schema && accessible.has(r.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const r of relations) {
    const fks = cache.foreignKeys.filter((fk) => fk.fromSchema === r.schema && fk.fromTable === r.name);
    const required = r.columnList.filter((c) => !c.nullable).map((c) => c.name);
    definitions[r.name] = {
      ...(r.comment ? { description: r.comment } : {}),
      ...(required.length ? { required } : {}),
      properties: Object.fromEntries(
        r.columnList.map((c) => [c.name, columnSchema(r, c, fks, privileges.columns[r.name]?.[c.name])]),
      ),
      type: 'object',
    };
    const rowFilters = r.columnList.map((c) => {
      const key = `rowFilter.${r.name}.${c.name}`;
      parameters[key] = {
        name: c.name,
        ...(c.comment ? { description: c.comment } : {}),
        required: false,
        in: 'query',
        type: 'string',
      };
      return ref(jsonPointer(key));
    });
    parameters[`body.${r.name}`] = {
      name: r.name,
      description: r.name,
      required: false,
      in: 'body',
      schema: { $ref: `#/definitions/${jsonPointer(r.name)}` },
    };
    const body = ref(jsonPointer(`body.${r.name}`));
    const common = { tags: [r.name], ...splitComment(r.comment) };
    const item: Json = {
      get: {
        ...common,
        parameters: [
          ...rowFilters,
          ref('select'),
          ref('order'),
          ref('range'),
          ref('rangeUnit'),
          ref('offset'),
          ref('limit'),
          ref('preferCount'),
        ],
        responses: {
          200: {
            description: 'OK',
            schema: { items: { $ref: `#/definitions/${jsonPointer(r.name)}` }, type: 'array' },
          },
          206: { description: 'Partial Content' },
        },
      },
    };
    // As PostgREST (makePathItem): a relation that takes any write has all four operations,
    // whatever the role's privileges on it.
    if ((r.updatable ?? 0) & (INSERTABLE | UPDATABLE | DELETABLE)) {
      item.post = {
        ...common,
        parameters: [body, ref('select'), ref('preferPost')],
        responses: { 201: { description: 'Created' } },
      };
      item.delete = {
        ...common,
        parameters: [...rowFilters, ref('preferReturn')],
        responses: { 204: { description: 'No Content' } },
      };
      item.patch = {
        ...common,
        parameters: [...rowFilters, body, ref('preferReturn')],
        responses: { 204: { description: 'No Content' } },
      };
    }
    paths[`/${r.name}`] = item;
  }
  const executable = new Set(privileges.functions);
  const routines = [...cache.routines.values()]
    .flat()
    .filter((f) => f.schema === schema && executable.has(f.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  const byName = new Map<string, Routine[]>();
  for (const f of routines) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  for (const [name, overloads] of byName) {
    // Overloads share a path; the first signature describes it.
    const f = overloads[0]!;
    const named = f.args.filter((a) => a.name);
    const required = named.filter((a) => !a.hasDefault).map((a) => a.name);
    // As PostgREST (makeProcPathItem): a GET and a POST, whatever the volatility.
    const common = {
      ...splitComment(f.comment),
      tags: [`(rpc) ${name}`],
      produces: PROC_MEDIA,
      responses: { 200: { description: 'OK' } },
    };
    paths[`/rpc/${name}`] = {
      get: { ...common, parameters: named.map(procGetParam) },
      post: {
        ...common,
        parameters: [
          {
            name: 'args',
            required: true,
            in: 'body',
            schema: {
              ...(f.comment !== undefined ? { description: f.comment } : {}),
              ...(required.length ? { required } : {}),
              properties: Object.fromEntries(named.map((a) => [a.name, typeSchema(a.type)])),
              type: 'object',
            },
          },
          ref('preferParams'),
        ],
      },
    };
  }
  // The schema's comment: its first line the title, the rest the description (postgrestSpec).
  const about = splitComment(privileges.comment);
  return {
    swagger: '2.0',
    info: {
      description:
        privileges.comment === null
          ? 'This is a dynamic API generated by PostgREST'
          : (about.description ?? ''),
      title: about.summary ?? 'PostgREST API',
      version: '12.2.0',
    },
    basePath: '/',
    schemes: ['http', 'https'],
    consumes: MEDIA,
    produces: MEDIA,
    paths,
    definitions,
    parameters,
    externalDocs: {
      description: 'PostgREST Documentation',
      url: 'https://postgrest.org/en/v12/references/api.html',
    },
  };
}
