import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, maskApiKey, parseApiKey, verifyApiKey } from './api-key.js';

describe('api keys', () => {
  it('round-trips many random keys of both types', () => {
    for (let i = 0; i < 500; i++) {
      const type = i % 2 ? 'secret' : 'publishable';
      const key = generateApiKey('abcdefghijklmnopqrst', type);
      expect(key.startsWith(type === 'secret' ? 'sb_secret_' : 'sb_publishable_')).toBe(true);
      expect(key.length).toBe(type === 'secret' ? 41 : 46);
      const verified = verifyApiKey(key, 'abcdefghijklmnopqrst');
      expect(verified.ok && verified.key.type).toBe(type);
    }
  });

  it('rejects a key checked against another ref', () => {
    const key = generateApiKey('project-a', 'publishable');
    expect(verifyApiKey(key, 'project-b')).toEqual({ ok: false, reason: 'checksum mismatch' });
  });

  it('rejects truncated, extended and mangled keys', () => {
    const key = generateApiKey('project-a', 'secret');
    expect(verifyApiKey(key.slice(0, -1), 'project-a').ok).toBe(false);
    expect(verifyApiKey(`${key}x`, 'project-a').ok).toBe(false);
    for (let i = 10; i < key.length; i++) {
      const c = key[i] === 'A' ? 'B' : 'A';
      const mangled = key.slice(0, i) + c + key.slice(i + 1);
      expect(verifyApiKey(mangled, 'project-a').ok, `position ${i}`).toBe(false);
    }
    expect(parseApiKey('').ok).toBe(false);
    expect(parseApiKey('sb_other_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxx').ok).toBe(false);
    // the separator before the checksum, by offset (the checksum itself may contain `_`)
    const separator = key.length - 9;
    expect(parseApiKey(`${key.slice(0, separator)}.${key.slice(separator + 1)}`).ok).toBe(false);
    expect(parseApiKey('sb_secret_' + '!'.repeat(22) + '_abcdefgh').ok).toBe(false);
  });

  it('hashes for lookup and masks for display', () => {
    const key = generateApiKey('project-a', 'secret');
    expect(hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(key)).not.toBe(hashApiKey(generateApiKey('project-a', 'secret')));
    expect(maskApiKey(key)).not.toContain(key.slice(14));
  });

  it('refuses to generate for an invalid ref', () => {
    expect(() => generateApiKey('A!', 'secret')).toThrow();
  });
});
