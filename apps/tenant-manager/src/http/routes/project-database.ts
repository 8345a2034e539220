import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { projectAdvisors } from '../../lib/advisors.js';
import type { Context } from '../../lib/context.js';
import { projectDatabaseConnection, setDatabasePassword } from '../../lib/database-access.js';
import { applyMigration, listMigrations } from '../../lib/database-migrations.js';
import { parseIncludedSchemas, projectTypescriptTypes } from '../../lib/typescript-types.js';
import { Body, RefParams, errors } from '../schemas.js';

const Lint = Type.Object({
  name: Type.String(),
  title: Type.String(),
  level: Type.Union([Type.Literal('ERROR'), Type.Literal('WARN'), Type.Literal('INFO')]),
  facing: Type.Literal('EXTERNAL'),
  categories: Type.Array(Type.Union([Type.Literal('SECURITY'), Type.Literal('PERFORMANCE')])),
  description: Type.String(),
  detail: Type.String(),
  remediation: Type.String(),
  metadata: Type.Object(
    {},
    { additionalProperties: true, description: 'schema, name, type; fkey_name, fkey_columns, indexes' },
  ),
  cache_key: Type.String(),
});
const Migration = Type.Object({ version: Type.String(), name: Type.Union([Type.String(), Type.Null()]) });

const tags = ['database'];

/**
 * What an app developer needs of the project's database besides the data API: its generated client
 * types (as `supabase gen types typescript` fetches them) and a direct connection for migrations.
 */
export const projectDatabaseRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    '/v1/projects/:ref/types/typescript',
    {
      schema: {
        tags,
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

  app.get(
    '/v1/projects/:ref/database/connection',
    {
      schema: {
        tags,
        summary:
          "Where to connect to the project's database directly (migrations, psql, ORMs): host, port, database and its owner role; the password is db_pass",
        params: RefParams,
        response: {
          200: Type.Object({
            host: Type.String(),
            port: Type.Integer(),
            database: Type.String(),
            user: Type.String(),
            ssl: Type.Boolean(),
            uri: Type.String({ description: 'postgresql://user@host:port/database, without the password' }),
          }),
          ...errors,
        },
      },
    },
    (request) => projectDatabaseConnection(ctx, request.params.ref),
  );

  app.patch(
    '/v1/projects/:ref/database/password',
    {
      schema: {
        tags,
        summary:
          "Sets the password of the project's owner role (direct connections); sessions already open stay open",
        params: RefParams,
        body: Body({ password: Type.String({ maxLength: 1_000 }) }),
        response: { 200: Type.Object({ message: Type.String() }), ...errors },
      },
    },
    async (request) => {
      await setDatabasePassword(ctx, request.params.ref, request.body.password);
      return { message: 'database password updated' };
    },
  );

  app.get(
    '/v1/projects/:ref/database/migrations',
    {
      schema: {
        tags,
        summary:
          'Migrations applied, oldest first (supabase_migrations.schema_migrations, as the Supabase CLI keeps it)',
        params: RefParams,
        response: { 200: Type.Array(Migration), ...errors },
      },
    },
    (request) => listMigrations(ctx, request.params.ref),
  );

  app.post(
    '/v1/projects/:ref/database/migrations',
    {
      schema: {
        tags,
        summary:
          "Applies a migration as the project's owner in one transaction (a failing statement keeps nothing; COMMIT inside is refused) and records it",
        params: RefParams,
        body: Body({
          query: Type.String({ maxLength: 10_000_000 }),
          name: Type.Optional(Type.String({ maxLength: 1_000 })),
        }),
        response: { 200: Migration, ...errors },
      },
    },
    (request) => applyMigration(ctx, request.params.ref, request.body),
  );

  app.get(
    '/v1/projects/:ref/advisors/:kind',
    {
      schema: {
        tags,
        summary:
          "Checks of the project's exposed schemas, as Supabase's advisors: security (tables open to the publishable key without RLS, policies that do not apply, definer views, mutable search paths) or performance (unindexed foreign keys, no primary key, duplicate indexes)",
        params: Type.Object({
          ref: RefParams.properties.ref,
          kind: Type.Union([Type.Literal('security'), Type.Literal('performance')]),
        }),
        response: {
          200: Type.Object({ lints: Type.Array(Lint) }),
          ...errors,
        },
      },
    },
    (request) => projectAdvisors(ctx, request.params.ref, request.params.kind),
  );
};
