import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Context } from '../../lib/context.js';
import { withDatabase, withDatabases } from '../../lib/database-info.js';
import type { SizeLimitEnforcer } from '../../lib/db-size-limits.js';
import { parseHealthServices, projectHealth } from '../../lib/project-health.js';
import { deleteProject, pauseProject, restoreProject } from '../../lib/project-lifecycle.js';
import {
  getPostgrestConfig,
  rotateJwtSecret,
  updatePostgrestConfig,
  updateProject,
} from '../../lib/project-settings.js';
import {
  getProject,
  insertProject,
  listProjects,
  projectRowById,
  requireProjectRow,
  toProject,
} from '../../lib/projects.js';
import type { Provisioner } from '../../lib/provisioning.js';
import { runProjectQuery } from '../../lib/sql-endpoint.js';
import {
  EdgeFunction,
  errors,
  HealthQuery,
  ListProjectsQuery,
  NewProjectBody,
  PostgrestConfig,
  PostgrestConfigPatchBody,
  PostgrestSettings,
  ProjectPatchBody,
  ProjectRef,
  ProjectWithDatabase,
  RefParams,
  RunQueryBody,
  ServiceHealth,
  UpdatedProject,
} from '../schemas.js';

interface ProjectRoutesOptions {
  ctx: Context;
  provisioner: Provisioner;
  /** Re-checks a project whose `db_size_mb` a PATCH changed. */
  sizeLimits: SizeLimitEnforcer;
  /** How long a create waits for ACTIVE_HEALTHY before answering COMING_UP. */
  provisionWaitMs: number;
}

const tags = ['projects'];

