import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, http, projectUrl, rest } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';

// Signing keys of every algorithm Supabase's Management API offers (POST
// /v1/projects/:ref/config/auth/signing-keys): a key the platform makes is published in the project's
// JWKS (what supabase-js `auth.getClaims()` reads at /auth/v1/.well-known/jwks.json through the
// gateway); a key imported from a private JWK signs user tokens the gateway and the data API honour
// under RLS, until it is revoked.

const SCHEMA = `
create table public.notes (id int primary key, owner uuid not null, body text);
alter table public.notes enable row level security;
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
`;

const alice = randomUUID();
const bob = randomUUID();
let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('sigalg-a', 'sigalg-b');
  const rows = `insert into public.notes values (1, '${alice}', 'alice''s'), (2, '${bob}', 'bob''s');`;
  await Promise.all([sql(a.ref, SCHEMA + rows), sql(b.ref, SCHEMA + rows)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

const keysPath = (ref: string) => `/v1/projects/${ref}/config/auth/signing-keys`;
const gatewayJwks = async (ref: string) => {
  const res = await http(`${projectUrl(ref)}/auth/v1/.well-known/jwks.json`);
  expect(res.status, res.text).toBe(200);
  return (res.json() as { keys: Record<string, string>[] }).keys;
};

describe('signing keys the platform makes', () => {
  it('an RS256 and an EdDSA key are in the JWKS the gateway serves, public members only; an HS256 key never', async () => {
    const made: Record<string, { id: string; public_jwk: Record<string, string> | null }> = {};
    for (const algorithm of ['RS256', 'EdDSA', 'HS256']) {
      const res = await admin('POST', keysPath(a.ref), { algorithm });
      expect(res.status, res.text).toBe(201);
      made[algorithm] = res.json() as (typeof made)[string];
    }
    const served = await gatewayJwks(a.ref);
    const byKid = new Map(served.map((k) => [k.kid, k]));
    expect(byKid.get(made.RS256!.id)).toEqual({
      kty: 'RSA',
      n: made.RS256!.public_jwk!.n,
      e: 'AQAB',
      kid: made.RS256!.id,
      alg: 'RS256',
      use: 'sig',
    });
    expect(Buffer.from(made.RS256!.public_jwk!.n!, 'base64url')).toHaveLength(256);
    expect(byKid.get(made.EdDSA!.id)).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: made.EdDSA!.public_jwk!.x,
      kid: made.EdDSA!.id,
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(made.HS256!.public_jwk).toBeNull();
    expect(byKid.has(made.HS256!.id)).toBe(false);
    expect(served.every((k) => !('d' in k) && !('k' in k) && k.kty !== 'oct')).toBe(true);
    // B's JWKS holds none of A's keys.
    const bKids = (await gatewayJwks(b.ref)).map((k) => k.kid);
    for (const key of Object.values(made)) expect(bKids).not.toContain(key.id);

    // Revoked, a key leaves the JWKS the gateway serves.
    expect((await admin('PATCH', `${keysPath(a.ref)}/${made.EdDSA!.id}`, { status: 'revoked' })).status).toBe(
      200,
    );
    await eventually(async () => !(await gatewayJwks(a.ref)).some((k) => k.kid === made.EdDSA!.id), 1_000);
  });
});

describe('a signing key imported from a private JWK', () => {
  for (const algorithm of ['RS256', 'EdDSA', 'ES256'] as const) {
    it(`${algorithm}: a user token it signs reads the user's rows under RLS; revoked, the token is 401 PGRST301 within 1 s`, async () => {
      const { privateKey } = await generateKeyPair(algorithm, { extractable: true });
      const kid = randomUUID();
      const jwk = { ...(await exportJWK(privateKey)), kid };
      const imported = await admin('POST', keysPath(a.ref), { algorithm, private_jwk: jwk });
      expect(imported.status, imported.text).toBe(201);
      expect(imported.json()).toMatchObject({ id: kid, algorithm, status: 'standby' });
      expect(imported.text).not.toContain(jwk.d as string);

      const token = await tokenFor(privateKey, algorithm, kid, alice);
      const read = (ref: string, key: string) => rest(ref, 'notes?select=id,body', { key, token });
      const own = await read(a.ref, a.publishableKey);
      expect(own.status, own.text).toBe(200);
      expect(own.json()).toEqual([{ id: 1, body: "alice's" }]);
      const asBob = await rest(a.ref, 'notes?select=id', {
        key: a.publishableKey,
        token: await tokenFor(privateKey, algorithm, kid, bob),
      });
      expect(asBob.json()).toEqual([{ id: 2 }]);
      // The key is A's: the same token opens nothing on B.
      expectPostgrestError(await read(b.ref, b.publishableKey), 401, 'PGRST301');

      const revoked = await admin('PATCH', `${keysPath(a.ref)}/${kid}`, { status: 'revoked' });
      expect(revoked.status, revoked.text).toBe(200);
      const took = await eventually(async () => (await read(a.ref, a.publishableKey)).status === 401, 1_000);
      expect(took).toBeLessThan(1_000);
      expectPostgrestError(await read(a.ref, a.publishableKey), 401, 'PGRST301');
    });
  }
});

describe('an HS256 signing key imported from an oct JWK (the platform-made secret is never shown)', () => {
  it("a user token it signs (its kid in the header, as Supabase Auth signs) reads the user's rows under RLS; refused on B; revoked, 401 PGRST301 within 1 s", async () => {
    const secret = new TextEncoder().encode(`hs256-signing-key-of-this-test-${randomUUID()}`);
    const k = Buffer.from(secret).toString('base64url');
    const kid = randomUUID();
    const imported = await admin('POST', keysPath(a.ref), {
      algorithm: 'HS256',
      private_jwk: { kty: 'oct', k, kid, alg: 'HS256' },
    });
    expect(imported.status, imported.text).toBe(201);
    expect(imported.json()).toMatchObject({
      id: kid,
      algorithm: 'HS256',
      status: 'standby',
      public_jwk: null,
    });
    expect(imported.text).not.toContain(k);
    // The shared secret is never published: not in the JWKS the gateway serves.
    const served = await gatewayJwks(a.ref);
    expect(served.map((key) => key.kid)).not.toContain(kid);
    expect(JSON.stringify(served)).not.toContain(k);

    const token = await tokenFor(secret, 'HS256', kid, alice);
    const read = (ref: string, key: string) => rest(ref, 'notes?select=id,body', { key, token });
    const own = await read(a.ref, a.publishableKey);
    expect(own.status, own.text).toBe(200);
    expect(own.json()).toEqual([{ id: 1, body: "alice's" }]);
    const asBob = await rest(a.ref, 'notes?select=id', {
      key: a.publishableKey,
      token: await tokenFor(secret, 'HS256', kid, bob),
    });
    expect(asBob.json()).toEqual([{ id: 2 }]);
    // The key is A's: the same token opens nothing on B.
    expectPostgrestError(await read(b.ref, b.publishableKey), 401, 'PGRST301');

    const revoked = await admin('PATCH', `${keysPath(a.ref)}/${kid}`, { status: 'revoked' });
    expect(revoked.status, revoked.text).toBe(200);
    const took = await eventually(async () => (await read(a.ref, a.publishableKey)).status === 401, 1_000);
    expect(took).toBeLessThan(1_000);
    expectPostgrestError(await read(a.ref, a.publishableKey), 401, 'PGRST301');
    // The project's own keys still work: key-only requests are minted with the JWT secret.
    expect((await rest(a.ref, 'notes?select=id', { key: a.publishableKey })).status).toBe(200);
  });
});

function tokenFor(
  privateKey: CryptoKey | Uint8Array,
  alg: string,
  kid: string,
  sub: string,
): Promise<string> {
  return new SignJWT({ aud: 'authenticated', role: 'authenticated', sub })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
}
