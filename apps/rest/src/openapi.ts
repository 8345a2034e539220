import type { Statement } from './sql.js';
import type { Column, ForeignKey, Relation, Routine, SchemaCache } from './schema-cache.js';

/**
 * The Swagger 2.0 description PostgREST serves at the API root: a path per table, view and
 * function of the exposed schema that the current role may use, a definition per table/view with
 * column formats, required columns and PK/FK notes, and the shared query parameters.
 */

/** What the current role may do, read in the request's transaction (so `current_user` is the role). */
const PRIVILEGES_SQL = `SELECT json_build_object(
  'relations', (SELECT coalesce(json_object_agg(c.relname, json_build_object(
      'select', has_table_privilege(c.oid, 'SELECT'), 'insert', has_table_privilege(c.oid, 'INSERT'),
      'update', has_table_privilege(c.oid, 'UPDATE'), 'delete', has_table_privilege(c.oid, 'DELETE'))), '{}')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
      AND (has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')
        OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE'))),
  'functions', (SELECT coalesce(json_agg(DISTINCT p.proname), '[]')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = $1 AND p.prokind = 'f' AND has_function_privilege(p.oid, 'EXECUTE'))
)::text`;

export const privilegesStatement = (schema: string): Statement => ({ sql: PRIVILEGES_SQL, params: [schema] });

export interface Privileges {
  relations: Record<string, { select: boolean; insert: boolean; update: boolean; delete: boolean }>;
  functions: string[];
}

type Json = Record<string, unknown>;

const INTEGER = new Set(['smallint', 'integer', 'bigint']);
const NUMBER = new Set(['numeric', 'real', 'double precision']);

/** Swagger type of a Postgres type as `format_type` spells it; `format` keeps the Postgres name. */
function schemaOf(pgType: string): Json {
  const base = pgType.replace(/\(.*\)/, '');
  if (base.endsWith('[]')) {
    return { type: 'array', format: pgType, items: swaggerType(base.slice(0, -2)) };
  }
  return { format: pgType, ...swaggerType(base) };
}

function swaggerType(base: string): Json {
  if (INTEGER.has(base)) return { type: 'integer' };
  if (NUMBER.has(base)) return { type: 'number' };
  if (base === 'boolean') return { type: 'boolean' };
  if (base === 'json' || base === 'jsonb') return {};
  return { type: 'string' };
}

function columnSchema(relation: Relation, column: Column, fks: readonly ForeignKey[]): Json {
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
  const fallback = column.defaultSql ? defaultValue(column.defaultSql) : undefined;
  return {
    ...(fallback !== undefined ? { default: fallback } : {}),
    ...(description ? { description } : {}),
    ...schemaOf(column.type),
  };
}

/** A column default as JSON: literals as values, anything else as its SQL text. */
function defaultValue(sql: string): unknown {
  if (sql === 'true' || sql === 'false') return sql === 'true';
  if (/^-?\d+(\.\d+)?$/.test(sql)) return Number(sql);
  const literal = /^'((?:[^']|'')*)'::[\w ."[\]]+$/.exec(sql);
  if (literal) return literal[1]!.replaceAll("''", "'");
  return sql;
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
  const relations = [...cache.relations.values()]
    .filter((r) => r.schema === schema && Object.hasOwn(privileges.relations, r.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const r of relations) {
    const can = privileges.relations[r.name]!;
    const fks = cache.foreignKeys.filter((fk) => fk.fromSchema === r.schema && fk.fromTable === r.name);
    definitions[r.name] = {
      ...(r.comment ? { description: r.comment } : {}),
      required: r.columnList.filter((c) => !c.nullable && !c.hasDefault && !c.generated).map((c) => c.name),
      properties: Object.fromEntries(r.columnList.map((c) => [c.name, columnSchema(r, c, fks)])),
      type: 'object',
    };
    const rowFilters = r.columnList.map((c) => {
      const key = `rowFilter.${r.name}.${c.name}`;
      parameters[key] = { name: c.name, required: false, format: c.type, in: 'query', type: 'string' };
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
    const tags = [r.name];
    // The first line of the table comment is the summary of its paths, the rest the description.
    const [summary, ...rest] = (r.comment ?? '').split('\n');
    const about: Json = {
      ...(summary ? { summary } : {}),
      ...(rest.join('\n').trim() ? { description: rest.join('\n').trim() } : {}),
    };
    const item: Json = {};
    if (can.select) {
      item.get = {
        tags,
        ...about,
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
      };
    }
    if (can.insert) {
      item.post = {
        tags,
        ...about,
        parameters: [body, ref('select'), ref('preferPost')],
        responses: { 201: { description: 'Created' } },
      };
    }
    if (can.delete) {
      item.delete = {
        tags,
        parameters: [...rowFilters, ref('preferReturn')],
        responses: { 204: { description: 'No Content' } },
      };
    }
    if (can.update) {
      item.patch = {
        tags,
        ...about,
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
    // Overloads share a path; the first signature describes it, as in PostgREST.
    const f = overloads[0]!;
    const named = f.args.filter((a) => a.name);
    const required = named.filter((a) => !a.hasDefault).map((a) => a.name);
    const tags = [`(rpc) ${name}`];
    const item: Json = {
      post: {
        tags,
        parameters: [
          {
            name: 'args',
            required: true,
            in: 'body',
            schema: {
              ...(required.length ? { required } : {}),
              properties: Object.fromEntries(named.map((a) => [a.name, schemaOf(a.type)])),
              type: 'object',
            },
          },
          ref('preferParams'),
        ],
        responses: { 200: { description: 'OK' } },
      },
    };
    if (f.volatility !== 'volatile') {
      item.get = {
        tags,
        parameters: named.map((a) => ({
          name: a.name,
          required: !a.hasDefault,
          in: 'query',
          ...schemaOf(a.type),
          ...(a.type.endsWith('[]') ? { type: 'string' } : {}),
        })),
        responses: { 200: { description: 'OK' } },
      };
    }
    paths[`/rpc/${name}`] = item;
  }
  return {
    swagger: '2.0',
    info: {
      description: '',
      title: 'standard public schema',
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
