import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Context } from '../../lib/context.js';
import { parseIncludedSchemas, projectTypescriptTypes } from '../../lib/typescript-types.js';
import { RefParams, errors } from '../schemas.js';

/** Generated client types of a project's database, as Supabase's `supabase gen types typescript` fetches them. */
export const projectTypeRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    '/v1/projects/:ref/types/typescript',
    {
      schema: {
        tags: ['database'],
        summary:
          'TypeScript types of the schemas asked for (tables, views, functions, enums, composite types), for createClient<Database>()',
        params: RefParams,
        querystring: Type.Object({
          included_schemas: Type.Optional(
            Type.String({ maxLength: 2_000, description: 'Comma-separated schema names (default public)' }),
          ),
        }),
        response: { 200: Type.Object({ types: Type.String() }), ...errors },
      },
    },
    async (request) => {
      const schemas = parseIncludedSchemas(request.query.included_schemas);
      return { types: await projectTypescriptTypes(ctx, request.params.ref, schemas) };
    },
  );
};
