import { createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';

const MINT_TTL_SECONDS = 300;
/** Minted tokens are replaced this long before they expire. */
const MINT_REFRESH_MARGIN_SECONDS = 60;

interface MintedToken {
  readonly token: string;
  /** `Bearer <token>`, the `X-Client-Authorization` value, built once. */
  readonly bearer: string;
  /** The secret it was signed with: a rotated secret never reuses an old token. */
  readonly secret: string;
  readonly refreshAt: number;
}

const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/**
 * `{iss:"supabase", ref, role, iat, exp}` signed HS256 with node:crypto, synchronously: byte for
 * byte what `@supaplane/jwt`'s `mintHs256` (jose) produces (minted-tokens.test.ts), without
 * WebCrypto's asynchronous round trip on a project's first request.
 */
export function mintHs256Sync(
  secret: string,
  ref: string,
  role: string,
  issuedAt: number,
  ttlSeconds: number,
) {
  const claims = { iss: 'supabase', ref, role, iat: issuedAt, exp: issuedAt + ttlSeconds };
  const input = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * HS256 tokens `{iss:"supabase", ref, role, iat, exp: iat+300}` for key-only requests, one per
 * (ref, role), reused until about a minute before expiry, so the hot path does not sign.
 * Lives outside the project cache so that reloading a project's config keeps its tokens.
 */
export class MintedTokenCache {
  /** By ref, then by role: no per-request key string to build. */
  private readonly tokens: LRUCache<string, Map<string, MintedToken>>;

  constructor(maxEntries: number) {
    this.tokens = new LRUCache({ max: maxEntries });
  }

  tokenFor(ref: string, role: string, secret: string, nowMs: number): string {
    return this.lookup(ref, role, secret, nowMs).token;
  }

  /** `Bearer <token>` for the upstream's `X-Client-Authorization`. */
  bearerFor(ref: string, role: string, secret: string, nowMs: number): string {
    return this.lookup(ref, role, secret, nowMs).bearer;
  }

  private lookup(ref: string, role: string, secret: string, nowMs: number): MintedToken {
    const nowSeconds = Math.floor(nowMs / 1000);
    let byRole = this.tokens.get(ref);
    const cached = byRole?.get(role);
    if (cached && cached.secret === secret && nowSeconds < cached.refreshAt) return cached;
    const token = mintHs256Sync(secret, ref, role, nowSeconds, MINT_TTL_SECONDS);
    const minted: MintedToken = {
      token,
      bearer: `Bearer ${token}`,
      secret,
      refreshAt: nowSeconds + MINT_TTL_SECONDS - MINT_REFRESH_MARGIN_SECONDS,
    };
    if (!byRole) {
      byRole = new Map();
      this.tokens.set(ref, byRole);
    }
    byRole.set(role, minted);
    return minted;
  }
}
