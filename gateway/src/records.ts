import { parseSharedKeys, type SharedKey } from '@supaplane/jwt';
import type { RateLimit } from './rate-limit.js';

/** Shapes of the tenant-manager internal API (docs/contracts.md), validated on the way in. */

export interface UpstreamRecord {
  readonly kind: 'lambda-url' | 'http';
  readonly url: string;
  readonly region?: string;
}

export interface ProjectRecord {
  readonly ref: string;
  readonly status: string;
  readonly jwtSecret: string | null;
  readonly jwks: { readonly keys: readonly Record<string, unknown>[] } | null;
  /**
   * HS256 signing keys not revoked (`kid`, secret): for verifying only, never published. Always set
   * by {@link parseProjectRecord} (empty from a tenant-manager that sends none).
   */
  readonly sharedKeys?: readonly SharedKey[];
  readonly upstreams: Readonly<Record<string, UpstreamRecord | null>>;
  /** Requests per second across all gateway instances; null when the project has no limit. */
  readonly rateLimit: RateLimit | null;
  readonly version: number;
}

export interface ApiKeyRecord {
  readonly ref: string;
  readonly keyId: string;
  readonly type: 'publishable' | 'secret';
  readonly role: string;
  readonly status: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseProjectRecord(value: unknown): ProjectRecord | null {
  if (!isObject(value)) return null;
  const { ref, status, jwtSecret, jwks, upstreams, rateLimit, version } = value;
  if (typeof ref !== 'string' || typeof status !== 'string') return null;
  if (jwtSecret !== null && jwtSecret !== undefined && typeof jwtSecret !== 'string') return null;
  if (jwks !== null && jwks !== undefined && !(isObject(jwks) && Array.isArray(jwks.keys))) return null;
  const sharedKeys = parseSharedKeys(value.sharedKeys);
  if (!sharedKeys) return null;
  const parsedUpstreams: Record<string, UpstreamRecord | null> = {};
  if (upstreams !== undefined && upstreams !== null) {
    if (!isObject(upstreams)) return null;
    for (const [name, upstream] of Object.entries(upstreams)) {
      if (upstream === null) {
        parsedUpstreams[name] = null;
        continue;
      }
      if (!isObject(upstream) || typeof upstream.url !== 'string') return null;
      if (upstream.kind !== 'lambda-url' && upstream.kind !== 'http') return null;
      if (upstream.region !== undefined && typeof upstream.region !== 'string') return null;
      parsedUpstreams[name] = {
        kind: upstream.kind,
        url: upstream.url,
        ...(typeof upstream.region === 'string' ? { region: upstream.region } : {}),
      };
    }
  }
  let parsedRateLimit: RateLimit | null = null;
  if (rateLimit !== undefined && rateLimit !== null) {
    if (!isObject(rateLimit)) return null;
    const { requestsPerSecond, burst } = rateLimit;
    const positive = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
    if (!positive(requestsPerSecond) || (burst !== undefined && !positive(burst))) return null;
    parsedRateLimit = { requestsPerSecond, burst: Math.max(requestsPerSecond, burst ?? requestsPerSecond) };
  }
  return {
    ref,
    status,
    jwtSecret: typeof jwtSecret === 'string' && jwtSecret ? jwtSecret : null,
    jwks: isObject(jwks) ? (jwks as unknown as ProjectRecord['jwks']) : null,
    sharedKeys,
    upstreams: parsedUpstreams,
    rateLimit: parsedRateLimit,
    version: typeof version === 'number' ? version : 0,
  };
}

export function parseApiKeyRecord(value: unknown): ApiKeyRecord | null {
  if (!isObject(value)) return null;
  const { ref, keyId, type, role, status } = value;
  if (typeof ref !== 'string' || typeof role !== 'string' || typeof status !== 'string') return null;
  if (type !== 'publishable' && type !== 'secret') return null;
  return { ref, keyId: typeof keyId === 'string' ? keyId : '', type, role, status };
}
