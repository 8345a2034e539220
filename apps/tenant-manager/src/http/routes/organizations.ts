import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Context } from '../../lib/context.js';
import { getOrganization, listOrganizations } from '../../lib/organizations.js';
import { errors, OrganizationDetail, OrganizationSummary, SlugParams } from '../schemas.js';

const tags = ['organizations'];

/** The platform's one organization, in the shapes of Supabase's organization routes. */
export const organizationRoutes: FastifyPluginAsyncTypebox<{ ctx: Context }> = async (app, { ctx }) => {
  app.get(
    '/v1/organizations',
    {
      schema: {
        tags,
        summary: "The platform's one organization (every project belongs to it)",
        response: { 200: Type.Array(OrganizationSummary), ...errors },
      },
    },
    async () => listOrganizations(ctx),
  );

  app.get(
    '/v1/organizations/:slug',
    {
      schema: {
        tags,
        summary: 'The organization by its slug: plan free (no billing), no opt-in tags',
        params: SlugParams,
        response: { 200: OrganizationDetail, ...errors },
      },
    },
    async (request) => getOrganization(ctx, request.params.slug),
  );
};
