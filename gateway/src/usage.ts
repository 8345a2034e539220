import type { Clock } from './clock.js';
import { SERVICE_PREFIXES } from './project-runtime.js';

/**
 * What the gateway counts per project and UTC hour, as Redis hash fields (docs/contracts.md, "Usage"):
 * every request answered for a project, by service and status class, the ones its rate limit refused,
 * and the body bytes that went up to and came back from its services.
 */
export const USAGE_FIELDS = [
  'requests',
  ...SERVICE_PREFIXES.map(([, service]) => service),
  'other',
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'rate_limited',
  'ingress_bytes',
  'egress_bytes',
] as const;
type UsageField = (typeof USAGE_FIELDS)[number];

/** One project's counts for one window, in {@link USAGE_FIELDS} order. */
export type UsageCounts = Float64Array;

const INDEX = new Map<string, number>(USAGE_FIELDS.map((field, i) => [field, i]));
const field = (name: UsageField) => INDEX.get(name)!;
const REQUESTS = field('requests');
const OTHER = field('other');
const STATUS_2XX = field('2xx');
const RATE_LIMITED = field('rate_limited');
const INGRESS = field('ingress_bytes');
const EGRESS = field('egress_bytes');

/** `2026112314` for 14:xx UTC on 23 November 2026: the hour a window's counts are filed under. */
export function usageHour(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
}

const HOUR_MS = 3_600_000;

/** Bytes through a long-lived connection (a WebSocket tunnel), added to by its owner as they flow. */
interface StreamTraffic {
  ingressBytes: number;
  egressBytes: number;
}

/** Where a window's counts go: resolves true once stored, false when they could not be (kept for later). */
type UsageSink = (hour: string, counts: ReadonlyMap<string, UsageCounts>) => Promise<boolean>;

interface UsageMeterOptions {
  readonly sink: UsageSink;
  readonly clock: Clock;
  /** How often the counts go out (also at every hour boundary, so a window never spans two hours). */
  readonly flushEveryMs: number;
}

/**
 * Per-project usage counters. A request costs a clock read, one map lookup and a few additions; the
 * counts go to Redis every `flushEveryMs`, one pipeline for every project seen. Counts that cannot be
 * stored (Redis down) are added to the next window's, so a short outage loses nothing; if the outage
 * spans an hour boundary they are filed under the later hour.
 */
export class UsageMeter {
  private window = new Map<string, UsageCounts>();
  private windowHour = '';
  /** When the current window's hour ends: a request counted from then on opens the next window. */
  private windowEndsAt = 0;
  /** Windows whose hour ended before they could be sent (a late timer, a flush under way). */
  private sealed: Array<[hour: string, counts: Map<string, UsageCounts>]> = [];
  /** Open tunnels and their projects: their bytes so far go into every window as it closes. */
  private readonly streams = new Map<StreamTraffic, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: UsageMeterOptions) {
    this.seal(options.clock.now());
    this.schedule();
  }

  /**
   * One answered request of project `ref`: `service` is its API prefix (`rest`…) or anything else,
   * `rateLimited` when the project's rate limit refused it.
   */
  record(
    ref: string,
    service: string,
    status: number,
    ingressBytes: number,
    egressBytes: number,
    rateLimited: boolean,
  ): void {
    // The hour-boundary flush may run late: what is counted after the boundary is the next hour's.
    const now = this.options.clock.now();
    if (now >= this.windowEndsAt) this.seal(now);
    const counts = this.countsOf(ref);
    counts[REQUESTS]!++;
    counts[INDEX.get(service) ?? OTHER]!++;
    const statusClass = Math.floor(status / 100);
    if (statusClass >= 2 && statusClass <= 5) counts[STATUS_2XX + statusClass - 2]!++;
    if (rateLimited) counts[RATE_LIMITED]!++;
    counts[INGRESS]! += ingressBytes;
    counts[EGRESS]! += egressBytes;
  }

  /**
   * A connection of project `ref` that stays open across windows (a WebSocket tunnel, counted as one
   * request by `record` when it closes): what `traffic` counted is moved into each window as it closes
   * (and the counters zeroed), so its bytes are filed under the hour they went through, not the hour it
   * ends in. Call the function returned once `record` took the rest.
   */
  track(ref: string, traffic: StreamTraffic): () => void {
    this.streams.set(traffic, ref);
    return () => this.streams.delete(traffic);
  }

  /** Sends the current window now (tests, shutdown); resolves when it is stored or kept for later. */
  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops the timer and sends what is left. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    // A flush under way sends an earlier window, not what was counted since.
    await this.flushing;
    await this.flush();
  }

  private async send(): Promise<void> {
    this.seal(this.options.clock.now());
    const windows = this.sealed;
    this.sealed = [];
    for (const [hour, counts] of windows) {
      let stored = false;
      try {
        stored = await this.options.sink(hour, counts);
      } catch {
        stored = false;
      }
      if (!stored) this.keep(counts);
    }
  }

  /** Closes the current window (kept for the next send, if it counted anything) and opens one for `now`'s hour. */
  private seal(now: number): void {
    for (const [traffic, ref] of this.streams) {
      if (traffic.ingressBytes === 0 && traffic.egressBytes === 0) continue;
      const counts = this.countsOf(ref);
      counts[INGRESS]! += traffic.ingressBytes;
      counts[EGRESS]! += traffic.egressBytes;
      traffic.ingressBytes = 0;
      traffic.egressBytes = 0;
    }
    if (this.window.size > 0) this.sealed.push([this.windowHour, this.window]);
    this.window = new Map();
    this.windowHour = usageHour(now);
    this.windowEndsAt = now - (now % HOUR_MS) + HOUR_MS;
  }

  private countsOf(ref: string): UsageCounts {
    let counts = this.window.get(ref);
    if (!counts) {
      counts = new Float64Array(USAGE_FIELDS.length);
      this.window.set(ref, counts);
    }
    return counts;
  }

  /** Adds counts that could not be stored to the current window. */
  private keep(counts: ReadonlyMap<string, UsageCounts>): void {
    for (const [ref, old] of counts) {
      const current = this.window.get(ref);
      if (!current) this.window.set(ref, old);
      else for (let i = 0; i < current.length; i++) current[i]! += old[i] ?? 0;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    const now = this.options.clock.now();
    const toNextHour = HOUR_MS - (now % HOUR_MS);
    this.timer = setTimeout(
      () => {
        void this.flush().then(() => this.schedule());
      },
      Math.min(this.options.flushEveryMs, toNextHour + 1),
    );
    this.timer.unref();
  }
}
