/** A project's request rate limit, as the tenant-manager sets it (docs/contracts.md). */
export interface RateLimit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

interface Bucket {
  tokens: number;
  /** Clock milliseconds of the last refill. */
  at: number;
  /** The limit the bucket was filled for: a changed limit starts a full bucket. */
  requestsPerSecond: number;
  burst: number;
}

/** Buckets kept at most; beyond it, buckets idle for {@link IDLE_MS} go first, then the oldest. */
const MAX_BUCKETS = 10_000;
/** A bucket untouched this long is forgotten when room is needed (it has refilled for any sane limit). */
const IDLE_MS = 60_000;

/**
 * Per-project token buckets. Every gateway instance enforces its share of a project's limit:
 * `requestsPerSecond / instances` with a burst of `burst / instances` (at least one request), where
 * `instances` is the number of live gateways the shared Redis reports (1 without Redis). Behind a
 * load balancer that spreads connections evenly this approximates the project-wide limit without a
 * Redis round trip per request.
 */
export class ProjectRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private instances = 1;

  /** The number of live gateway instances sharing each project's limit. */
  setInstances(count: number): void {
    this.instances = Math.max(1, Math.floor(count));
  }

  get instanceCount(): number {
    return this.instances;
  }

  /**
   * Takes one request from `ref`'s bucket at `now` (ms). Returns 0 when the request may pass, else
   * the milliseconds until a token is available.
   */
  take(ref: string, limit: RateLimit, now: number): number {
    const rate = limit.requestsPerSecond / this.instances / 1000;
    const capacity = Math.max(1, limit.burst / this.instances);
    let bucket = this.buckets.get(ref);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.prune(now);
      bucket = { tokens: capacity, at: now, requestsPerSecond: limit.requestsPerSecond, burst: limit.burst };
      this.buckets.set(ref, bucket);
    } else if (bucket.requestsPerSecond !== limit.requestsPerSecond || bucket.burst !== limit.burst) {
      // The operator changed the limit: it applies from now on, with a full burst.
      bucket.requestsPerSecond = limit.requestsPerSecond;
      bucket.burst = limit.burst;
      bucket.tokens = capacity;
      bucket.at = now;
    } else if (now > bucket.at) {
      bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * rate);
      bucket.at = now;
    } else if (bucket.tokens > capacity) {
      bucket.tokens = capacity; // more instances share the limit now
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / rate);
  }

  private prune(now: number): void {
    for (const [ref, bucket] of this.buckets) {
      if (now - bucket.at >= IDLE_MS) this.buckets.delete(ref);
    }
    if (this.buckets.size >= MAX_BUCKETS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}
