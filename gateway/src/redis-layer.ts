import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CircuitBreaker } from './circuit-breaker.js';
import type { Clock } from './clock.js';
import type { RemoteCache } from './tiered-cache.js';
import { USAGE_FIELDS, type UsageCounts } from './usage.js';

export const INVALIDATION_CHANNEL = 'supaplane:invalidate';
export const projectRedisKey = (ref: string) => `supaplane:gw:project:${ref}`;
export const apiKeyRedisKey = (hash: string) => `supaplane:gw:key:${hash}`;
/**
 * A project's usage counts for one UTC hour (`2026112314`) or day (`20261123`), and that hour's or
 * day's projects ranked by requests (docs/contracts.md, "Usage counters"). The ranking is outside
 * `supaplane:usage:`, where a project named `top` would share its key.
 */
export const usageRedisKey = (ref: string, period: string) => `supaplane:usage:${ref}:${period}`;
export const usageTopRedisKey = (period: string) => `supaplane:usage-top:${period}`;
/** Hourly counts are kept 8 days after their last write, daily ones 35 days. */
const USAGE_HOURLY_TTL_SECONDS = 8 * 24 * 3600;
const USAGE_DAILY_TTL_SECONDS = 35 * 24 * 3600;
/** Longest a usage write may take before its counts are given up (they may have been stored). */
const USAGE_WRITE_TIMEOUT_MS = 5_000;
/** Sorted set of live gateway instances, scored by their last heartbeat (ms). */
const INSTANCES_KEY = 'supaplane:gw:instances';
/** How often an instance reports itself, and after how long without a report it no longer counts. */
const PRESENCE_EVERY_MS = 2_000;
const PRESENCE_TTL_MS = 3 * PRESENCE_EVERY_MS;
/**
 * Records this instance at Redis's own time (so clock skew between gateway hosts cannot drop or keep
 * instances wrongly), forgets instances silent for the TTL and answers how many are left.
 */
