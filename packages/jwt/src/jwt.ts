import {
  type CryptoKey,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  SignJWT,
  base64url,
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
  /**
   * The project's HS256 signing keys that are not revoked, by `kid` (the JWT secret set up as the
   * legacy key among them). Shared secrets: never published, kept apart from `jwks`.
   */
  readonly sharedKeys?: readonly SharedKey[];
}

/** An HS256 signing key: its id (the `kid` of the tokens it signs) and secret, base64url as an `oct` JWK's `k`. */
export interface SharedKey {
  readonly kid: string;
  readonly k: string;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The internal records' `sharedKeys` (docs/contracts.md): absent or null is none; anything but an
 * array of `{kid, k}` (non-empty strings, `k` base64url) is `null`, so the record is refused.
 */
export function parseSharedKeys(value: unknown): SharedKey[] | null {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return null;
  const keys: SharedKey[] = [];
  for (const entry of value) {
    if (typeof entry !== 'object' || entry === null) return null;
    const { kid, k } = entry as Record<string, unknown>;
    if (typeof kid !== 'string' || !kid || typeof k !== 'string' || !BASE64URL.test(k)) return null;
    keys.push({ kid, k });
  }
  return keys;
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
 * A verifier bound to one project's keys. HS* tokens are checked only against shared secrets and
 * RS/ES/EdDSA tokens only against the JWKS, so a public key can never be used as an HMAC secret nor
 * a secret as a public key.
 *
 * Which secret, as Supabase Auth (GoTrue's parseJWTClaims) picks it: the HS256 signing key the
 * token's `kid` names, and no other; else, with no `kid` or one naming no key (a revoked key's, say),
 * the JWT secret. A `kid` naming a public key is refused. PostgREST 12.2, whose jose tries every
 * key of its JWKS whatever the `kid`, accepts all of these tokens too.
 */
export function createJwtVerifier(keys: JwtKeys): JwtVerifier {
  const secret = keys.jwtSecret ? new TextEncoder().encode(keys.jwtSecret) : undefined;
  const publicKeys = keys.jwks?.keys.length ? createLocalJWKSet(keys.jwks) : undefined;
  const sharedByKid = new Map((keys.sharedKeys ?? []).map((key) => [key.kid, base64url.decode(key.k)]));
  const publicKids = new Set(keys.jwks?.keys.map((key) => key.kid).filter((kid) => kid !== undefined));

  return {
    async verify(token, nowSeconds) {
      if (typeof token !== 'string' || token.split('.').length !== 3) {
        return invalid('Expected 3 parts in JWT; got ' + String(token).split('.').length);
      }
      let alg: string | undefined;
      let kid: unknown;
      try {
        ({ alg, kid } = decodeProtectedHeader(token));
      } catch {
        return invalid('JWT could not be decoded');
      }
      if (!alg || !ALLOWED.has(alg)) return invalid(`JWT algorithm ${alg ?? 'none'} is not allowed`);
      const symmetric = alg.startsWith('HS');
      let key: Uint8Array | JWTVerifyGetKey | undefined;
      let algorithms: string[] = symmetric ? [...SYMMETRIC_ALGS] : [...ASYMMETRIC_ALGS];
      if (!symmetric) key = publicKeys;
      else if (typeof kid === 'string' && sharedByKid.has(kid)) {
        key = sharedByKid.get(kid);
        algorithms = ['HS256'];
      } else if (typeof kid === 'string' && publicKids.has(kid)) key = undefined;
      else key = secret;
      if (!key) return invalid('No suitable key or wrong key type');
      try {
        const options = {
          algorithms,
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
