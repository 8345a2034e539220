import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyMaterial, importPrivateJwk, type SigningAlgorithm } from './signing-key-material.js';

const privateJwkOf = (algorithm: Exclude<SigningAlgorithm, 'HS256'>, modulusLength = 2048) => {
  const { privateKey } =
    algorithm === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength })
      : algorithm === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
};

const refusal = (algorithm: SigningAlgorithm, jwk: Record<string, unknown>) => {
  const result = importPrivateJwk(algorithm, jwk);
  if (result.ok) throw new Error('imported');
  return result.reason;
};

describe('keys made here', () => {
  it('RS256 is RSA 2048 (n, e), EdDSA is OKP Ed25519 (x), ES256 is EC P-256 (x, y); HS256 has no public half', () => {
    const kid = randomUUID();
    const rsa = generateKeyMaterial('RS256', kid);
    expect(Object.keys(rsa.publicJwk!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(rsa.publicJwk).toMatchObject({ kty: 'RSA', e: 'AQAB', alg: 'RS256', kid, use: 'sig' });
    expect(Buffer.from(rsa.publicJwk!.n!, 'base64url').length * 8).toBe(2048);
    const ed = generateKeyMaterial('EdDSA', kid);
    expect(Object.keys(ed.publicJwk!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    expect(ed.publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    const ec = generateKeyMaterial('ES256', kid);
    expect(Object.keys(ec.publicJwk!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const hs = generateKeyMaterial('HS256', kid);
    expect(hs.publicJwk).toBeNull();
    expect(hs.privateJwk).toMatchObject({ kty: 'oct', alg: 'HS256', kid });
    expect(Buffer.from(hs.privateJwk.k as string, 'base64url')).toHaveLength(32);
    // the private halves are private JWKs of the same key
    expect(rsa.privateJwk).toMatchObject({
      n: rsa.publicJwk!.n,
      d: expect.any(String),
      qi: expect.any(String),
    });
    expect(ed.privateJwk).toMatchObject({ x: ed.publicJwk!.x, d: expect.any(String) });
  });
});

describe('an imported private_jwk', () => {
  it("of each algorithm is taken with its kid as the key's id, and only its public members are published", () => {
    for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const) {
      const kid = randomUUID();
      const jwk: Record<string, unknown> = {
        ...privateJwkOf(algorithm),
        kid,
        alg: algorithm,
        use: 'sig',
        key_ops: ['verify', 'sign'],
        ext: true,
      };
      const result = importPrivateJwk(algorithm, jwk);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) continue;
      expect(result.kid).toBe(kid);
      expect(result.material.publicJwk).toMatchObject({ kid, alg: algorithm, use: 'sig' });
      expect(result.material.publicJwk).not.toHaveProperty('d');
      expect(result.material.privateJwk).toMatchObject({ d: jwk.d, kid });
    }
    const secret = importPrivateJwk('HS256', { kty: 'oct', k: 'c2hhcmVkLXNlY3JldC0xMjM0NTY3ODkw' });
    expect(secret).toMatchObject({ ok: true, material: { publicJwk: null } });
    // without a kid one is made
    const plain = importPrivateJwk('ES256', privateJwkOf('ES256'));
    expect(plain.ok && plain.kid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is refused with a reason naming what is wrong, never its private material', () => {
    const rsa = privateJwkOf('RS256');
    const ec = privateJwkOf('ES256');
    const ed = privateJwkOf('EdDSA');
    const otherEc = privateJwkOf('ES256');
    const cases: [SigningAlgorithm, Record<string, unknown>, RegExp][] = [
      ['RS256', ec, /kty must be "RSA" for algorithm RS256/],
      ['ES256', ed, /kty must be "EC"/],
      ['EdDSA', { ...ed, crv: 'Ed448' }, /crv must be "Ed25519"/],
      ['ES256', { ...ec, crv: 'P-384' }, /crv must be "P-256"/],
      ['ES256', { ...ec, alg: 'RS256' }, /alg must be "ES256"/],
      ['RS256', privateJwkOf('RS256', 1024), /at least 2048 bits \(this one is 1024\)/],
      ['RS256', { ...rsa, e: 'AAEAAQ' }, /e must be "AQAB"/],
      ['RS256', { kty: 'RSA', n: rsa.n, e: rsa.e }, /d, p, q, dp, dq, qi must be present/],
      ['ES256', { kty: 'EC', crv: 'P-256', x: ec.x, y: ec.y }, /d must be present/],
      ['EdDSA', { kty: 'OKP', crv: 'Ed25519', x: ed.x }, /d must be present/],
      [
        'ES256',
        { ...ec, x: otherEc.x, y: otherEc.y },
        /public members \(x, y\) do not belong to its private key/,
      ],
      ['ES256', { ...ec, kid: 'key-1' }, /kid must be a uuid/],
      ['ES256', { ...ec, use: 'enc' }, /use must be "sig"/],
      ['ES256', { ...ec, key_ops: ['sign'] }, /key_ops must be \["sign", "verify"\]/],
      ['ES256', { ...ec, ext: false }, /ext must be true/],
      ['ES256', { ...ec, n: 'AQAB' }, /"n" not allowed for kty EC/],
      ['HS256', { kty: 'oct', k: 'c2hvcnQ' }, /k must be at least 16 characters/],
      ['HS256', ec, /kty must be "oct"/],
      ['EdDSA', { ...ed, d: 'not base64url!' }, /d must be present as base64url strings/],
    ];
    for (const [algorithm, jwk, pattern] of cases) {
      const reason = refusal(algorithm, jwk);
      expect(reason, `${algorithm} ${pattern}`).toMatch(pattern);
      expect(reason).toMatch(/^private_jwk: /);
      for (const value of [jwk.d, jwk.k, jwk.p])
        if (typeof value === 'string') expect(reason).not.toContain(value);
    }
  });
});
