import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CircuitBreaker } from './circuit-breaker.js';
import type { Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import type { InternalApi, OriginResult } from './internal-api.js';
import type { GatewayMetrics } from './metrics.js';
import { ProjectRuntime } from './project-runtime.js';
import type { ProjectRateLimiter, RateLimit } from './rate-limit.js';
import { type ApiKeyRecord, type ProjectRecord, parseApiKeyRecord, parseProjectRecord } from './records.js';
import { RedisLayer, apiKeyRedisKey, projectRedisKey } from './redis-layer.js';
import { errorSummary } from './request-state.js';
import { TieredCache } from './tiered-cache.js';

interface RegistryCaches {
  /** Project configs by ref, compiled for the request path. */
  readonly projects: TieredCache<ProjectRecord, ProjectRuntime>;
  /** API key records by the hex SHA-256 of the key. */
  readonly keys: TieredCache<ApiKeyRecord, ApiKeyRecord>;
  /** Null without Redis: L1 alone, no invalidations from other instances. */
  readonly redis: RedisLayer | null;
}

/** The parts of the gateway's options (gateway.ts) the caches take, and what they share with it. */
interface RegistryCacheOptions {
  readonly config: GatewayConfig;
  readonly createRedis: (() => Redis) | null;
  readonly internalApi: InternalApi;
  readonly preconnect?: ((origin: string) => void) | null;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly isAllowedUpstream: (url: URL) => boolean;
  /** The projects' own limits: Redis presence tells it how many instances share them. */
  readonly rateLimiter: ProjectRateLimiter;
  /** Per-instance buckets for lookups of what is not cached; the registry's is `*registry`, which no ref can be. */
  readonly lookupBudget: ProjectRateLimiter;
  /** Tenant-manager lookups allowed in all; 0 per second turns the bound off. */
  readonly registryBudget: RateLimit;
}

/**
 * The project and key caches in front of the tenant-manager (L1 → Redis → internal API), with
 * Redis's invalidations and instance presence wired to them.
 */
export function createRegistryCaches(options: RegistryCacheOptions): RegistryCaches {
  const { config, clock, logger, metrics, registryBudget, lookupBudget } = options;
  const preconnect = options.preconnect ?? null;
  let redis: RedisLayer | null = null;
  let lastThrottleLog = 0;
  const common = {
    maxEntries: config.cache.maxEntries,
    freshTtlMs: config.cache.freshTtlMs,
    staleTtlMs: config.cache.staleTtlMs,
    negativeTtlMs: config.cache.negativeTtlMs,
    redisTtlSeconds: config.cache.redisTtlSeconds,
    clock,
  };
  const remote = {
    get: (key: string) => (redis ? redis.get(key) : Promise.resolve(undefined)),
    set: (key: string, value: string, ttl: number) => redis?.set(key, value, ttl),
  };
  // Fail fast while the tenant-manager is down instead of queueing every miss behind its timeout.
  const registryBreaker = new CircuitBreaker({ failureThreshold: 5, openMs: 2_000, clock });
  let lastRegistryErrorLog = 0;
  async function fromRegistry<R>(
    cache: 'project' | 'key',
    load: () => Promise<OriginResult<R>>,
  ): Promise<OriginResult<R>> {
    // Over budget: like an outage for this lookup (a stale entry still serves), but no breaker count.
    // An open breaker already bounds the calls (one trial per interval): no budget is spent then.
    if (
      registryBudget.requestsPerSecond > 0 &&
      !registryBreaker.isOpen &&
      lookupBudget.take('*registry', registryBudget, clock.now()) > 0
    ) {
      const now = clock.now();
      if (now - lastThrottleLog > 5_000) {
        lastThrottleLog = now;
        logger.warn(
          { perSecond: registryBudget.requestsPerSecond },
          'tenant-manager lookups over budget; refusing keys and projects not cached',
        );
      }
      throw new Error('tenant-manager lookup budget spent');
    }
    if (!registryBreaker.allow()) throw new Error('tenant-manager circuit open');
    const started = performance.now();
    try {
      const result = await load();
      registryBreaker.success();
      metrics.registryLookup(
        cache,
        result.found ? 'found' : 'not_found',
        (performance.now() - started) / 1000,
      );
      return result;
    } catch (error) {
      registryBreaker.failure();
      metrics.registryLookup(cache, 'error', (performance.now() - started) / 1000);
      const now = clock.now();
      if (now - lastRegistryErrorLog > 5_000) {
        lastRegistryErrorLog = now;
        logger.warn(
          { err: errorSummary(error) },
          'tenant-manager lookup failed; serving cached entries only',
        );
      }
      throw error;
    }
  }
  const projects = new TieredCache<ProjectRecord, ProjectRuntime>({
    ...common,
    redisKey: projectRedisKey,
    remote: options.createRedis ? remote : null,
    origin: (ref) => fromRegistry('project', () => options.internalApi.projectConfig(ref)),
    parse: parseProjectRecord,
    compile(record) {
      const runtime = new ProjectRuntime(
        record,
        options.isAllowedUpstream,
        config.awsRegion,
        !config.localMode,
      );
      // Only origins that passed the allow-list (a `disallowed` slot has none) are ever dialled.
      const rest = runtime.upstreams.get('rest');
      if (preconnect && rest && rest.kind !== 'disallowed' && runtime.status === 'ACTIVE_HEALTHY') {
        preconnect(rest.origin);
      }
      return runtime;
    },
    observer: { lookup: (layer, result) => metrics.cacheLookup('project', layer, result) },
  });
  const keys = new TieredCache<ApiKeyRecord, ApiKeyRecord>({
    ...common,
    redisKey: apiKeyRedisKey,
    remote: options.createRedis ? remote : null,
    origin: (hash) => fromRegistry('key', () => options.internalApi.apiKey(hash)),
    parse: parseApiKeyRecord,
    compile: (record) => record,
    observer: { lookup: (layer, result) => metrics.cacheLookup('key', layer, result) },
  });

  if (options.createRedis) {
    redis = new RedisLayer({
      createClient: options.createRedis,
      commandTimeoutMs: config.redisCommandTimeoutMs,
      clock,
      logger,
      onInvalidation(message) {
        if (message.kind === 'project') {
          projects.invalidate(message.ref);
          keys.invalidateWhere((key) => key.ref === message.ref);
        } else {
          keys.invalidate(message.keyHash);
        }
        logger.info({ kind: message.kind, ref: message.ref, reason: message.reason }, 'cache invalidated');
      },
      onResubscribed() {
        projects.clear();
        keys.clear();
      },
      presence: {
        instanceId: `${hostname()}:${process.pid}:${randomUUID()}`,
        onInstances(count) {
          options.rateLimiter.setInstances(count);
          metrics.liveInstances(count);
        },
      },
    });
  } else {
    logger.warn('REDIS_URL not set: running on the in-process cache alone (no cross-instance invalidation)');
  }
  return { projects, keys, redis };
}
