import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/** Fastify's own Ajv options, except that a field a schema does not have fails instead of being dropped. */
const OPTIONS: Options = {
  useDefaults: true,
  removeAdditional: false,
  addUsedSchema: false,
  allErrors: false,
};

/**
 * The API's request validators: Ajv with formats, as Fastify sets it up, but one instance per kind of
 * input. The path, query and headers are strings, so their values are converted (`?limit=5`); a JSON
 * body's never are, or `{"max_rows": true}` would set a limit of 1 and `null` read as `false`: a body
 * field of the wrong JSON type is a 400 naming it.
 */
export function requestValidators(): FastifySchemaCompiler<unknown> {
  const strings = addFormats.default(new Ajv({ ...OPTIONS, coerceTypes: 'array' }));
  const json = addFormats.default(new Ajv({ ...OPTIONS, coerceTypes: false }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? json : strings).compile(schema as object);
}
