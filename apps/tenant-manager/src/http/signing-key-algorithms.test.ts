import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, internal, startHarness } from '../../test/harness.js';

// Supabase's CreateSigningKeyBody (supabase/cli's openapi.json): every algorithm it names is made,
// a private_jwk is imported, an HS256 key has no public half (public_jwk null, never in a JWKS), and
// the legacy routes set the project's JWT secret up as a signing key.

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('key-algs', 10);
  for (const ref of ['alg-one', 'alg-two', 'alg-legacy', 'alg-shared']) {
    expect((await h.createProject(ref)).statusCode).toBe(201);
  }
});
afterAll(() => h?.close());

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const keysOf = (ref: string) => `/v1/projects/${ref}/config/auth/signing-keys`;
const jwksKeys = async (ref: string) =>
  (await call('GET', `/v1/projects/${ref}/jwks`)).json().keys as Record<string, string>[];
const gatewayJwksKeys = async (ref: string) =>
  (await h.tm.internalApp.inject({ url: `/internal/v1/projects/${ref}/config`, headers: internal })).json()
    .jwks.keys as Record<string, string>[];

describe('signing keys of every algorithm Supabase offers', () => {
  it('makes RS256 (RSA 2048), EdDSA (Ed25519) and HS256 keys; the JWKS carries RSA and OKP keys, never HS256', async () => {
    const made: Record<string, Record<string, unknown>> = {};
    for (const algorithm of ['RS256', 'EdDSA', 'HS256'] as const) {
      const created = await call('POST', keysOf('alg-one'), { algorithm });
      expect(created.statusCode, created.body).toBe(201);
      made[algorithm] = created.json();
      expect(made[algorithm]).toMatchObject({ algorithm, status: 'standby' });
      expect(created.body).not.toMatch(/"(d|k|p|q)":/);
    }
    expect(made.RS256!.public_jwk).toEqual({
      kty: 'RSA',
      n: expect.any(String),
      e: 'AQAB',
      kid: made.RS256!.id,
      alg: 'RS256',
      use: 'sig',
    });
    expect(Buffer.from((made.RS256!.public_jwk as { n: string }).n, 'base64url').length).toBe(256);
    expect(made.EdDSA!.public_jwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid: made.EdDSA!.id,
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(made.HS256!.public_jwk).toBeNull();

    const listed = await call('GET', keysOf('alg-one'));
    expect(listed.body).not.toMatch(/"(d|k)":/);
    expect(listed.json().keys.find((k: { id: string }) => k.id === made.HS256!.id).public_jwk).toBeNull();

    for (const keys of [await jwksKeys('alg-one'), await gatewayJwksKeys('alg-one')]) {
      expect(keys).toEqual(expect.arrayContaining([made.RS256!.public_jwk, made.EdDSA!.public_jwk]));
      expect(keys.map((k) => k.kid)).not.toContain(made.HS256!.id);
      expect(keys.every((k) => k.kty !== 'oct' && !('k' in k) && !('d' in k))).toBe(true);
    }
    // An HS256 key may be put in use and revoked like any other, and stays out of every JWKS.
    const inUse = await call('PATCH', `${keysOf('alg-one')}/${made.HS256!.id}`, { status: 'in_use' });
    expect(inUse.json()).toMatchObject({ status: 'in_use', public_jwk: null });
    expect((await gatewayJwksKeys('alg-one')).map((k) => k.kid)).not.toContain(made.HS256!.id);
  });

  it("imports a private_jwk of each kind, its kid the key's id; a bad one is a 400 naming what is wrong", async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    const kid = randomUUID();
    const imported = await call('POST', keysOf('alg-two'), {
      algorithm: 'EdDSA',
      private_jwk: { ...ed, kid, alg: 'EdDSA', use: 'sig', key_ops: ['sign', 'verify'], ext: true },
    });
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.json()).toMatchObject({
      id: kid,
      algorithm: 'EdDSA',
      public_jwk: { kty: 'OKP', crv: 'Ed25519', x: ed.x, kid },
    });
    expect(imported.body).not.toContain(ed.d as string);
    expect(imported.headers.location).toBe(`${keysOf('alg-two')}/${kid}`);
    expect((await gatewayJwksKeys('alg-two')).map((k) => k.kid)).toContain(kid);
    // the same kid again (here or in another project) is taken
    const again = await call('POST', keysOf('alg-one'), { algorithm: 'EdDSA', private_jwk: { ...ed, kid } });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('signing_key_exists');

    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const rsaKey = await call('POST', keysOf('alg-two'), {
      algorithm: 'RS256',
      private_jwk: rsa,
      status: 'in_use',
    });
    expect(rsaKey.statusCode, rsaKey.body).toBe(201);
    expect(rsaKey.json()).toMatchObject({ status: 'in_use', public_jwk: { n: rsa.n, e: 'AQAB' } });
    const secret = await call('POST', keysOf('alg-two'), {
      algorithm: 'HS256',
      private_jwk: { kty: 'oct', k: 'bXktb3duLXNoYXJlZC1zZWNyZXQtdmFsdWU' },
    });
    expect(secret.statusCode, secret.body).toBe(201);
    expect(secret.json().public_jwk).toBeNull();
    expect(secret.body).not.toContain('bXktb3duLXNoYXJlZC1zZWNyZXQtdmFsdWU');

    const before = (await call('GET', keysOf('alg-two'))).json().keys.length;
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    for (const [body, pattern] of [
      [{ algorithm: 'RS256', private_jwk: ed }, /kty must be "RSA"/],
      [{ algorithm: 'RS256', private_jwk: small }, /at least 2048 bits/],
      [{ algorithm: 'EdDSA', private_jwk: { kty: 'OKP', crv: 'Ed25519', x: ed.x } }, /d must be present/],
      [{ algorithm: 'EdDSA', private_jwk: { ...ed, alg: 'ES256' } }, /alg must be "EdDSA"/],
    ] as const) {
      const refused = await call('POST', keysOf('alg-two'), body);
      expect(refused.statusCode, refused.body).toBe(400);
      expect(refused.json()).toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(pattern),
      });
      expect(refused.body).not.toContain((body.private_jwk as { d?: string }).d ?? '\u0000');
    }
    expect((await call('GET', keysOf('alg-two'))).json().keys).toHaveLength(before);
  });
});

