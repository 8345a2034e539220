import type { Redis } from 'ioredis';
import { within } from './background.js';
import type { Clock, Logger } from './context.js';
import type { TenantManagerMetrics } from './metrics.js';
import { livePeriods, usageKey, usageTopKey } from './usage.js';

/** Redis channel and gateway cache keys, as pinned in docs/contracts.md ("Invalidation"). */
export const INVALIDATION_CHANNEL = 'supaplane:invalidate';
export const projectCacheKey = (ref: string) => `supaplane:gw:project:${ref}`;
export const apiKeyCacheKey = (hash: string) => `supaplane:gw:key:${hash}`;

type ProjectReason =
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

type InvalidationMessage =
  | { kind: 'project'; ref: string; reason: ProjectReason; at: string }
  | { kind: 'api-key'; ref: string; keyHash: string; reason: 'revoked'; at: string };

/** Tells every gateway to forget what it cached about a project or a key. Never throws. */
export interface Invalidator {
  /** `keyHashes`: the project's keys, whose cached records are deleted from Redis too. */
  project(ref: string, reason: ProjectReason, keyHashes?: readonly string[]): Promise<void>;
  apiKey(ref: string, keyHash: string): Promise<void>;
  /**
   * Deletes what the gateways counted for the ref (its usage hashes, its place in the rankings): on
   * delete (`removed`), and again when the ref next becomes ACTIVE_HEALTHY. A gateway may flush counts
   * of requests it served just before the delete after it (every 5 s by default): after a delete a
   * second sweep follows a while later, unless the ref is activated first (its counts are then the new
   * project's). A ref made again never shows the old one's use.
   */
  forgetUsage(ref: string, removed: boolean): Promise<void>;
  /** Cancels sweeps still to come (the app is closing). */
  close(): void;
}

export const noopInvalidator: Invalidator = {
  project: async () => {},
  apiKey: async () => {},
  forgetUsage: async () => {},
  close: () => {},
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
  /** When the second sweep of a removed ref's usage runs: past a gateway's flush (5 s) and its write. */
  usageSweepDelayMs = 15_000,
): Invalidator {
  const sweeps = new Map<string, NodeJS.Timeout>();
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
  async function forgetUsage(ref: string): Promise<void> {
    // Every counter and ranking the gateways may still hold, by name: no scan of the keyspace, which
    // on a platform of many projects would take longer than the sweep may.
    const periods = livePeriods(clock.now());
    const pipeline = redis.pipeline();
    pipeline.del(...periods.map((period) => usageKey(ref, period)));
    for (const period of periods) pipeline.zrem(usageTopKey(period), ref);
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
  }
  async function sweepUsage(ref: string): Promise<void> {
    try {
      // About 270 deletes in one pipeline: longer than one delete and publish may take.
      await within(timeoutMs * 5, 'redis', forgetUsage(ref));
    } catch (error) {
      // Counters expire on their own (8 and 35 days); the ref's next activation sweeps them too.
      log.warn({ err: (error as Error).message, ref }, 'usage counters of a removed project not deleted');
    }
  }
  return {
    async forgetUsage(ref, removed) {
      clearTimeout(sweeps.get(ref));
      sweeps.delete(ref);
      await sweepUsage(ref);
      if (!removed) return;
      const later = setTimeout(() => {
        sweeps.delete(ref);
        void sweepUsage(ref);
      }, usageSweepDelayMs);
      later.unref();
      sweeps.set(ref, later);
    },
    close() {
      for (const sweep of sweeps.values()) clearTimeout(sweep);
      sweeps.clear();
    },
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
