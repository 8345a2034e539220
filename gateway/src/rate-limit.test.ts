import { describe, expect, it } from 'vitest';
import { ProjectRateLimiter } from './rate-limit.js';
import { parseProjectRecord } from './records.js';

const drain = (
  limiter: ProjectRateLimiter,
  ref: string,
  limit: { requestsPerSecond: number; burst: number },
  now: number,
) => {
  let passed = 0;
  while (limiter.take(ref, limit, now) === 0) passed++;
  return passed;
};

describe('ProjectRateLimiter', () => {
  it('lets a burst through, then answers how long until the next token', () => {
    const limiter = new ProjectRateLimiter();
    const limit = { requestsPerSecond: 10, burst: 3 };
    expect(drain(limiter, 'a', limit, 1_000)).toBe(3);
    // One token every 100 ms.
    expect(limiter.take('a', limit, 1_000)).toBe(100);
    expect(limiter.take('a', limit, 1_040)).toBe(60);
    expect(limiter.take('a', limit, 1_100)).toBe(0);
    expect(limiter.take('a', limit, 1_100)).toBe(100);
  });

  it('refills at the rate up to the burst, never beyond', () => {
    const limiter = new ProjectRateLimiter();
    const limit = { requestsPerSecond: 5, burst: 2 };
    expect(drain(limiter, 'a', limit, 0)).toBe(2);
    expect(drain(limiter, 'a', limit, 200)).toBe(1);
    expect(drain(limiter, 'a', limit, 60_000)).toBe(2);
  });

  it('keeps one bucket per project', () => {
    const limiter = new ProjectRateLimiter();
    const limit = { requestsPerSecond: 1, burst: 1 };
    expect(limiter.take('a', limit, 0)).toBe(0);
    expect(limiter.take('a', limit, 0)).toBeGreaterThan(0);
    expect(limiter.take('b', limit, 0)).toBe(0);
  });

  it('enforces this instance’s share when several gateways split the traffic', () => {
    const limiter = new ProjectRateLimiter();
    limiter.setInstances(4);
    const limit = { requestsPerSecond: 8, burst: 8 };
    expect(drain(limiter, 'a', limit, 0)).toBe(2);
    // 2 requests per second on this instance: the next token in 500 ms.
    expect(limiter.take('a', limit, 0)).toBe(500);
    // A share below one request still lets one through.
    expect(drain(limiter, 'b', { requestsPerSecond: 1, burst: 1 }, 0)).toBe(1);
    limiter.setInstances(0);
    expect(limiter.instanceCount).toBe(1);
  });

  it('applies a changed limit at once, starting from a full burst', () => {
    const limiter = new ProjectRateLimiter();
    expect(drain(limiter, 'a', { requestsPerSecond: 1, burst: 1 }, 0)).toBe(1);
    expect(drain(limiter, 'a', { requestsPerSecond: 1, burst: 5 }, 0)).toBe(5);
    expect(drain(limiter, 'a', { requestsPerSecond: 1, burst: 2 }, 0)).toBe(2);
    // The same limit again (a reloaded config) grants nothing new.
    expect(drain(limiter, 'a', { requestsPerSecond: 1, burst: 2 }, 0)).toBe(0);
  });

  it('clamps a bucket to the smaller share when more instances join', () => {
    const limiter = new ProjectRateLimiter();
    const limit = { requestsPerSecond: 1, burst: 10 };
    expect(limiter.take('a', limit, 0)).toBe(0);
    limiter.setInstances(5);
    expect(drain(limiter, 'a', limit, 0)).toBe(2);
  });

  it('stays bounded, forgetting idle projects first', () => {
    const limiter = new ProjectRateLimiter();
    const limit = { requestsPerSecond: 1, burst: 1 };
    limiter.take('busy', limit, 0);
    for (let i = 0; i < 10_000; i++) limiter.take(`idle-${i}`, limit, 0);
    // 'busy' was the oldest bucket and so the first to go when room was needed at t=0...
    expect(limiter.take('busy', limit, 0)).toBe(0);
    limiter.take('busy', limit, 70_000);
    // ...and after a minute every idle bucket goes, while 'busy' (used just now) stays empty.
    limiter.take('newcomer', limit, 70_000);
    expect(limiter.take('busy', limit, 70_000)).toBeGreaterThan(0);
  });
});

describe('rateLimit in the project config', () => {
  const record = (rateLimit: unknown) =>
    parseProjectRecord({ ref: 'abcdefghijklmnopqrst', status: 'ACTIVE_HEALTHY', upstreams: {}, rateLimit });

  it('is read as requests per second and burst, the burst at least the rate', () => {
    expect(record({ requestsPerSecond: 100, burst: 250 })?.rateLimit).toEqual({
      requestsPerSecond: 100,
      burst: 250,
    });
    expect(record({ requestsPerSecond: 100 })?.rateLimit).toEqual({ requestsPerSecond: 100, burst: 100 });
    expect(record({ requestsPerSecond: 100, burst: 10 })?.rateLimit).toEqual({
      requestsPerSecond: 100,
      burst: 100,
    });
    expect(record(null)?.rateLimit).toBeNull();
    expect(record(undefined)?.rateLimit).toBeNull();
  });

  it('makes the whole record invalid when malformed, rather than silently unlimited', () => {
    for (const bad of [
      {},
      { requestsPerSecond: 0 },
      { requestsPerSecond: '10' },
      { requestsPerSecond: 5, burst: -1 },
      7,
    ]) {
      expect(record(bad)).toBeNull();
    }
  });
});