const PRESENCE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
`;

export type Invalidation =
  | { kind: 'project'; ref: string; reason: string }
  | { kind: 'api-key'; ref: string; keyHash: string; reason: string };

function parseInvalidation(raw: string): Invalidation | null {
  try {
    const message = JSON.parse(raw) as Record<string, unknown>;
    if (typeof message.ref !== 'string' || typeof message.reason !== 'string') return null;
    if (message.kind === 'project') return { kind: 'project', ref: message.ref, reason: message.reason };
    if (message.kind === 'api-key' && typeof message.keyHash === 'string') {
      return { kind: 'api-key', ref: message.ref, keyHash: message.keyHash, reason: message.reason };
    }
    return null;
  } catch {
    return null;
  }
}

interface RedisLayerOptions {
  readonly createClient: () => Redis;
  readonly commandTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called for every invalidation message. */
  readonly onInvalidation: (message: Invalidation) => void;
  /** Called when the subscription comes back after a disconnect: messages may have been missed. */
  readonly onResubscribed: () => void;
  /**
   * With an id, the layer reports this instance in {@link INSTANCES_KEY} every
   * {@link PRESENCE_EVERY_MS} and calls `onInstances` with the number of live instances.
   */
  readonly presence?: { readonly instanceId: string; readonly onInstances: (count: number) => void };
}

/**
 * Redis as the shared cache and the invalidation bus. Every read is bounded by a few milliseconds
 * and guarded by a circuit breaker, so a dead Redis costs the hot path nothing; ioredis reconnects
 * on its own and the breaker lets traffic back in once a trial read succeeds.
 */
export class RedisLayer implements RemoteCache {
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly breaker: CircuitBreaker;
  private subscribedOnce = false;
  private lostSubscription = false;
  private lastErrorLog = 0;
  private batch: Array<{ key: string; resolve: (value: string | null | undefined) => void }> = [];
  private presenceTimer: NodeJS.Timeout | null = null;
  private presenceInFlight = false;

  constructor(private readonly options: RedisLayerOptions) {
    this.breaker = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, clock: options.clock });
    this.client = options.createClient();
    this.subscriber = options.createClient();
    this.client.on('error', (error) => this.logError('redis', error));
    this.subscriber.on('error', (error) => this.logError('redis subscriber', error));
    this.subscriber.on('close', () => {
      if (this.subscribedOnce) this.lostSubscription = true;
    });
    this.subscriber.on('ready', () => {
      if (this.lostSubscription) {
        this.lostSubscription = false;
        options.logger.warn(
          'redis subscription restored; dropping in-process cache entries that may be stale',
        );
        options.onResubscribed();
      }
    });
    this.subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== INVALIDATION_CHANNEL) return;
      const message = parseInvalidation(raw);
      if (!message) {
        options.logger.warn('ignored malformed invalidation message');
        return;
      }
      this.handleInvalidation(message);
    });
    this.subscriber.subscribe(INVALIDATION_CHANNEL).then(
      () => {
        this.subscribedOnce = true;
      },
      (error: Error) => this.logError('redis subscribe', error),
    );
    if (options.presence) {
      const presence = options.presence;
      this.client.on('ready', () => void this.reportPresence(presence));
      this.presenceTimer = setInterval(() => void this.reportPresence(presence), PRESENCE_EVERY_MS);
      this.presenceTimer.unref();
    }
  }

  /**
   * Reads issued in the same tick (a request that misses both the key record and the project
   * config) go out as one MGET: a miss costs one Redis round trip, however many layers ask.
   */
  get(key: string): Promise<string | null | undefined> {
    if (this.client.status !== 'ready' || !this.breaker.allow()) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.batch.push({ key, resolve });
      if (this.batch.length === 1) queueMicrotask(this.flush);
    });
  }

  private readonly flush = (): void => {
    const batch = this.batch;
    this.batch = [];
    const read: Promise<Array<string | null>> =
      batch.length === 1
        ? this.client.get(batch[0]!.key).then((value) => [value])
        : this.client.mget(batch.map((one) => one.key));
    orAfter(read, this.options.commandTimeoutMs, undefined).then(
      (values) => {
        if (values === undefined) this.breaker.failure();
        else this.breaker.success();
        for (let i = 0; i < batch.length; i++)
          batch[i]!.resolve(values === undefined ? undefined : values[i]);
      },
      () => {
        this.breaker.failure();
        for (const one of batch) one.resolve(undefined);
      },
    );
    // A read that lost the race must not surface as an unhandled rejection later.
    read.catch(() => undefined);
  };

  set(key: string, value: string, ttlSeconds: number): void {
    if (this.client.status !== 'ready' || this.breaker.isOpen) return;
    this.client.set(key, value, 'EX', ttlSeconds).catch(() => this.breaker.failure());
  }

  /**
   * Adds one window of usage counts (usage.ts) to the hour's and the day's hashes and rankings, in one
   * MULTI. False when Redis is out of reach or refused the MULTI (nothing of it ran): the meter keeps
   * the counts for the next window. Once EXEC ran, the window is done even if Redis refused some of its
   * commands (it does not roll the others back): sending it again would count those twice. A write
   * that does not answer in time is given up and logged, not retried, so a slow Redis can lose a
   * window's counts but never count them twice.
   */
  async addUsage(hour: string, counts: ReadonlyMap<string, UsageCounts>): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    const pipeline = this.client.multi();
    const periods: Array<[string, number]> = [
      [hour, USAGE_HOURLY_TTL_SECONDS],
      [hour.slice(0, 8), USAGE_DAILY_TTL_SECONDS],
    ];
    for (const [period, ttl] of periods) {
      const top = usageTopRedisKey(period);
      for (const [ref, values] of counts) {
        const key = usageRedisKey(ref, period);
        for (let i = 0; i < USAGE_FIELDS.length; i++) {
          if (values[i]! > 0) pipeline.hincrby(key, USAGE_FIELDS[i]!, values[i]!);
        }
        pipeline.expire(key, ttl);
        pipeline.zincrby(top, values[0]!, ref);
      }
      pipeline.expire(top, ttl);
    }
    try {
      const results = await orAfter(pipeline.exec(), USAGE_WRITE_TIMEOUT_MS, 'timeout' as const);
      if (results === 'timeout') {
        this.options.logger.warn({ projects: counts.size, hour }, 'usage write timed out; counts dropped');
        return true;
      }
      if (!results) return false;
      const refused = results.find(([error]) => error !== null)?.[0];
      if (refused) {
        this.options.logger.warn(
          { projects: counts.size, hour, err: refused.message },
          'redis refused part of a usage write; those counts are lost',
        );
      }
      return true;
    } catch {
      return false;
    }
  }

  async ping(): Promise<boolean> {
    if (this.client.status !== 'ready') return false;
    try {
      return (await orAfter(this.client.ping(), 500, 'timeout')) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Reports this instance alive and passes on how many are (skipped while Redis is out of reach). */
  private async reportPresence(presence: NonNullable<RedisLayerOptions['presence']>): Promise<void> {
    if (this.client.status !== 'ready' || this.presenceInFlight) return;
    this.presenceInFlight = true;
    try {
      const count = await this.client.eval(
        PRESENCE_SCRIPT,
        1,
        INSTANCES_KEY,
        presence.instanceId,
        PRESENCE_TTL_MS,
      );
      if (typeof count === 'number' && count > 0) presence.onInstances(count);
    } catch {
      // Redis errors are logged by the client's error handler; the last count stays in force.
    } finally {
      this.presenceInFlight = false;
    }
  }

  async close(): Promise<void> {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    const presence = this.options.presence;
    if (presence && this.client.status === 'ready') {
      // Leave at once, so the other instances take over this one's share on their next report.
      await orAfter(
        this.client.zrem(INSTANCES_KEY, presence.instanceId).catch(() => undefined),
        200,
        undefined,
      );
    }
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  private handleInvalidation(message: Invalidation): void {
    this.options.onInvalidation(message);
    // Deleting again is idempotent and makes a missed DEL by the publisher harmless.
    const key = message.kind === 'api-key' ? apiKeyRedisKey(message.keyHash) : projectRedisKey(message.ref);
    if (this.client.status === 'ready') this.client.del(key).catch(() => this.breaker.failure());
  }

  private logError(source: string, error: Error): void {
    const now = this.options.clock.now();
    if (now - this.lastErrorLog < 5_000) return;
    this.lastErrorLog = now;
    this.options.logger.warn(
      { err: { message: error.message } },
      `${source} unavailable; serving from in-process cache`,
    );
  }
}

/** `work`'s outcome, or `fallback` once `ms` have passed without one (a slow Redis never holds the caller). */
function orAfter<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const given = new Promise<F>((resolve) => {
    timer = setTimeout(resolve, ms, fallback);
  });
  return Promise.race([work, given]).finally(() => clearTimeout(timer));
}
