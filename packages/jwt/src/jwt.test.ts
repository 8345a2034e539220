import { SignJWT, exportJWK, generateKeyPair, base64url } from 'jose';
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
});
