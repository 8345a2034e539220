import type { Context } from './context.js';

/**
 * Environment of a project's rest function (docs/contracts.md, "Rest function environment"). The
 * token is the project's own function token, never the platform's service token.
 */
export function restFunctionEnvironment(ctx: Context, ref: string): Record<string, string> {
  return {
    SUPAPLANE_PROJECT_REF: ref,
    SUPAPLANE_CONFIG_URL: ctx.settings.internalBaseUrl,
    SUPAPLANE_INTERNAL_TOKEN: ctx.functionTokens.mint(ref),
  };
}