describe('the legacy routes: the JWT secret as a signing key', () => {
  it('GET is 404 until POST sets it up (HS256, in use, with a standby ES256 key); a second POST is 409', async () => {
    const legacy = `${keysOf('alg-legacy')}/legacy`;
    const none = await call('GET', legacy);
    expect(none.statusCode).toBe(404);
    expect(none.json().code).toBe('not_found');
    const first = (await call('POST', keysOf('alg-legacy'), { algorithm: 'ES256', status: 'in_use' })).json();

    const created = await call('POST', legacy);
    expect(created.statusCode, created.body).toBe(201);
    const key = created.json();
    expect(Object.keys(key).sort()).toEqual([
      'algorithm',
      'created_at',
      'id',
      'public_jwk',
      'status',
      'updated_at',
    ]);
    expect(key).toMatchObject({ algorithm: 'HS256', status: 'in_use', public_jwk: null });
    expect((await call('GET', legacy)).json()).toEqual(key);
    const keys = (await call('GET', keysOf('alg-legacy'))).json().keys as { id: string; status: string }[];
    expect(keys.find((k) => k.id === first.id)?.status).toBe('previously_used');
    expect(keys.filter((k) => k.status === 'standby')).toHaveLength(1);
    expect((await gatewayJwksKeys('alg-legacy')).map((k) => k.kid)).not.toContain(key.id);

    const twice = await call('POST', legacy);
    expect(twice.statusCode).toBe(409);
    expect(twice.json().code).toBe('legacy_signing_key_exists');
    expect((await call('GET', keysOf('alg-legacy'))).json().keys).toHaveLength(keys.length);

    // The gateways mint and verify with the JWT secret: it cannot be revoked or removed.
    const standby = keys.find((k) => k.status === 'standby')!;
    expect(
      (await call('PATCH', `${keysOf('alg-legacy')}/${standby.id}`, { status: 'in_use' })).statusCode,
    ).toBe(200);
    expect((await call('GET', legacy)).json().status).toBe('previously_used');
    for (const refused of [
      await call('PATCH', `${keysOf('alg-legacy')}/${key.id}`, { status: 'revoked' }),
      await call('DELETE', `${keysOf('alg-legacy')}/${key.id}`),
      await call('DELETE', `/v1/projects/alg-legacy/signing-keys/${key.id}`),
    ]) {
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.json().code).toBe('legacy_signing_key');
    }
    expect((await call('GET', `${keysOf('alg-one')}/legacy`)).statusCode).toBe(404);
    expect((await call('GET', `${keysOf('alg-missing')}/legacy`)).statusCode).toBe(404);
    expect((await call('POST', `${keysOf('alg-missing')}/legacy`)).statusCode).toBe(404);
  });
});

