import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import type { Context } from '../../lib/context.js';
import { projectUsage, topProjects, usageWindow } from '../../lib/usage.js';
import {
  PlatformUsage,
  PlatformUsageQuery,
  ProjectUsage,
  RefParams,
  UsageQuery,
  errors,
} from '../schemas.js';

const tags = ['usage'];

/** What projects use: the gateways' request counters (in Redis) and the databases' size. */
export const usageRoutes: FastifyPluginAsyncTypebox<{ ctx: Context; redis: Redis | null }> = async (
  app,
  { ctx, redis },
) => {
  app.get(
    '/v1/projects/:ref/usage',
    {
      schema: {
        tags,
        summary:
          "A project's API requests, refusals and bytes over the last hours or days, and its database's size and connections now",
        params: RefParams,
        querystring: UsageQuery,
        response: { 200: ProjectUsage, ...errors },
      },
    },
    (request) => projectUsage(ctx, redis, request.params.ref, usageWindow(request.query)),
  );

  app.get(
    '/v1/usage',
    {
      schema: {
        tags,
        summary: 'The busiest projects of the platform over the last hours or days, by API requests',
        querystring: PlatformUsageQuery,
        response: { 200: PlatformUsage, ...errors },
      },
    },
    (request) => topProjects(ctx, redis, usageWindow(request.query), request.query.limit),
  );
};
