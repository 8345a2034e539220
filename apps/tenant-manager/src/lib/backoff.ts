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

/** The wait after failed attempt `attempt` (from 0): `backoffMs` doubled each time, at most `maxBackoffMs`. */
export function retryDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  // The exponent is bounded: past 1023, 2 ** attempt is Infinity (and 0 * Infinity is NaN).
  return Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(attempt, 30));
}
