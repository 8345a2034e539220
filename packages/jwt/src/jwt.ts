import {
  type CryptoKey,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  SignJWT,
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
} from 'jose';

/**
 * Algorithms we accept. `none` and anything unlisted (jose's `Ed25519` name included: Supabase signs
 * Ed25519 keys as `EdDSA`) are rejected before key selection.
 */
const SYMMETRIC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const ASYMMETRIC_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
const ALLOWED = new Set<string>([...SYMMETRIC_ALGS, ...ASYMMETRIC_ALGS]);

/** Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds. */
export const CLOCK_SKEW_SECONDS = 30;

export interface JwtKeys {
  /** The project's HS256 secret (raw string, as Supabase hands it out). */
  readonly jwtSecret?: string;
  /** Public keys with `kid`s (EC P-256, RSA, OKP Ed25519), for ES256/RS256/EdDSA tokens. */
  readonly jwks?: JSONWebKeySet;
}

export type JwtClaims = JWTPayload & { role?: string; ref?: string; email?: string };

/** PostgREST's error for a rejected token: PGRST301 (cannot be decoded/verified), PGRST303 (claims). */
export interface JwtRejection {
  readonly code: 'PGRST301' | 'PGRST303';
  readonly message: string;
}

type VerifyResult = { ok: true; claims: JwtClaims; alg: string } | { ok: false; error: JwtRejection };

export interface JwtVerifier {
  verify(token: string, nowSeconds?: number): Promise<VerifyResult>;
}

const invalid = (message: string): VerifyResult => ({ ok: false, error: { code: 'PGRST301', message } });
const claimsError = (message: string): VerifyResult => ({ ok: false, error: { code: 'PGRST303', message } });

/**
 * A verifier bound to one project's keys. HS* tokens are checked only against the secret and
 * RS/ES/EdDSA tokens only against the JWKS, so a public key can never be used as an HMAC secret nor
 * the secret as a public key.
 */
export function createJwtVerifier(keys: JwtKeys): JwtVerifier {
  const secret = keys.jwtSecret ? new TextEncoder().encode(keys.jwtSecret) : undefined;
  const publicKeys = keys.jwks?.keys.length ? createLocalJWKSet(keys.jwks) : undefined;

  return {
    async verify(token, nowSeconds) {
      if (typeof token !== 'string' || token.split('.').length !== 3) {
        return invalid('Expected 3 parts in JWT; got ' + String(token).split('.').length);
      }
      let alg: string | undefined;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        return invalid('JWT could not be decoded');
      }
      if (!alg || !ALLOWED.has(alg)) return invalid(`JWT algorithm ${alg ?? 'none'} is not allowed`);
      const symmetric = alg.startsWith('HS');
      let key: Uint8Array | JWTVerifyGetKey | undefined;
      if (symmetric) key = secret;
      else key = publicKeys;
      if (!key) return invalid('No suitable key or wrong key type');
      try {
        const options = {
          algorithms: symmetric ? [...SYMMETRIC_ALGS] : [...ASYMMETRIC_ALGS],
          clockTolerance: CLOCK_SKEW_SECONDS,
          ...(nowSeconds !== undefined ? { currentDate: new Date(nowSeconds * 1000) } : {}),
        };
        const { payload } =
          typeof key === 'function'
            ? await jwtVerify(token, key, options)
            : await jwtVerify(token, key, options);
        // jose checks `iat` only against a maximum age; PostgREST refuses one past its clock and skew.
        const now = nowSeconds ?? Math.floor(Date.now() / 1000);
        if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) {
          return claimsError('JWT issued at future');
        }
        return { ok: true, claims: payload as JwtClaims, alg };
      } catch (error) {
        return mapJoseError(error);
      }
    },
  };
}

function mapJoseError(error: unknown): VerifyResult {
  if (error instanceof errors.JWTExpired) return claimsError('JWT expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return claimsError('JWT not yet valid');
    if (error.claim === 'iat') return claimsError('JWT issued at future');
    return claimsError('JWT claims validation failed');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return invalid('JWSError JWSInvalidSignature');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return invalid('No suitable key or wrong key type');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return invalid('JWT algorithm is not allowed');
  return invalid('JWT could not be decoded');
}

interface MintOptions {
  readonly ref: string;
  readonly role: string;
  /** Seconds since the epoch. Default: now. */
  readonly issuedAt?: number;
  /** Lifetime in seconds. Default 300 (five minutes). */
  readonly ttlSeconds?: number;
  /** Extra claims (e.g. `sub`, `email` for test users). */
  readonly claims?: Record<string, unknown>;
}

/** Signs `{iss:"supabase", ref, role, iat, exp}` with HS256 under the project's secret. */
export async function mintHs256(
  jwtSecret: string | CryptoKey | Uint8Array,
  options: MintOptions,
): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const key = typeof jwtSecret === 'string' ? new TextEncoder().encode(jwtSecret) : jwtSecret;
  return new SignJWT({ ...options.claims, iss: 'supabase', ref: options.ref, role: options.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? 300))
    .sign(key);
}
