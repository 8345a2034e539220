import {
  type KeyObject,
  createHmac,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
} from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type HttpResult, rest } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';

// Forged and confused user tokens through the whole stack (gateway, then the data API under RLS),
// for projects holding signing keys of every algorithm: imported RS256, EdDSA and HS256 keys beside
// the JWT secret. Each refusal is asserted with its exact status and PostgREST body; role claims
// naming roles the data API must never become are answered by Postgres.

const SCHEMA = `
create table public.notes (id int primary key, owner uuid not null, body text);
alter table public.notes enable row level security;
create policy "own" on public.notes for select to authenticated using (owner = auth.uid());
grant select on public.notes to anon, authenticated, service_role;
`;

const alice = randomUUID();
let a: TestProject;
let b: TestProject;

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

type Alg = 'RS256' | 'EdDSA' | 'HS256';
interface ImportedKey {
  readonly alg: Alg;
  readonly kid: string;
  /** A private KeyObject, or the HS256 secret's bytes. */
  readonly key: KeyObject | Buffer;
  readonly publicJwk?: Record<string, unknown>;
}

function privateJwkOf(key: ImportedKey): Record<string, unknown> {
  if (key.alg === 'HS256')
    return { kty: 'oct', k: (key.key as Buffer).toString('base64url'), kid: key.kid, alg: 'HS256' };
  return { ...(key.key as KeyObject).export({ format: 'jwk' }), kid: key.kid };
}

function newKey(alg: Alg): ImportedKey {
  const kid = randomUUID();
  if (alg === 'HS256') return { alg, kid, key: Buffer.from(`hs256-key-${randomUUID()}-${randomUUID()}`) };
  const pair =
    alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return {
    alg,
    kid,
    key: pair.privateKey,
    publicJwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
  };
}

const keysPath = (ref: string) => `/v1/projects/${ref}/config/auth/signing-keys`;

async function importKey(ref: string, key: ImportedKey): Promise<HttpResult> {
  return admin('POST', keysPath(ref), { algorithm: key.alg, private_jwk: privateJwkOf(key) });
}

function signature(alg: string, input: string, key: KeyObject | Uint8Array | string): string {
  if (alg.startsWith('HS'))
    return createHmac('sha256', key as Uint8Array)
      .update(input)
      .digest('base64url');
  return sign(alg === 'EdDSA' ? null : 'sha256', Buffer.from(input), key as KeyObject).toString('base64url');
}

function token(
  header: Record<string, unknown> | string,
  key: KeyObject | Uint8Array | string,
  claims: Record<string, unknown> = {},
  alg = typeof header === 'string' ? 'HS256' : String(header.alg),
): string {
  const now = nowSeconds();
  const body = {
    aud: 'authenticated',
    role: 'authenticated',
    sub: alice,
    iat: now,
    exp: now + 600,
    ...claims,
  };
  const input = `${b64(header)}.${b64(body)}`;
  return `${input}.${signature(alg, input, key)}`;
}
const signedBy = (key: ImportedKey, claims: Record<string, unknown> = {}) =>
  token({ alg: key.alg, kid: key.kid, typ: 'JWT' }, key.key, claims);

const read = (project: TestProject, jwt: string) =>
  rest(project.ref, 'notes?select=id,body', { key: project.publishableKey, token: jwt });

/** A 401 with PostgREST's exact body for a refused token. */
async function expectRefused(project: TestProject, jwt: string, code: string, message: string) {
  const res = await read(project, jwt);
  expect(expectPostgrestError(res, 401, code), message).toEqual({ code, details: null, hint: null, message });
}
async function expectOwnRows(project: TestProject, jwt: string) {
  const res = await read(project, jwt);
  expect(res.status, res.text).toBe(200);
  expect(res.json()).toEqual([{ id: 1, body: "alice's" }]);
}

