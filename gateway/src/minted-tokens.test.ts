import { mintHs256 } from '@supaplane/jwt';
import { describe, expect, it } from 'vitest';
import { MintedTokenCache, mintHs256Sync } from './minted-tokens.js';

const SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';

describe('minted tokens', () => {
  it('are byte for byte the tokens @supaplane/jwt (jose) mints', async () => {
    for (const [ref, role, secret] of [
      ['abcdefghijklmnopqrst', 'anon', SECRET],
      ['zyxwvutsrqponmlkjihg', 'service_role', 'ünïcode sécret ✓ with "quotes"'],
    ] as const) {
      const reference = await mintHs256(new TextEncoder().encode(secret), {
        ref,
        role,
        issuedAt: 1_790_000_000,
        ttlSeconds: 300,
      });
      expect(mintHs256Sync(secret, ref, role, 1_790_000_000, 300)).toBe(reference);
    }
  });

  it('reuses a token per ref and role until a minute before expiry, and never across secrets', () => {
    const cache = new MintedTokenCache(100);
    const t0 = 1_790_000_000_000;
    const first = cache.tokenFor('abcdefghijklmnopqrst', 'anon', SECRET, t0);
    expect(cache.bearerFor('abcdefghijklmnopqrst', 'anon', SECRET, t0 + 239_000)).toBe(`Bearer ${first}`);
    expect(cache.tokenFor('abcdefghijklmnopqrst', 'service_role', SECRET, t0)).not.toBe(first);
    expect(cache.tokenFor('abcdefghijklmnopqrst', 'anon', `${SECRET}-rotated`, t0)).not.toBe(first);
    const renewed = cache.tokenFor('abcdefghijklmnopqrst', 'anon', SECRET, t0 + 240_000);
    expect(renewed).not.toBe(first);
    const claims = JSON.parse(Buffer.from(renewed.split('.')[1]!, 'base64url').toString());
    expect(claims).toEqual({
      iss: 'supabase',
      ref: 'abcdefghijklmnopqrst',
      role: 'anon',
      iat: 1_790_000_240,
      exp: 1_790_000_540,
    });
  });
});
