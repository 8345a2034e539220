import type { Context } from './context.js';
import { badRequest, notFound } from './errors.js';

// Supaplane has one organization per platform (ORGANIZATION_SLUG): every project belongs to it. It is
// answered in Supabase's shapes so that clients written for the Management API (Supabase's MCP server
// run for an account) find it; as in Supabase, an organization's `id` is its slug.

/** The one organization every project of the platform belongs to. */
export interface Organization {
  readonly slug: string;
  readonly name: string;
}

/** The organization when the operator names none (ORGANIZATION_SLUG, ORGANIZATION_NAME unset). */
export const DEFAULT_ORGANIZATION: Organization = { slug: 'supaplane', name: 'Supaplane' };

/**
 * An operator-only platform bills nothing: the plan is `free` (what Supabase's clients read as "no
 * charge for another project", so its MCP server's get_cost answers $0), never a price of our making.
 */
const PLAN = 'free' as const;

export const listOrganizations = (ctx: Context) => {
  const { slug, name } = ctx.settings.organization;
  return [{ id: slug, slug, name }];
};

export function getOrganization(ctx: Context, slug: string) {
  const organization = ctx.settings.organization;
  if (slug !== organization.slug) throw notFound('organization');
  return {
    id: organization.slug,
    slug: organization.slug,
    name: organization.name,
    plan: PLAN,
    opt_in_tags: [] as string[],
    allowed_release_channels: ['ga'],
  };
}

/** A create's `organization_slug`: the platform's own, or 400 naming the one there is. */
export function requireOwnOrganization(ctx: Context, slug: string): void {
  const own = ctx.settings.organization.slug;
  if (slug !== own) {
    throw badRequest(`unknown organization ${slug} (this platform has one: ${own})`, 'invalid_organization');
  }
}
