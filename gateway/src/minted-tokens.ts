import { mintHs256 } from '@supaplane/jwt';
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

/**
 * HS256 tokens `{iss:"supabase", ref, role, iat, exp: iat+300}` for key-only requests, one per
 * (ref, role), reused until about a minute before expiry, so the hot path does not sign.
 * Lives outside the project cache so that reloading a project's config keeps its tokens.
 */
export class MintedTokenCache {
  /** By ref, then by role: no per-request key string to build. */
  private readonly tokens: LRUCache<string, Map<string, MintedToken>>;
  private readonly minting = new Map<string, Promise<MintedToken>>();
  private readonly secrets = new LRUCache<string, Uint8Array>({ max: 1_000 });

  constructor(maxEntries: number) {
    this.tokens = new LRUCache({ max: maxEntries });
  }

  tokenFor(ref: string, role: string, secret: string, nowMs: number): string | Promise<string> {
    const minted = this.lookup(ref, role, secret, nowMs);
    return 'then' in minted ? minted.then((m) => m.token) : minted.token;
  }

  /** `Bearer <token>` for the upstream's `X-Client-Authorization`. */
  bearerFor(ref: string, role: string, secret: string, nowMs: number): string | Promise<string> {
    const minted = this.lookup(ref, role, secret, nowMs);
    return 'then' in minted ? minted.then((m) => m.bearer) : minted.bearer;
  }

  private lookup(
    ref: string,
    role: string,
    secret: string,
    nowMs: number,
  ): MintedToken | Promise<MintedToken> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const cached = this.tokens.get(ref)?.get(role);
    if (cached && cached.secret === secret && nowSeconds < cached.refreshAt) return cached;
    const pendingId = `${ref}|${role}|${secret}`;
    let pending = this.minting.get(pendingId);
    if (!pending) {
      let key = this.secrets.get(secret);
      if (!key) {
        key = new TextEncoder().encode(secret);
        this.secrets.set(secret, key);
      }
      pending = mintHs256(key, { ref, role, issuedAt: nowSeconds, ttlSeconds: MINT_TTL_SECONDS })
        .then((token) => {
          const minted: MintedToken = {
            token,
            bearer: `Bearer ${token}`,
            secret,
            refreshAt: nowSeconds + MINT_TTL_SECONDS - MINT_REFRESH_MARGIN_SECONDS,
          };
          let byRole = this.tokens.get(ref);
          if (!byRole) {
            byRole = new Map();
            this.tokens.set(ref, byRole);
          }
          byRole.set(role, minted);
          return minted;
        })
        .finally(() => this.minting.delete(pendingId));
      this.minting.set(pendingId, pending);
    }
    return pending;
  }

  clear(): void {
    this.tokens.clear();
  }
}
