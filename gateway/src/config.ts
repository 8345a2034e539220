import type { AwsCredentials } from './sigv4.js';

interface CacheConfig {
  /** Entries per in-process cache (projects, keys). */
  readonly maxEntries: number;
  /** How long an L1 entry is served without asking Redis / the tenant-manager again. */
  readonly freshTtlMs: number;
  /** How long past freshness an entry may still be served while the tenant-manager is down. */
  readonly staleTtlMs: number;
  /** How long "no such key/project" is remembered. */
  readonly negativeTtlMs: number;
  /** TTL of entries written to Redis. */
  readonly redisTtlSeconds: number;
}

export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  /** `<ref>.<baseDomain>` is a project's API host. */
  readonly baseDomain: string;
  /** Local mode: bare-domain requests take their project from the key; static SigV4 credentials. */
  readonly localMode: boolean;
  readonly tenantManagerInternalUrl: string;
  readonly internalServiceToken: string;
  /** Without Redis the gateway runs on its in-process cache alone. */
  readonly redisUrl: string | null;
  readonly awsRegion: string;
  /** Host patterns an upstream URL must match (`*` = one DNS label), e.g. `*.lambda-url.eu-west-1.on.aws`. */
  readonly upstreamHostAllowlist: readonly string[];
  /** Static credentials (local mode); otherwise the AWS default provider chain. */
  readonly staticAwsCredentials: AwsCredentials | null;
  readonly bodyLimitBytes: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamHeadersTimeoutMs: number;
  readonly upstreamBodyTimeoutMs: number;
  readonly internalApiTimeoutMs: number;
  /** Longest a request waits on Redis before going on without it. */
  readonly redisCommandTimeoutMs: number;
  readonly cache: CacheConfig;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /**
   * At `info`, one successful (2xx) request in this many is logged (the first one included);
   * every refusal, error and aborted request is. 1 logs every request, as does `debug`.
   */
  readonly logSampleEvery: number;
  /**
   * A port of its own for Prometheus `/metrics` (the main port then answers 404 there): behind a
   * public load balancer, metrics must not be reachable through it. Null: `/metrics` on the main port.
   */
  readonly metricsPort: number | null;
  /** How often per-project usage counts go to Redis (usage.ts); 0 turns metering off. */
  readonly usageFlushMs: number;
  /**
   * Keys and projects this instance has not cached cost a Redis read and a tenant-manager call, and a
   * key whose checksum passes for any ref is easy to make up: at most this many such keys per project
   * and client address (an IPv6 /64) per second (burst twice that) are looked up, the rest get 429.
   * Per client, so one sending made-up keys never has the project's other clients refused. 0 turns
   * the bound off.
   */
  readonly newKeysPerProjectPerSecond: number;
  /** At most this many tenant-manager lookups per second in all (burst twice that); 0 turns it off. */
  readonly registryLookupsPerSecond: number;
  /**
   * Proxies in front of the gateway that append to `X-Forwarded-For` (the AWS stack: one ALB); their
   * entries are kept, everything the client wrote before them is dropped (client-head.ts).
   */
  readonly trustedProxyHops: number;
}

/** Lambda's synchronous invocation payload limit. */
export const LAMBDA_BODY_LIMIT = 6 * 1024 * 1024;

export class ConfigError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      max === Number.MAX_SAFE_INTEGER
        ? `${name} must be an integer >= ${min}`
        : `${name} must be an integer from ${min} to ${max}`,
    );
  }
  return value;
}

/** Longest delay node's timers take (a longer one fires at once, with only a warning). */
const MAX_MS = 2_147_483_647;
const MAX_PORT = 65_535;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** An allow-list entry: DNS labels, any of which may be `*` (one label). */
const HOST_PATTERN = /^(?:\*|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.(?:\*|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?))*$/;
const REGION = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

const ms = (env: Env, name: string, fallback: number, min = 0) => int(env, name, fallback, min, MAX_MS);

function bool(env: Env, name: string): boolean {
  const value = (env[name] ?? '').toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(`${name} must be true or false`);
}

/** A URL with one of `protocols`; the message never repeats the value, which may hold a password. */
function url(name: string, value: string, protocols: readonly string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')})`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')})`);
  }
  return value;
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${name} is required`);
  return value;
}

