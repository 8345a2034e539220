/**
 * Backoff on AWS throttling and bounded polling, with an injectable sleep so tests run instantly, and
 * the not-found answer taken as done.
 */

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryPolicy {
  /** Total attempts, first included. Default 6. */
  readonly attempts?: number;
  /** First delay; doubles each attempt, with ±20% jitter, capped at `maxDelayMs`. Defaults 200 and 5000. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

const THROTTLING = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);

/** The `name` of an AWS SDK v3 error (its exception type), or undefined. */
export const errorName = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;

const isThrottling = (error: unknown): boolean => THROTTLING.has(errorName(error) ?? '');

/**
 * Runs `call` and answers its result; AWS answering that its resource does not exist (already gone,
 * or never made) answers undefined instead.
 */
export async function ignoreNotFound<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (errorName(error) !== 'ResourceNotFoundException') throw error;
    return undefined;
  }
}

/** Runs `call`, retrying with exponential backoff while AWS answers with a throttling error. */
export async function withThrottlingRetry<T>(
  call: () => Promise<T>,
  sleep: Sleep,
  policy: RetryPolicy = {},
): Promise<T> {
  const attempts = policy.attempts ?? 6;
  const base = policy.baseDelayMs ?? 200;
  const max = policy.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isThrottling(error) || attempt >= attempts) throw error;
      const delay = Math.min(max, base * 2 ** (attempt - 1));
      await sleep(Math.round(delay * (0.8 + Math.random() * 0.4)));
    }
  }
}

export interface PollPolicy {
  readonly intervalMs: number;
  /** Checks before giving up. */
  readonly maxChecks: number;
}

/** What {@link pollUntil} throws when its checks ran out (any other error is the check's own). */
export class PollTimeout extends Error {
  override name = 'PollTimeout';
}

/** Calls `check` until it returns a value, sleeping `intervalMs` between checks; throws after `maxChecks`. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  sleep: Sleep,
  policy: PollPolicy,
): Promise<T> {
  for (let i = 1; i <= policy.maxChecks; i++) {
    const value = await check();
    if (value !== undefined) return value;
    if (i < policy.maxChecks) await sleep(policy.intervalMs);
  }
  throw new PollTimeout(
    `timed out waiting for ${what} (${policy.maxChecks} checks, ${policy.intervalMs} ms apart)`,
  );
}
