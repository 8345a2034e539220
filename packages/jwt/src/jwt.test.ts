import { type CryptoKey, SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier, mintHs256, parseSharedKeys } from './jwt.js';

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

describe('HS256 signing keys (sharedKeys), chosen by kid as Supabase Auth chooses them', () => {
  const keyA = {
    kid: '6f1c0b43-2d7e-4a57-9d2c-3f0e8b1a7c01',
    k: base64url.encode('shared-secret-of-key-a-0123456789'),
  };
  const keyB = {
    kid: '6f1c0b43-2d7e-4a57-9d2c-3f0e8b1a7c02',
    k: base64url.encode('shared-secret-of-key-b-0123456789'),
  };
  // The JWT secret set up as a signing key: its id names the secret itself.
  const legacy = { kid: '6f1c0b43-2d7e-4a57-9d2c-3f0e8b1a7c00', k: base64url.encode(secret) };
  const hs = (key: Uint8Array, header: Record<string, unknown>) =>
    new SignJWT({ role: 'authenticated', sub: 'u1' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header } as never)
      .setExpirationTime(now + 60)
      .sign(key);
  const bytes = (key: { k: string }) => base64url.decode(key.k);
  const text = (s: string) => new TextEncoder().encode(s);

  it('verifies a token against the key its kid names, and only that key', async () => {
    const verifier = createJwtVerifier({ jwtSecret: secret, sharedKeys: [legacy, keyA, keyB] });
    expect(await verifier.verify(await hs(bytes(keyA), { kid: keyA.kid }))).toMatchObject({
      ok: true,
      alg: 'HS256',
      claims: { sub: 'u1' },
    });
    expect((await verifier.verify(await hs(bytes(keyB), { kid: keyB.kid }))).ok).toBe(true);
    // Signed by B under A's kid: no other key is tried.
    expect(await verifier.verify(await hs(bytes(keyB), { kid: keyA.kid }))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    // The legacy key's own id, and no kid at all, are the JWT secret.
    expect((await verifier.verify(await hs(text(secret), { kid: legacy.kid }))).ok).toBe(true);
    expect((await verifier.verify(await hs(text(secret), {}))).ok).toBe(true);
    // Without a kid a signing key is never tried: GoTrue sends its kid with every token it signs.
    expect(await verifier.verify(await hs(bytes(keyA), {}))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    // A signing key is HS256: HS512 under its kid is not its algorithm.
    const hs512 = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS512', kid: keyA.kid })
      .setExpirationTime(now + 60)
      .sign(bytes(keyA));
    expect(await verifier.verify(hs512)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    // Claims are checked as for any token.
    const expired = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256', kid: keyA.kid })
      .setExpirationTime(now - 100)
      .sign(bytes(keyA));
    expect(await verifier.verify(expired)).toMatchObject({ ok: false, error: { code: 'PGRST303' } });
  });

  it('an unknown kid falls back to the JWT secret as in GoTrue: a token of any other key is refused', async () => {
    const verifier = createJwtVerifier({ jwtSecret: secret, sharedKeys: [keyA] });
    const unknown = '6f1c0b43-2d7e-4a57-9d2c-3f0e8b1a7cff';
    // A's token verifies under A's kid only: under an unknown kid it meets the JWT secret.
    expect((await verifier.verify(await hs(bytes(keyA), { kid: keyA.kid }))).ok).toBe(true);
    expect(await verifier.verify(await hs(bytes(keyA), { kid: unknown }))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    expect(await verifier.verify(await hs(bytes(keyB), { kid: unknown }))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    expect(await verifier.verify(await hs(bytes(keyB), { kid: keyB.kid }))).toMatchObject({
      ok: false,
      error: { code: 'PGRST301' },
    });
    expect((await verifier.verify(await hs(text(secret), { kid: unknown }))).ok).toBe(true);
  });

  it("a revoked key (no longer in the project's keys) verifies nothing; the others still do", async () => {
    const before = createJwtVerifier({ jwtSecret: secret, sharedKeys: [legacy, keyA, keyB] });
    const after = createJwtVerifier({ jwtSecret: secret, sharedKeys: [legacy, keyB] });
    const tokenA = await hs(bytes(keyA), { kid: keyA.kid });
    expect((await before.verify(tokenA)).ok).toBe(true);
    expect(await after.verify(tokenA)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    expect((await after.verify(await hs(bytes(keyB), { kid: keyB.kid }))).ok).toBe(true);
    expect((await after.verify(await hs(text(secret), { kid: legacy.kid }))).ok).toBe(true);
  });

  it('never crosses shared and public keys, whatever the kid names', async () => {
    const ec = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-key', alg: 'ES256', use: 'sig' };
    const verifier = createJwtVerifier({ jwtSecret: secret, jwks: { keys: [jwk] }, sharedKeys: [keyA] });
    // An ES256 token naming a shared key has no public key to verify with.
    const esUnderSharedKid = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'ES256', kid: keyA.kid })
      .setExpirationTime(now + 60)
      .sign(ec.privateKey);
    expect(await verifier.verify(esUnderSharedKid)).toMatchObject({ ok: false, error: { code: 'PGRST301' } });
    // An HS256 token naming a public key is refused, even when signed with the JWT secret.
    for (const key of [text(secret), text(JSON.stringify(jwk)), bytes(keyA)]) {
      expect(await verifier.verify(await hs(key, { kid: 'ec-key' }))).toMatchObject({
        ok: false,
        error: { code: 'PGRST301' },
      });
    }
    // Only shared keys, no secret: a token without a kid has nothing to verify with.
    const sharedOnly = createJwtVerifier({ sharedKeys: [keyA] });
    expect((await sharedOnly.verify(await hs(bytes(keyA), { kid: keyA.kid }))).ok).toBe(true);
    expect(await sharedOnly.verify(await hs(bytes(keyA), {}))).toEqual({
      ok: false,
      error: { code: 'PGRST301', message: 'No suitable key or wrong key type' },
    });
  });

  it("parseSharedKeys reads the internal records' field: absent is none, anything malformed is null", () => {
    expect(parseSharedKeys(undefined)).toEqual([]);
    expect(parseSharedKeys(null)).toEqual([]);
    expect(parseSharedKeys([keyA, { ...keyB, alg: 'HS256' }])).toEqual([keyA, keyB]);
    for (const bad of [
      {},
      'k',
      [null],
      [{ kid: keyA.kid }],
      [{ k: keyA.k }],
      [{ kid: '', k: keyA.k }],
      [{ kid: keyA.kid, k: '' }],
      [{ kid: keyA.kid, k: 'not base64url!' }],
      [{ kid: 7, k: keyA.k }],
    ]) {
      expect(parseSharedKeys(bad), JSON.stringify(bad)).toBeNull();
    }
  });
});
