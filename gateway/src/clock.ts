/** Wall-clock milliseconds; injected so caches and token reuse can be tested. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