/** Parses and validates the gateway's environment once, at the edge of `main`. */
export function loadGatewayConfig(env: Env): GatewayConfig {
  const localMode = bool(env, 'LOCAL_MODE');
  const awsRegion = env.AWS_REGION || (localMode ? 'local' : 'us-east-1');
  if (!REGION.test(awsRegion)) throw new ConfigError('AWS_REGION must be a region name such as eu-west-1');
  const baseDomain = (env.BASE_DOMAIN || (localMode ? 'localhost' : '')).toLowerCase();
  if (!baseDomain) throw new ConfigError('BASE_DOMAIN is required');
  if (!DNS_NAME.test(baseDomain)) {
    throw new ConfigError(
      'BASE_DOMAIN must be a DNS name such as supa.example.com (no scheme, port or path)',
    );
  }
  const tenantManagerInternalUrl = url(
    'TENANT_MANAGER_INTERNAL_URL',
    required(env, 'TENANT_MANAGER_INTERNAL_URL'),
    ['http:', 'https:'],
  );
  const redisUrl = env.REDIS_URL ? url('REDIS_URL', env.REDIS_URL, ['redis:', 'rediss:']) : null;
  const allowlist = (env.UPSTREAM_HOST_ALLOWLIST ?? '')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean);
  if (!allowlist.every((pattern) => HOST_PATTERN.test(pattern))) {
    throw new ConfigError(
      'UPSTREAM_HOST_ALLOWLIST must be a comma-separated list of host names, `*` standing for one label',
    );
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const port = int(env, 'GATEWAY_PORT', 8000, 0, MAX_PORT);
  const metricsPort = env.GATEWAY_METRICS_PORT ? int(env, 'GATEWAY_METRICS_PORT', 0, 0, MAX_PORT) : null;
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) {
    throw new ConfigError('GATEWAY_METRICS_PORT must differ from GATEWAY_PORT');
  }
  const accessKeyId = env.LOCAL_AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.LOCAL_AWS_SECRET_ACCESS_KEY;
  if (localMode && (!accessKeyId || !secretAccessKey)) {
    throw new ConfigError(
      'LOCAL_AWS_ACCESS_KEY_ID and LOCAL_AWS_SECRET_ACCESS_KEY are required in local mode',
    );
  }
  return {
    port,
    host: env.GATEWAY_HOST || (localMode ? '127.0.0.1' : '0.0.0.0'),
    baseDomain,
    localMode,
    tenantManagerInternalUrl,
    internalServiceToken: required(env, 'INTERNAL_SERVICE_TOKEN'),
    redisUrl,
    awsRegion,
    upstreamHostAllowlist: allowlist.length
      ? allowlist
      : [localMode ? '*.lambda-url.*.localhost' : `*.lambda-url.${awsRegion}.on.aws`],
    staticAwsCredentials:
      localMode && accessKeyId && secretAccessKey
        ? { accessKeyId, secretAccessKey, sessionToken: env.LOCAL_AWS_SESSION_TOKEN || undefined }
        : null,
    bodyLimitBytes: int(env, 'GATEWAY_BODY_LIMIT_BYTES', LAMBDA_BODY_LIMIT, 1),
    upstreamConnectTimeoutMs: ms(env, 'GATEWAY_UPSTREAM_CONNECT_TIMEOUT_MS', 3_000, 1),
    upstreamHeadersTimeoutMs: ms(env, 'GATEWAY_UPSTREAM_TIMEOUT_MS', 30_000, 1),
    upstreamBodyTimeoutMs: ms(env, 'GATEWAY_UPSTREAM_BODY_TIMEOUT_MS', 30_000, 1),
    internalApiTimeoutMs: ms(env, 'GATEWAY_INTERNAL_API_TIMEOUT_MS', 2_000, 1),
    redisCommandTimeoutMs: ms(env, 'GATEWAY_REDIS_TIMEOUT_MS', 10, 1),
    cache: {
      maxEntries: int(env, 'GATEWAY_CACHE_MAX_ENTRIES', 50_000, 1),
      freshTtlMs: ms(env, 'GATEWAY_CACHE_TTL_MS', 30_000, 1),
      staleTtlMs: ms(env, 'GATEWAY_CACHE_STALE_MS', 600_000),
      negativeTtlMs: ms(env, 'GATEWAY_CACHE_NEGATIVE_TTL_MS', 5_000),
      redisTtlSeconds: int(env, 'GATEWAY_REDIS_TTL_SECONDS', 300, 1),
    },
    shutdownGraceMs: ms(env, 'GATEWAY_SHUTDOWN_GRACE_MS', 10_000),
    logLevel,
    logSampleEvery: int(env, 'GATEWAY_LOG_SAMPLE_EVERY', 100, 1),
    metricsPort,
    usageFlushMs: ms(env, 'GATEWAY_USAGE_FLUSH_MS', 5_000),
    newKeysPerProjectPerSecond: int(env, 'GATEWAY_NEW_KEYS_PER_PROJECT_PER_SECOND', 20),
    registryLookupsPerSecond: int(env, 'GATEWAY_REGISTRY_LOOKUPS_PER_SECOND', 1_000),
    trustedProxyHops: int(env, 'GATEWAY_TRUSTED_PROXY_HOPS', localMode ? 0 : 1, 0, 10),
  };
}
