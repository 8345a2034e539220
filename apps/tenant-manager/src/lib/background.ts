/** What background work (provisioning, cluster deletion) shares: one run per key, and retrying with backoff. */

/** Waits `ms`, or less when `signal` aborts (also when it already has: close() may race the call). */
export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** What {@link within} rejects with when `work` took too long. */
export class TimedOut extends Error {}

/** `work` or a rejection after `ms`, so a hung Redis or cluster never holds a request or a round. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimedOut(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The wait after failed attempt `attempt` (from 0): `backoffMs` doubled each time, at most `maxBackoffMs`. */
export function retryDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  // The exponent is bounded: past 1023, 2 ** attempt is Infinity (and 0 * Infinity is NaN).
  return Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(attempt, 30));
}

/**
 * Runs `attempt` until it answers anything but `retry` (done, or held by another replica's lock), waiting
 * {@link retryDelay} between attempts; stops early once `signal` aborts.
 */
export async function retryUntilSettled(
  signal: AbortSignal,
  backoffMs: number,
  maxBackoffMs: number,
  attempt: () => Promise<'settled' | 'retry' | undefined>,
): Promise<void> {
  for (let n = 0; !signal.aborted; n++) {
    if ((await attempt()) !== 'retry') return;
    await sleep(retryDelay(n, backoffMs, maxBackoffMs), signal);
  }
}

/** One run per key in this process: starting a key already running joins that run. A crash is reported, never thrown. */
export class KeyedRuns {
  readonly #runs = new Map<string, Promise<void>>();

  constructor(private readonly onCrash: (error: unknown, key: string) => void) {}

  start(key: string, run: () => Promise<void>): Promise<void> {
    let running = this.#runs.get(key);
    if (!running) {
      running = run()
        .catch((error) => this.onCrash(error, key))
        .finally(() => this.#runs.delete(key));
      this.#runs.set(key, running);
    }
    return running;
  }

  /** Resolves once every run now in progress has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#runs.values());
  }
}
