import { describe, expect, it } from 'vitest';
import { refreshingCredentials } from './credentials.js';
import type { AwsCredentials } from './sigv4.js';

describe('refreshing credentials', () => {
  it('caches the set, refreshes in the background near expiry and waits only when it is about to lapse', async () => {
    let now = 1_000_000;
    let calls = 0;
    const provider = async (): Promise<AwsCredentials> => {
      calls++;
      return {
        accessKeyId: `AKID${calls}`,
        secretAccessKey: 's',
        sessionToken: `token-${calls}`,
        expiration: new Date(now + 60 * 60_000),
      };
    };
    const source = refreshingCredentials(provider, { now: () => now });
    const first = await source.current();
    expect(first.accessKeyId).toBe('AKID1');
    expect(source.current()).toBe(first); // synchronous while valid
    now += 56 * 60_000; // inside the 5-minute refresh window: old set served, new one fetched
    expect(source.current()).toBe(first);
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(2);
    expect((source.current() as AwsCredentials).accessKeyId).toBe('AKID2');
    now += 60 * 60_000 - 10_000; // 10 s before expiry: must wait for a fresh set
    const third = source.current();
    expect(third).toBeInstanceOf(Promise);
    expect((await third).accessKeyId).toBe('AKID3');
  });
});
