import { type CryptoKey, SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier, mintHs256 } from './jwt.js';

const secret = 'a-very-long-project-jwt-secret-of-32+-bytes!';
const now = Math.floor(Date.now() / 1000);

describe('jwt', () => {
  it('mints and verifies an HS256 token', async () => {
    const token = await mintHs256(secret, { ref: 'proj-a', role: 'anon', issuedAt: now });
    const result = await createJwtVerifier({ jwtSecret: secret }).verify(token);
    expect(result.ok && result.claims).toMatchObject({
      iss: 'supabase',
      ref: 'proj-a',
      role: 'anon',
      exp: now + 300,
    });
  });

  it('rejects a token signed with another secret, tampered, alg none and malformed', async () => {
    const verifier = createJwtVerifier({ jwtSecret: secret });
    const other = await mintHs256('another-secret-another-secret-another!!', {
      ref: 'b',
      role: 'service_role',
    });
    expect(await verifier.verify(other)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    const good = await mintHs256(secret, { ref: 'a', role: 'anon' });
    const [h, , s] = good.split('.');
    const forged = `${h}.${base64url.encode(JSON.stringify({ role: 'service_role', exp: now + 100 }))}.${s}`;
    expect(await verifier.verify(forged)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    const none = `${base64url.encode('{"alg":"none"}')}.${base64url.encode('{"role":"service_role"}')}.`;
    expect(await verifier.verify(none)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    expect(await verifier.verify('garbage')).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
  });

  it('applies exp and nbf with 30 s skew', async () => {
    const verifier = createJwtVerifier({ jwtSecret: secret });
    const expired = await mintHs256(secret, { ref: 'a', role: 'anon', issuedAt: now - 400 });
    expect(await verifier.verify(expired)).toEqual({
      ok: false,
      error: { code: 'PGRST303', message: 'JWT expired' },
    });
    const justExpired = await mintHs256(secret, { ref: 'a', role: 'anon', issuedAt: now - 310 });
    expect((await verifier.verify(justExpired)).ok).toBe(true);
    const future = await new SignJWT({ role: 'anon' })
      .setProtectedHeader({ alg: 'HS256' })
      .setNotBefore(now + 120)
      .sign(new TextEncoder().encode(secret));
    expect(await verifier.verify(future)).toMatchObject({ ok: false, error: { code: 'PGRST303' } });
  });

  it('refuses a token issued more than 30 s in the future, as PostgREST (JWT issued at future)', async () => {
    const verifier = createJwtVerifier({ jwtSecret: secret });
    const issuedAt = (iat: number) =>
      new SignJWT({ role: 'anon', iat })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret));
    expect(await verifier.verify(await issuedAt(99_999_999_999), now)).toEqual({
      ok: false,
      error: { code: 'PGRST303', message: 'JWT issued at future' },
    });
    expect(await verifier.verify(await issuedAt(now + 31), now)).toMatchObject({ ok: false });
    expect((await verifier.verify(await issuedAt(now + 30), now)).ok).toBe(true);
    expect((await verifier.verify(await issuedAt(now - 3600), now)).ok).toBe(true);
  });

  it('verifies ES256 through the JWKS by kid and rejects HS/RS confusion', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const verifier = createJwtVerifier({ jwtSecret: secret, jwks: { keys: [jwk] } });
    const token = await new SignJWT({ role: 'authenticated', sub: 'u1' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime(now + 60)
      .sign(privateKey);
    expect((await verifier.verify(token)).ok).toBe(true);
    const wrongKid = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'ES256', kid: 'nope' })
      .setExpirationTime(now + 60)
      .sign(privateKey);
    expect(await verifier.verify(wrongKid)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    // HMAC over the public key's JSON: the classic confusion attack.
    const confused = await new SignJWT({ role: 'service_role' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    expect(await verifier.verify(confused)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    expect(await createJwtVerifier({ jwtSecret: secret }).verify(token)).toMatchObject({ ok: false });
  });

  it('verifies EdDSA (Ed25519) and RS256 tokens through the JWKS by kid', async () => {
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const rsa = await generateKeyPair('RS256', { modulusLength: 2048 });
    const keys = [
      { ...(await exportJWK(ed.publicKey)), kid: 'ed', alg: 'EdDSA', use: 'sig' },
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
    ];
    const verifier = createJwtVerifier({ jwtSecret: secret, jwks: { keys } });
    const sign = (alg: string, kid: string, key: CryptoKey) =>
      new SignJWT({ role: 'authenticated', sub: 'u1' })
        .setProtectedHeader({ alg, kid })
        .setExpirationTime(now + 60)
        .sign(key);
    const edToken = await sign('EdDSA', 'ed', ed.privateKey);
    expect(await verifier.verify(edToken)).toMatchObject({ ok: true, alg: 'EdDSA', claims: { sub: 'u1' } });
    expect(await verifier.verify(await sign('RS256', 'rsa', rsa.privateKey))).toMatchObject({ ok: true });
    // A key verifies only tokens of its own algorithm, whatever the kid says.
    expect(await verifier.verify(await sign('EdDSA', 'rsa', ed.privateKey))).toMatchObject({ ok: false });
    expect(await verifier.verify(await sign('RS256', 'ed', rsa.privateKey))).toMatchObject({ ok: false });
    // Another Ed25519 key under the same kid is a bad signature.
    const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    expect(await verifier.verify(await sign('EdDSA', 'ed', stranger.privateKey))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    // jose's newer name for the same algorithm is not on the allow-list: Supabase signs with EdDSA.
    expect(await verifier.verify(await sign('Ed25519', 'ed', ed.privateKey))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301', message: 'JWT algorithm Ed25519 is not allowed' },
    });
  });

  it('never verifies an EdDSA token against the secret, nor an HS256 token against a public key', async () => {
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = { ...(await exportJWK(ed.publicKey)), kid: 'ed', alg: 'EdDSA', use: 'sig' };
    const edToken = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'ed' })
      .setExpirationTime(now + 60)
      .sign(ed.privateKey);
    // Only the secret: an EdDSA token has no key to verify with.
    expect(await createJwtVerifier({ jwtSecret: secret }).verify(edToken)).toEqual({
      ok: false,
      error: { code: 'PGRST301', message: 'No suitable key or wrong key type' },
    });
    // A token claiming EdDSA whose signature is an HMAC under the secret.
    const [header, payload] = edToken.split('.');
    const { createHmac } = await import('node:crypto');
    const hmac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    const both = createJwtVerifier({ jwtSecret: secret, jwks: { keys: [jwk] } });
    expect(await both.verify(`${header}.${payload}.${hmac}`)).toMatchObject({ ok: false });
    // Only the JWKS: HS256 tokens keyed with the public key (its x, or its JSON) never verify.
    const publicOnly = createJwtVerifier({ jwks: { keys: [jwk] } });
    for (const material of [
      base64url.decode(jwk.x as string),
      new TextEncoder().encode(JSON.stringify(jwk)),
    ]) {
      const confused = await new SignJWT({ role: 'service_role' })
        .setProtectedHeader({ alg: 'HS256', kid: 'ed' })
        .setExpirationTime(now + 60)
        .sign(material);
      expect(await publicOnly.verify(confused)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
      expect(await both.verify(confused)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    }
  });
});
