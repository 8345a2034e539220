import type { createJwtVerifier, JwtClaims } from '@supaplane/jwt';
import { apiError } from './errors.js';
import type { Identity } from './request-context.js';
import { bearer, sigV4Free } from './request-headers.js';

/** The role and claims of a request: its user token (X-Client-Authorization, else a non-SigV4 Authorization), or the anonymous role. */

export interface AuthSettings {
  /** Absent when the engine has neither a JWT secret nor keys: any token is then PGRST300. */
  readonly verifier?: ReturnType<typeof createJwtVerifier>;
  /** The role without a token or a `role` claim; `null` refuses anonymous requests. */
  readonly anonRole: string | null;
}

export async function authenticate(
  headers: Record<string, string>,
  { verifier, anonRole }: AuthSettings,
): Promise<Identity> {
  const token = bearer(headers['x-client-authorization']) ?? sigV4Free(headers.authorization);
  let claims: JwtClaims | undefined;
  if (token) {
    if (!verifier) throw apiError(500, 'PGRST300', 'Server lacks JWT secret');
    const result = await verifier.verify(token);
    if (!result.ok) {
      throw apiError(401, result.error.code, result.error.message, null, null, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${headerText(result.error.message)}"`,
      });
    }
    claims = result.claims;
  }
  // No token, or a token without a role claim, is the anonymous role.
  const role = typeof claims?.role === 'string' && claims.role ? claims.role : anonRole;
  if (role === null) {
    throw apiError(401, 'PGRST302', 'Anonymous access is disabled', null, null, {
      'www-authenticate': 'Bearer',
    });
  }
  return { role, claims: claims ?? { role }, authenticated: role !== anonRole };
}

/**
 * Text for a quoted header parameter. A verifier's message may quote the token (its `alg`), so
 * anything but printable ASCII (CR/LF would split the header; Node refuses such a header outright)
 * and the quote itself are replaced.
 */
const headerText = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').replaceAll('"', "'");