describe("the internal records' sharedKeys: HS256 keys for verifying, never in a JWKS", () => {
  it('carry every HS256 key not revoked (kid and secret; the legacy one is the JWT secret) in config and rest-config', async () => {
    const ref = 'alg-shared';
    const legacy = (await call('POST', `${keysOf(ref)}/legacy`)).json();
    const importedKid = randomUUID();
    const k = Buffer.from('imported-shared-secret-of-alg-shared').toString('base64url');
    const imported = await call('POST', keysOf(ref), {
      algorithm: 'HS256',
      private_jwk: { kty: 'oct', k, kid: importedKid, alg: 'HS256' },
    });
    expect(imported.statusCode, imported.body).toBe(201);
    const made = (await call('POST', keysOf(ref), { algorithm: 'HS256' })).json();
    const rsa = (await call('POST', keysOf(ref), { algorithm: 'RS256' })).json();
    const record = async (route: 'config' | 'rest-config') => {
      const res = await h.tm.internalApp.inject({
        url: `/internal/v1/projects/${ref}/${route}`,
        headers: internal,
      });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as {
        jwtSecret: string;
        jwks: { keys: Record<string, unknown>[] };
        sharedKeys: { kid: string; k: string }[];
        version: number;
      };
    };
    const before = await record('config');
    const legacyEntry = { kid: legacy.id, k: Buffer.from(before.jwtSecret).toString('base64url') };
    for (const r of [before, await record('rest-config')]) {
      expect(r.sharedKeys).toHaveLength(3);
      expect(r.sharedKeys).toEqual(expect.arrayContaining([legacyEntry, { kid: importedKid, k }]));
      expect(r.sharedKeys.map((e) => e.kid)).toContain(made.id);
      expect(r.sharedKeys.every((e) => Object.keys(e).sort().join() === 'k,kid')).toBe(true);
      expect(r.jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining([rsa.id]));
      expect(r.jwks.keys.every((key) => key.kty !== 'oct' && !('k' in key))).toBe(true);
      expect(JSON.stringify(r.jwks)).not.toContain(k);
    }
    // Revoked: gone from both records, and the version moves so gateways and functions re-read.
    expect((await call('PATCH', `${keysOf(ref)}/${importedKid}`, { status: 'revoked' })).statusCode).toBe(
      200,
    );
    const after = await record('config');
    expect(after.version).toBeGreaterThan(before.version);
    for (const r of [after, await record('rest-config')]) {
      expect(r.sharedKeys.map((e) => e.kid).sort()).toEqual([legacy.id, made.id].sort());
    }
    // The legacy key is the JWT secret itself, not a copy: rotating the secret moves its entry, so
    // tokens signed with the old secret under the legacy kid stop verifying with everything else.
    const rotated = await call('POST', `/v1/projects/${ref}/jwt-secret/rotate`);
    expect(rotated.statusCode, rotated.body).toBe(200);
    const afterRotation = await record('config');
    expect(afterRotation.jwtSecret).not.toBe(before.jwtSecret);
    for (const r of [afterRotation, await record('rest-config')]) {
      expect(r.sharedKeys.find((e) => e.kid === legacy.id)).toEqual({
        kid: legacy.id,
        k: Buffer.from(afterRotation.jwtSecret).toString('base64url'),
      });
    }
    // The public answers never carry a secret.
    for (const path of [keysOf(ref), `/v1/projects/${ref}/jwks`, `${keysOf(ref)}/${made.id}`]) {
      const res = await call('GET', path);
      expect(res.body).not.toMatch(/"k":/);
      expect(res.body).not.toContain(k);
    }
  });
});
