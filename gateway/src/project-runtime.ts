import { CLOCK_SKEW_SECONDS, type JwtRejection, type JwtVerifier, createJwtVerifier } from '@supaplane/jwt';
import { LRUCache } from 'lru-cache';
import type { ProjectRecord } from './records.js';
import type { RateLimit } from './rate-limit.js';

/** The Supabase API prefixes and the upstream each maps to. */
export const SERVICE_PREFIXES = [
  ['/rest/v1', 'rest'],
  ['/auth/v1', 'auth'],
  ['/storage/v1', 'storage'],
  ['/functions/v1', 'functions'],
  ['/realtime/v1', 'realtime'],
  ['/graphql/v1', 'graphql'],
] as const;

export type ServiceName = (typeof SERVICE_PREFIXES)[number][1];

/** `/rest/v1/...` → `rest`; anything else → null. */
export function serviceForPath(path: string): ServiceName | null {
  for (const [prefix, name] of SERVICE_PREFIXES) {
    if (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47)) {
      return name;
    }
  }
  return null;
}

export interface UpstreamTarget {
  readonly kind: 'lambda-url' | 'http';
  /** `http://host:port`, the key of the keep-alive pool. */
  readonly origin: string;
  /** `Host` header as signed and sent. */
  readonly host: string;
  /** Path prefix of the upstream URL, without trailing slash ('' for the root). */
  readonly basePath: string;
  readonly region: string;
}

type UpstreamSlot = UpstreamTarget | { readonly kind: 'disallowed'; readonly host: string };

/** Everything the hot path needs about a project, computed once per cache load. */
export class ProjectRuntime {
  readonly ref: string;
  readonly status: string;
  readonly verifier: JwtVerifier | null;
  readonly upstreams = new Map<string, UpstreamSlot>();
  /**
   * Tokens that verified, until they expire (at most five minutes): a user's next request skips the
   * crypto. Made on the first verified token: an LRU preallocates its slots (~0.14 ms and tens of
   * kilobytes for 2 000), which a project reached only with API keys never needs.
   */
  private acceptedTokens: LRUCache<string, { notBefore: number; expiresAt: number }> | null = null;
  /** The HS256 secret, for minting; null when the project has none. */
  readonly jwtSecret: string | null;
  /** The project's request rate limit (all gateway instances together), or null. */
  readonly rateLimit: RateLimit | null;
  /** `record.version` as the rest upstream's X-Supaplane-Config-Version value. */
  readonly configVersion: string;

  constructor(
    readonly record: ProjectRecord,
    isAllowedUpstream: (url: URL) => boolean,
    defaultRegion: string,
    requireHttps = false,
  ) {
    this.ref = record.ref;
    this.status = record.status;
    this.jwtSecret = record.jwtSecret;
    this.rateLimit = record.rateLimit;
    this.configVersion = String(record.version);
    const sharedKeys = record.sharedKeys ?? [];
    const hasKeys = Boolean(record.jwtSecret) || Boolean(record.jwks?.keys.length) || sharedKeys.length > 0;
    this.verifier = hasKeys
      ? createJwtVerifier({
          ...(record.jwtSecret ? { jwtSecret: record.jwtSecret } : {}),
          ...(record.jwks?.keys.length ? { jwks: record.jwks as never } : {}),
          ...(sharedKeys.length ? { sharedKeys } : {}),
        })
      : null;
    for (const [name, upstream] of Object.entries(record.upstreams)) {
      if (!upstream) continue;
      let url: URL;
      try {
        url = new URL(upstream.url);
      } catch {
        this.upstreams.set(name, { kind: 'disallowed', host: '(invalid url)' });
        continue;
      }
      // Function URLs in AWS are HTTPS only; plain HTTP is for in-VPC services and the local emulator.
      const insecureFunctionUrl = upstream.kind === 'lambda-url' && requireHttps && url.protocol !== 'https:';
      if (insecureFunctionUrl || !isAllowedUpstream(url)) {
        this.upstreams.set(name, { kind: 'disallowed', host: url.host });
        continue;
      }
      this.upstreams.set(name, {
        kind: upstream.kind,
        origin: url.origin,
        host: url.host,
        basePath: url.pathname.replace(/\/+$/, ''),
        region: upstream.region ?? defaultRegion,
      });
    }
  }

  /** Verifies a user JWT against this project's keys; successes are remembered until they expire. */
  verifyUserToken(token: string, nowSeconds: number): TokenOutcome | Promise<TokenOutcome> {
    const accepted = this.acceptedTokens?.get(token);
    if (accepted && nowSeconds >= accepted.notBefore && nowSeconds < accepted.expiresAt)
      return TOKEN_ACCEPTED;
    if (!this.verifier) {
      return { ok: false, error: { code: 'PGRST301', message: 'No suitable key or wrong key type' } };
    }
    return this.verifier.verify(token, nowSeconds).then((result): TokenOutcome => {
      if (!result.ok) return result;
      const { exp, nbf } = result.claims;
      this.acceptedTokens ??= new LRUCache({ max: 2_000 });
      this.acceptedTokens.set(token, {
        notBefore: typeof nbf === 'number' ? nbf - CLOCK_SKEW_SECONDS : 0,
        expiresAt: Math.min(
          typeof exp === 'number' ? exp + CLOCK_SKEW_SECONDS : Number.POSITIVE_INFINITY,
          nowSeconds + 300,
        ),
      });
      return TOKEN_ACCEPTED;
    });
  }
}

type TokenOutcome = { readonly ok: true } | { readonly ok: false; readonly error: JwtRejection };
const TOKEN_ACCEPTED: TokenOutcome = { ok: true };