export const projectRoutes: FastifyPluginAsyncTypebox<ProjectRoutesOptions> = async (
  app,
  { ctx, provisioner, sizeLimits, provisionWaitMs },
) => {
  app.post(
    '/v1/projects',
    {
      schema: {
        tags,
        summary: 'Create a project (answers COMING_UP or, usually, already ACTIVE_HEALTHY)',
        body: NewProjectBody,
        response: { 201: ProjectWithDatabase, ...errors },
      },
    },
    async (request, reply) => {
      const row = await insertProject(ctx, request.body);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        provisioner.start(row.id),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, provisionWaitMs);
        }),
      ]);
      clearTimeout(timer);
      // By id, not ref: a delete and another create of the same ref may have come in between.
      const created = await projectRowById(ctx.db, row.id);
      return reply
        .status(201)
        .header('location', `/v1/projects/${row.ref}`)
        .send(await withDatabase(ctx, toProject(ctx, created ?? row)));
    },
  );

  app.get(
    '/v1/projects',
    {
      schema: {
        tags,
        summary: 'List projects',
        querystring: ListProjectsQuery,
        response: { 200: Type.Array(ProjectWithDatabase), ...errors },
      },
    },
    async (request) => withDatabases(ctx, await listProjects(ctx, request.query)),
  );

  app.get(
    '/v1/projects/:ref',
    {
      schema: {
        tags,
        summary: 'Get a project, with its database (host and Postgres version), as Supabase',
        params: RefParams,
        response: { 200: ProjectWithDatabase, ...errors },
      },
    },
    async (request) => withDatabase(ctx, await getProject(ctx, request.params.ref)),
  );

  app.patch(
    '/v1/projects/:ref',
    {
      schema: {
        tags,
        summary:
          "Rename a project and/or change its limits (only the fields present change; limits in ACTIVE_HEALTHY or INACTIVE); answers Supabase's {id, ref, name} and the limits in force",
        params: RefParams,
        body: ProjectPatchBody,
        response: { 200: UpdatedProject, ...errors },
      },
    },
    async (request) => {
      const project = await updateProject(ctx, request.params.ref, request.body);
      // At once, not at the next round: a raised or removed limit makes the database writable again.
      if (request.body.limits?.db_size_mb !== undefined) await sizeLimits.checkProject(project.ref);
      return project;
    },
  );

  app.delete(
    '/v1/projects/:ref',
    {
      schema: {
        tags,
        summary:
          "Delete a project: database, roles, keys, secrets and function (a second delete is a 404); answers Supabase's {id, ref, name}",
        params: RefParams,
        response: { 200: ProjectRef, ...errors },
      },
    },
    (request) => deleteProject(ctx, request.params.ref, provisioner),
  );

  app.post(
    '/v1/projects/:ref/pause',
    {
      schema: {
        tags,
        summary: 'Pause a project (INACTIVE)',
        params: RefParams,
        response: { 200: ProjectWithDatabase, ...errors },
      },
    },
    async (request) => withDatabase(ctx, await pauseProject(ctx, request.params.ref, provisioner)),
  );

  app.post(
    '/v1/projects/:ref/restore',
    {
      schema: {
        tags,
        summary: 'Restore a paused (INACTIVE) project',
        params: RefParams,
        response: { 200: ProjectWithDatabase, ...errors },
      },
    },
    async (request) => withDatabase(ctx, await restoreProject(ctx, request.params.ref, provisioner)),
  );

  app.get(
    '/v1/projects/:ref/functions',
    {
      schema: {
        tags,
        summary:
          "The project's Edge Functions, as Supabase lists them: always none, as Supaplane hosts no Edge Functions",
        params: RefParams,
        response: { 200: Type.Array(EdgeFunction), ...errors },
      },
    },
    async (request) => {
      await requireProjectRow(ctx.db, request.params.ref);
      return [];
    },
  );

  app.get(
    '/v1/projects/:ref/health',
    {
      schema: {
        tags,
        summary:
          "The health of the project's services, as Supabase's (db and db_postgres_user: its database answers, as the cluster's admin and as its owner role; rest: its data-API function and config); 200 whatever their state",
        params: RefParams,
        querystring: HealthQuery,
        response: { 200: Type.Array(ServiceHealth), ...errors },
      },
    },
    (request) =>
      projectHealth(
        ctx,
        request.params.ref,
        parseHealthServices(request.query.services),
        request.query.timeout_ms,
      ),
  );

  app.get(
    '/v1/projects/:ref/postgrest',
    {
      schema: {
        tags,
        summary: "The project's data-API settings, JWT secret included",
        params: RefParams,
        response: { 200: PostgrestConfig, ...errors },
      },
    },
    (request) => getPostgrestConfig(ctx, request.params.ref),
  );

  app.patch(
    '/v1/projects/:ref/postgrest',
    {
      schema: {
        tags,
        summary:
          'Change the data-API settings (only the fields present; ACTIVE_HEALTHY or INACTIVE); running functions pick them up with the next request. Answers them without the JWT secret',
        params: RefParams,
        body: PostgrestConfigPatchBody,
        response: { 200: PostgrestSettings, ...errors },
      },
    },
    (request) => updatePostgrestConfig(ctx, request.params.ref, request.body),
  );

  app.post(
    '/v1/projects/:ref/jwt-secret/rotate',
    {
      schema: {
        tags,
        summary:
          'Replace the JWT secret with a new random one; tokens signed with the old one stop working (answers GET /postgrest)',
        params: RefParams,
        response: { 200: PostgrestConfig, ...errors },
      },
    },
    (request) => rotateJwtSecret(ctx, request.params.ref),
  );

  app.post(
    '/v1/projects/:ref/database/query',
    {
      schema: {
        tags,
        summary:
          "Run SQL as the project's owner role (with parameters, or read-only, as Supabase's); answers the rows of the last statement",
        params: RefParams,
        body: RunQueryBody,
        response: { 201: Type.Array(Type.Unknown()), ...errors },
      },
    },
    async (request, reply) => {
      const { query, parameters, read_only } = request.body;
      const rows = await runProjectQuery(ctx, request.params.ref, query, {
        parameters,
        readOnly: read_only === true,
      });
      return reply.status(201).send(rows);
    },
  );
};
