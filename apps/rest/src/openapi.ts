import type { RestResponse } from './engine.js';
import type { SchemaCache } from './schema-cache.js';

/** A minimal Swagger 2.0 description of one schema, served at the API root like PostgREST's. */
export function openApi(cache: SchemaCache, schema: string): RestResponse {
  const paths: Record<string, unknown> = { '/': {} };
  const definitions: Record<string, unknown> = {};
  for (const r of cache.relations.values()) {
    if (r.schema !== schema) continue;
    paths[`/${r.name}`] = r.kind === 'table' ? { get: {}, post: {}, patch: {}, delete: {} } : { get: {} };
    definitions[r.name] = {
      type: 'object',
      required: r.columnList.filter((c) => !c.nullable && !c.hasDefault).map((c) => c.name),
      properties: Object.fromEntries(r.columnList.map((c) => [c.name, { format: c.type }])),
    };
  }
  for (const list of cache.routines.values()) {
    for (const f of list) if (f.schema === schema) paths[`/rpc/${f.name}`] = { post: {} };
  }
  const doc = { swagger: '2.0', info: { title: 'Supaplane REST', version: '12' }, paths, definitions };
  return {
    status: 200,
    headers: { 'content-type': 'application/openapi+json; charset=utf-8' },
    body: JSON.stringify(doc),
  };
}