const keysA = { RS256: newKey('RS256'), EdDSA: newKey('EdDSA'), HS256: newKey('HS256') };
const keysB = { RS256: newKey('RS256'), EdDSA: newKey('EdDSA'), HS256: newKey('HS256') };

beforeAll(async () => {
  [a, b] = await createProjects('jwtatk-a', 'jwtatk-b');
  const rows = `insert into public.notes values (1, '${alice}', 'alice''s'), (2, '${randomUUID()}', 'bob''s');`;
  await Promise.all([sql(a.ref, SCHEMA + rows), sql(b.ref, SCHEMA + rows)]);
  for (const [ref, keys] of [
    [a.ref, keysA],
    [b.ref, keysB],
  ] as const) {
    for (const key of Object.values(keys)) {
      const res = await importKey(ref, key);
      expect(res.status, res.text).toBe(201);
    }
  }
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('jwt attacks through the stack', () => {
  it("honest tokens of the project's imported (standby) RS256, EdDSA and HS256 keys and of its JWT secret read the user's rows", async () => {
    for (const key of Object.values(keysA)) await expectOwnRows(a, signedBy(key));
    await expectOwnRows(a, token({ alg: 'HS256', typ: 'JWT' }, a.jwtSecret));
  });

  it("algorithm confusion: HS256 MACed with a public key's bytes (PEM, DER, JWK JSON, n, x), public tokens naming the HS256 key, HS256 naming a public key", async () => {
    const rsaJwk = { ...keysA.RS256.publicJwk, kid: keysA.RS256.kid, alg: 'RS256', use: 'sig' };
    const edJwk = { ...keysA.EdDSA.publicJwk, kid: keysA.EdDSA.kid, alg: 'EdDSA', use: 'sig' };
    const rsaPub = createPublicKey(keysA.RS256.key as KeyObject);
    const edPub = createPublicKey(keysA.EdDSA.key as KeyObject);
    const bytes: (string | Buffer)[] = [
      rsaPub.export({ type: 'spki', format: 'pem' }),
      rsaPub.export({ type: 'spki', format: 'der' }),
      JSON.stringify(rsaJwk),
      String(keysA.RS256.publicJwk?.n),
      edPub.export({ type: 'spki', format: 'pem' }),
      JSON.stringify(edJwk),
      String(keysA.EdDSA.publicJwk?.x),
    ];
    for (const secret of bytes) {
      const key = typeof secret === 'string' ? Buffer.from(secret) : secret;
      await expectRefused(a, token({ alg: 'HS256' }, key), 'PGRST301', 'JWSError JWSInvalidSignature');
      await expectRefused(
        a,
        token({ alg: 'HS256', kid: keysA.RS256.kid }, key),
        'PGRST301',
        'No suitable key or wrong key type',
      );
      await expectRefused(
        a,
        token({ alg: 'HS256', kid: keysA.EdDSA.kid }, key),
        'PGRST301',
        'No suitable key or wrong key type',
      );
    }
    for (const key of [keysA.RS256, keysA.EdDSA]) {
      await expectRefused(
        a,
        token({ alg: key.alg, kid: keysA.HS256.kid }, key.key),
        'PGRST301',
        'No suitable key or wrong key type',
      );
      const input = `${b64({ alg: key.alg, kid: keysA.HS256.kid })}.${b64({ role: 'service_role', exp: nowSeconds() + 60 })}`;
      const macked = `${input}.${signature('HS256', input, keysA.HS256.key as Buffer)}`;
      await expectRefused(a, macked, 'PGRST301', 'No suitable key or wrong key type');
      await expectRefused(
        a,
        token({ alg: 'HS256', kid: key.kid }, keysA.HS256.key as Buffer),
        'PGRST301',
        'No suitable key or wrong key type',
      );
      await expectRefused(
        a,
        token({ alg: 'HS256', kid: key.kid }, a.jwtSecret),
        'PGRST301',
        'No suitable key or wrong key type',
      );
    }
  });

  it('alg spelled hs256, Ed25519, ES256K, PS256, RS512, none or None is 401 PGRST301 naming it', async () => {
    const cases: [string, KeyObject | string][] = [
      ['hs256', a.jwtSecret],
      ['Ed25519', keysA.EdDSA.key as KeyObject],
      ['ES256K', keysA.RS256.key as KeyObject],
      ['PS256', keysA.RS256.key as KeyObject],
      ['RS512', keysA.RS256.key as KeyObject],
      ['none', a.jwtSecret],
      ['None', a.jwtSecret],
    ];
    for (const [alg, key] of cases) {
      const signAs = alg === 'Ed25519' ? 'EdDSA' : typeof key === 'string' ? 'HS256' : 'RS256';
      await expectRefused(
        a,
        token({ alg }, key, {}, signAs),
        'PGRST301',
        `JWT algorithm ${alg} is not allowed`,
      );
      await expectRefused(
        a,
        `${b64({ alg })}.${b64({ role: 'service_role' })}.`,
        'PGRST301',
        `JWT algorithm ${alg} is not allowed`,
      );
    }
  });

  it('header tricks: embedded jwk, jku, x5u, x5c, crit, b64, kid traversal/SQL/10 kB, duplicate keys, JSON serialization, extra segments', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    for (const extra of [
      { jwk: attackerJwk },
      { jwk: { ...attackerJwk, kid: keysA.RS256.kid }, kid: keysA.RS256.kid },
      { jku: 'https://attacker.example/jwks.json', kid: keysA.RS256.kid },
      { x5u: 'https://attacker.example/cert.pem', kid: keysA.RS256.kid },
      {
        x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')],
        kid: keysA.RS256.kid,
      },
    ]) {
      await expectRefused(
        a,
        token({ alg: 'RS256', ...extra }, attacker.privateKey),
        'PGRST301',
        'JWSError JWSInvalidSignature',
      );
    }
    for (const extra of [
      { crit: ['x-unknown'], 'x-unknown': 1 },
      { crit: ['b64'], b64: false },
    ]) {
      for (const key of Object.values(keysA)) {
        await expectRefused(
          a,
          token({ alg: key.alg, kid: key.kid, ...extra }, key.key),
          'PGRST301',
          'JWT could not be decoded',
        );
      }
    }
    for (const kid of [
      '../../../etc/passwd',
      `${keysA.HS256.kid}' OR '1'='1`,
      "'; drop table notes; --",
      'k'.repeat(10_240),
    ]) {
      await expectRefused(
        a,
        token({ alg: 'HS256', kid }, keysA.HS256.key as Buffer),
        'PGRST301',
        'JWSError JWSInvalidSignature',
      );
      await expectRefused(
        a,
        token({ alg: 'RS256', kid }, keysA.RS256.key),
        'PGRST301',
        'No suitable key or wrong key type',
      );
      await expectRefused(
        a,
        token({ alg: 'EdDSA', kid }, keysA.EdDSA.key),
        'PGRST301',
        'No suitable key or wrong key type',
      );
    }
    expect((await sql(a.ref, 'select count(*)::int as n from public.notes'))[0]).toEqual({ n: 2 });
    // Duplicate names: the last one is read, by the gateway and the data API alike.
    await expectRefused(
      a,
      token('{"alg":"HS256","alg":"none"}', a.jwtSecret),
      'PGRST301',
      'JWT algorithm none is not allowed',
    );
    const kidTwice = `{"alg":"HS256","kid":"${keysA.HS256.kid}","kid":"${keysA.RS256.kid}"}`;
    await expectRefused(
      a,
      token(kidTwice, keysA.HS256.key as Buffer),
      'PGRST301',
      'No suitable key or wrong key type',
    );
    const header = b64({ alg: 'HS256', kid: keysA.HS256.kid });
    const roleTwice = `${header}.${b64(`{"role":"service_role","sub":"${alice}","role":"authenticated","exp":${nowSeconds() + 60}}`)}`;
    const twice = await read(a, `${roleTwice}.${signature('HS256', roleTwice, keysA.HS256.key as Buffer)}`);
    expect(twice.status, twice.text).toBe(200);
    expect(twice.json(), 'the last role (authenticated) applies: RLS still filters').toEqual([
      { id: 1, body: "alice's" },
    ]);
    // Other serializations.
    const good = signedBy(keysA.HS256);
    const [h, p, s] = good.split('.') as [string, string, string];
    await expectRefused(
      a,
      b64(JSON.stringify({ protected: h, payload: p, signature: s })),
      'PGRST301',
      'Expected 3 parts in JWT; got 1',
    );
    await expectRefused(a, `${good}.${s}`, 'PGRST301', 'Expected 3 parts in JWT; got 4');
    await expectRefused(a, `${h}.${p}.${s}.${p}.${s}`, 'PGRST301', 'Expected 3 parts in JWT; got 5');
    await expectRefused(a, `${h}.${p}.`, 'PGRST301', 'JWSError JWSInvalidSignature');
  });

  it("another project's keys: B's RS256, EdDSA and HS256 tokens are 401 at A (B's kid or A's), and B's kid cannot be imported into A (409, naming nothing of B)", async () => {
    for (const key of Object.values(keysB)) {
      const expected =
        key.alg === 'HS256' ? 'JWSError JWSInvalidSignature' : 'No suitable key or wrong key type';
      await expectRefused(a, signedBy(key), 'PGRST301', expected);
      await expectRefused(
        a,
        token({ alg: key.alg, kid: keysA[key.alg].kid }, key.key),
        'PGRST301',
        'JWSError JWSInvalidSignature',
      );
      // The same key material under B's kid, imported into A: the kid is taken (a global id).
      const res = await importKey(a.ref, key);
      expect(res.status, res.text).toBe(409);
      expect(res.json()).toMatchObject({
        message:
          'a signing key with this kid already exists: import it with another uuid as kid, or without one',
      });
      for (const secret of [
        b.ref,
        b.name,
        key.alg === 'HS256' ? privateJwkOf(key).k : String(key.publicJwk?.x ?? key.publicJwk?.n),
      ]) {
        expect(res.text).not.toContain(String(secret));
      }
    }
    // B's JWT secret.
    await expectRefused(a, token({ alg: 'HS256' }, b.jwtSecret), 'PGRST301', 'JWSError JWSInvalidSignature');
    // A still lists only its own keys.
    const listed = await admin('GET', keysPath(a.ref));
    const ids = JSON.stringify(listed.json());
    for (const key of Object.values(keysB)) expect(ids).not.toContain(key.kid);
  });

  it('exp, nbf and iat with 30 s of skew, for RS256, EdDSA, HS256 keys and the JWT secret', async () => {
    const signers: [string, (claims: Record<string, unknown>) => string][] = [
      ...Object.values(keysA).map((key): [string, (c: Record<string, unknown>) => string] => [
        key.alg,
        (c) => signedBy(key, c),
      ]),
      ['JWT secret', (c) => token({ alg: 'HS256' }, a.jwtSecret, c)],
    ];
    for (const [, make] of signers) {
      const now = nowSeconds();
      // Seconds of margin either side of each edge: the gateway and the data API read their own clocks.
      await expectOwnRows(a, make({ exp: now - 20 }));
      await expectRefused(a, make({ exp: now - 40 }), 'PGRST303', 'JWT expired');
      await expectOwnRows(a, make({ nbf: now + 20 }));
      await expectRefused(a, make({ nbf: now + 40 }), 'PGRST303', 'JWT not yet valid');
      await expectOwnRows(a, make({ iat: now + 20 }));
      await expectRefused(a, make({ iat: now + 40 }), 'PGRST303', 'JWT issued at future');
    }
  });

  it('role claims naming roles the data API may not become: 403 42501 or 400 22023 from Postgres, never their rows', async () => {
    // The data API's login role (authenticator_<ref>, NOINHERIT) is a member of anon, authenticated
    // and service_role only, so SET ROLE to anything else fails as PostgREST's does. Its own name,
    // and `none` (Postgres: back to the session user), leave it as itself: it holds no table
    // privileges, so the read is refused. A token's signer could claim service_role anyway.
    const refusedRole = (role: string) => ({
      status: 403,
      body: { code: '42501', details: null, hint: null, message: `permission denied to set role "${role}"` },
    });
    const unknownRole = (role: string) => ({
      status: 400,
      body: { code: '22023', details: null, hint: null, message: `role "${role}" does not exist` },
    });
    const asLoginRole = {
      status: 403,
      body: { code: '42501', details: null, hint: null, message: 'permission denied for table notes' },
    };
    const cases: [string, { status: number; body: unknown }][] = [
      ['postgres', refusedRole('postgres')],
      ['pg_read_all_data', refusedRole('pg_read_all_data')],
      ['pg_write_server_files', refusedRole('pg_write_server_files')],
      [`owner_${a.ref}`, refusedRole(`owner_${a.ref}`)],
      [`owner_${b.ref}`, refusedRole(`owner_${b.ref}`)],
      [`authenticator_${b.ref}`, refusedRole(`authenticator_${b.ref}`)],
      [`authenticator_${a.ref}`, asLoginRole],
      ['none', asLoginRole],
      ['supabase_admin', unknownRole('supabase_admin')],
      ['authenticator', unknownRole('authenticator')],
      ['NONE', unknownRole('NONE')],
      ['public', unknownRole('public')],
      ['Authenticated', unknownRole('Authenticated')],
      ['authenticated; reset role', unknownRole('authenticated; reset role')],
    ];
    for (const key of [keysA.HS256, keysA.RS256, keysA.EdDSA]) {
      for (const [role, expected] of cases) {
        const res = await read(a, signedBy(key, { role }));
        expect({ status: res.status, body: res.json() }, `${key.alg} ${role}`).toEqual(expected);
      }
    }
    // The roles the data API does take: service_role passes RLS, anon sees nothing under this policy.
    const service = await read(a, signedBy(keysA.EdDSA, { role: 'service_role' }));
    expect(service.json()).toEqual([
      { id: 1, body: "alice's" },
      { id: 2, body: "bob's" },
    ]);
    expect((await read(a, signedBy(keysA.RS256, { role: 'anon' }))).json()).toEqual([]);
  });

  it('revoked: an RS256 key is refused within 1 s and stays refused; a standby key verifies (as Supabase publishes standby keys); the HS256 kid of a revoked key falls back to the JWT secret', async () => {
    const rs = newKey('RS256');
    const hs = newKey('HS256');
    for (const key of [rs, hs]) {
      const res = await importKey(a.ref, key);
      expect(res.status, res.text).toBe(201);
      expect(res.json()).toMatchObject({ status: 'standby' });
      await expectOwnRows(a, signedBy(key));
    }
    for (const key of [rs, hs]) {
      const jwt = signedBy(key);
      const revoked = await admin('PATCH', `${keysPath(a.ref)}/${key.kid}`, { status: 'revoked' });
      expect(revoked.status, revoked.text).toBe(200);
      const took = await eventually(async () => (await read(a, jwt)).status === 401, 1_000);
      expect(took).toBeLessThan(1_000);
      const expected =
        key.alg === 'HS256' ? 'JWSError JWSInvalidSignature' : 'No suitable key or wrong key type';
      await expectRefused(a, jwt, 'PGRST301', expected);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await expectRefused(a, jwt, 'PGRST301', expected);
      await expectRefused(a, signedBy(key), 'PGRST301', expected);
    }
    // GoTrue's rule: a kid naming no usable key is the JWT secret's.
    await expectOwnRows(a, token({ alg: 'HS256', kid: hs.kid }, a.jwtSecret));
  });
});
