import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export interface UserTokenOptions {
  readonly sub?: string;
  readonly email?: string;
  readonly role?: string;
  /** Lifetime in seconds from now; negative for an already expired token. Default one hour. */
  readonly ttlSeconds?: number;
  readonly ref?: string;
}

/**
 * An access token shaped like the ones GoTrue issues (`aud`/`role` `authenticated`, `sub` = user id),
 * signed HS256 with a project's JWT secret — the auth service comes later, the data path must already
 * honour them.
 */
export async function userToken(jwtSecret: string, options: UserTokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? 3600;
  return new SignJWT({
    aud: 'authenticated',
    role: options.role ?? 'authenticated',
    email: options.email ?? `${options.sub ?? 'user'}@example.test`,
    session_id: randomUUID(),
    aal: 'aal1',
    is_anonymous: false,
    ...(options.ref ? { ref: options.ref } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub ?? randomUUID())
    .setIssuer('supabase')
    .setIssuedAt(ttl < 0 ? now + ttl - 60 : now)
    .setExpirationTime(now + ttl)
    .sign(new TextEncoder().encode(jwtSecret));
}

/** Flips one character of the payload: the signature no longer matches. */
export function tamper(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  claims.role = 'service_role';
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}
