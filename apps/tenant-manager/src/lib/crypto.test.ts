import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, safeEqual } from './crypto.js';

describe('secret box (AES-256-GCM)', () => {
  const box = createSecretBox(randomBytes(32));

  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('postgres-password', 'project:1:owner-password');
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain('postgres-password');
    expect(box.open(sealed, 'project:1:owner-password')).toBe('postgres-password');
    expect(box.seal('same', 'a')).not.toBe(box.seal('same', 'a')); // fresh IV each time
  });

  it('refuses a ciphertext used for another purpose, tampered, or under another master key', () => {
    const sealed = box.seal('jwt-secret', 'project:1:jwt-secret');
    expect(() => box.open(sealed, 'project:2:jwt-secret')).toThrow();
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    expect(() =>
      box.open([...parts.slice(0, 3), body.toString('base64url')].join('.'), 'project:1:jwt-secret'),
    ).toThrow();
    expect(() => createSecretBox(randomBytes(32)).open(sealed, 'project:1:jwt-secret')).toThrow();
    expect(() => box.open('garbage', 'x')).toThrow('unrecognised secret envelope');
    expect(() => createSecretBox(randomBytes(16))).toThrow('32 bytes');
  });

  it('compares tokens by value whatever their lengths', () => {
    expect(safeEqual('token-a', 'token-a')).toBe(true);
    expect(safeEqual('token-a', 'token-b')).toBe(false);
    expect(safeEqual('token-a', 'token-a-longer')).toBe(false);
    expect(safeEqual('', 'x')).toBe(false);
  });
});
