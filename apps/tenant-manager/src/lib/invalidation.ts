import type { Redis } from 'ioredis';
import { within } from './background.js';
import type { Clock, Logger } from './context.js';
import type { TenantManagerMetrics } from './metrics.js';

/** Redis channel and gateway cache keys, as pinned in docs/contracts.md ("Invalidation"). */
export const INVALIDATION_CHANNEL = 'supaplane:invalidate';
export const projectCacheKey = (ref: string) => `supaplane:gw:project:${ref}`;
export const apiKeyCacheKey = (hash: string) => `supaplane:gw:key:${hash}`;

export type ProjectReason =
  | 'paused'
  | 'restored'
  | 'pause-failed'
  | 'restore-failed'
  | 'deleted'
  | 'renamed'
  | 'jwt-rotated'
  | 'signing-keys-rotated'
  | 'function-updated'
  | 'limits-updated'
  | 'postgrest-updated'
  | 'created';

export type InvalidationMessage =
  | { kind: 'project'; ref: string; reason: ProjectReason; at: string }
  | { kind: 'api-key'; ref: string; keyHash: string; reason: 'revoked'; at: string };

/** Tells every gateway to forget what it cached about a project or a key. Never throws. */
export interface Invalidator {
  /** `keyHashes`: the project's keys, whose cached records are deleted from Redis too. */
  project(ref: string, reason: ProjectReason, keyHashes?: readonly string[]): Promise<void>;
  apiKey(ref: string, keyHash: string): Promise<void>;
}

export const noopInvalidator: Invalidator = {
  project: async () => {},
  apiKey: async () => {},
};

/**
 * Deletes the gateway cache entries in Redis first, then publishes one message. Each call is bounded
 * by `timeoutMs` so a Redis outage never holds an operator request (or a provisioning run) hostage.
 */
export function createRedisInvalidator(
  redis: Redis,
  clock: Clock,
  log: Logger,
  metrics: Pick<TenantManagerMetrics, 'invalidation'> | null = null,
  timeoutMs = 1_000,
): Invalidator {
  async function deliver(keys: string[], message: InvalidationMessage): Promise<void> {
    if (keys.length > 0) await redis.del(...keys);
    await redis.publish(INVALIDATION_CHANNEL, JSON.stringify(message));
  }
  async function send(keys: string[], message: InvalidationMessage): Promise<void> {
    try {
      await within(timeoutMs, 'redis', deliver(keys, message));
      metrics?.invalidation('published');
    } catch (error) {
      metrics?.invalidation('failed');
      // The change itself is committed; gateways fall back to their TTL. Say so loudly.
      log.warn(
        { err: (error as Error).message, kind: message.kind, ref: message.ref },
        'invalidation not published',
      );
    }
  }
  return {
    project: (ref, reason, keyHashes = []) =>
      send([projectCacheKey(ref), ...keyHashes.map(apiKeyCacheKey)], {
        kind: 'project',
        ref,
        reason,
        at: clock.now().toISOString(),
      }),
    apiKey: (ref, keyHash) =>
      send([apiKeyCacheKey(keyHash)], {
        kind: 'api-key',
        ref,
        keyHash,
        reason: 'revoked',
        at: clock.now().toISOString(),
      }),
  };
}
