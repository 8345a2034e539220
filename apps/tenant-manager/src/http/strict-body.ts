import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';

/** The part of a JSON Schema this check reads (what TypeBox writes for our bodies). */
interface SchemaNode {
  type?: string | string[];
  nullable?: boolean;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

const jsonType = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

const typesOf = (schema: SchemaNode): string[] => [
  ...[schema.type ?? []].flat(),
  ...(schema.nullable ? ['null'] : []),
];

const fits = (type: string, value: unknown) =>
  type === jsonType(value) || (type === 'integer' && typeof value === 'number');

/**
 * The first place where `value` is not of the JSON type its schema names, as Ajv words it
 * (`/limits/db_size_mb must be integer`), or null. Only types: ranges, formats, required and
 * unknown fields stay Ajv's.
 */
export function typeMismatch(schema: SchemaNode, value: unknown, path = ''): string | null {
  if (schema.anyOf) {
    const fitting = schema.anyOf.filter((branch) => typeMismatch(branch, value, path) === null);
    if (fitting.length > 0) return null;
    const types = [...new Set(schema.anyOf.flatMap(typesOf))];
    const sameType = schema.anyOf.find((branch) => typesOf(branch).some((type) => fits(type, value)));
    // A branch of the value's type (the object of an optional body): its own mismatch is the answer.
    if (sameType) return typeMismatch(sameType, value, path);
    return `${path} must be ${types.join(' or ')}`;
  }
  const types = typesOf(schema);
  // Worded as Ajv words it: a nullable integer "must be integer".
  if (types.length > 0 && !types.some((type) => fits(type, value))) {
    return `${path} must be ${[schema.type ?? []].flat().join(' or ')}`;
  }
  if (jsonType(value) === 'object' && schema.properties) {
    for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
      const property = schema.properties[name];
      const mismatch = property && typeMismatch(property, field, `${path}/${name}`);
      if (mismatch) return mismatch;
    }
  }
  if (Array.isArray(value) && schema.items) {
    for (const [index, item] of value.entries()) {
      const mismatch = typeMismatch(schema.items, item, `${path}/${index}`);
      if (mismatch) return mismatch;
    }
  }
  return null;
}

/**
 * Ajv's type coercion is on for the path and query, whose values are strings; in a JSON body it
 * would turn `true` into a `max_rows` of 1 and `null` into `false`. So a body field of the wrong
 * JSON type is refused first: 400 `validation_failed` naming it.
 */
export function strictBodyTypes(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.body as SchemaNode | undefined;
    if (schema === undefined || request.body === undefined) return;
    const mismatch = typeMismatch(schema, request.body);
    if (mismatch !== null) throw new AppError(400, `body${mismatch}`, 'validation_failed');
  });
}
