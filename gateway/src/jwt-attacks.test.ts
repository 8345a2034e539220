import { type KeyObject, createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import { TEST_AWS, call, rawCall, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';

// Forged and confused user tokens through the gateway, for two projects that each hold every kind
// of key (the JWT secret, an HS256 signing key in sharedKeys, RS256/ES256/EdDSA public keys in
// jwks): the exact PostgREST-style 401, nothing reaching the upstream, and honest tokens forwarded
// unchanged. The gateway's clock is fixed, so time edges are exact.

const NOW = 1_800_000_000;
const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

interface Keys {
  readonly shared: Buffer;
  readonly RS256: KeyObject;
  readonly ES256: KeyObject;
  readonly EdDSA: KeyObject;
  readonly jwks: { keys: Record<string, unknown>[] };
}
function makeKeys(tag: string): Keys {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const jwk = (key: KeyObject, alg: string) => ({
    ...key.export({ format: 'jwk' }),
    kid: `${alg.toLowerCase()}-${tag}`,
    alg,
    use: 'sig',
  });
  return {
    shared: Buffer.from(`hs256-signing-key-of-${tag}-0123456789abcdef`),
    RS256: rsa.privateKey,
    ES256: ec.privateKey,
    EdDSA: ed.privateKey,
    jwks: { keys: [jwk(rsa.publicKey, 'RS256'), jwk(ec.publicKey, 'ES256'), jwk(ed.publicKey, 'EdDSA')] },
  };
}
const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'] as const;
const kidOf = (alg: string, tag: string) => `${alg.toLowerCase()}-${tag}`;

function signature(alg: string, input: string, key: KeyObject | Uint8Array | string): string {
  if (alg.startsWith('HS'))
    return createHmac('sha256', key as Uint8Array)
      .update(input)
      .digest('base64url');
  const data = Buffer.from(input);
  if (alg === 'ES256')
    return sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return sign(alg === 'EdDSA' ? null : 'sha256', data, key as KeyObject).toString('base64url');
}
function token(
  header: Record<string, unknown> | string,
  key: KeyObject | Uint8Array | string,
  claims: Record<string, unknown> = { sub: 'user-1', role: 'authenticated', exp: NOW + 300 },
  alg = typeof header === 'string' ? 'HS256' : String(header.alg),
): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${signature(alg, input, key)}`;
}

let echo: EchoUpstream;
let registry: RegistryServer;
let running: RunningGateway;
let url: string;
let alpha: TestProject;
let beta: TestProject;
const keysA = makeKeys('alpha');
const keysB = makeKeys('beta');
let clockMs = NOW * 1000;

beforeAll(async () => {
  echo = await startEchoUpstream(TEST_AWS);
  registry = await startRegistryServer({ token: 'internal-token-for-tests' });
  const project = (ref: string, keys: Keys, tag: string) =>
    registry.addProject(ref, {
      upstreams: upstreamsFor(ref, echo.port),
      jwks: keys.jwks,
      sharedKeys: [{ kid: `hs256-${tag}`, k: keys.shared.toString('base64url') }],
    });
  alpha = project('jwtattackalphaalpha1', keysA, 'alpha');
  beta = project('jwtattackbetabetabe1', keysB, 'beta');
  running = await startGateway(testConfig(registry), { clock: { now: () => clockMs } });
  url = running.url;
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  await echo?.close();
});

/** The token's answer at `/rest/v1/todos` of `project` with its publishable key. */
async function send(project: TestProject, jwt: string, extra: Record<string, string> = {}) {
  return call(url, project.ref, '/rest/v1/todos', {
    headers: { apikey: project.publishableKey, authorization: `Bearer ${jwt}`, ...extra },
  });
}

async function expectRefused(project: TestProject, jwt: string, code: string, message: string, label = '') {
  const before = echo.requests.length;
  const res = await send(project, jwt);
  expect(res.status, label).toBe(401);
  expect(res.headers['content-type'], label).toMatch(/^application\/json/);
  expect(res.body, label).toEqual({ code, details: null, hint: null, message });
  expect(res.headers['www-authenticate'], label).toMatch(
    /^Bearer error="invalid_token", error_description="/,
  );
  expect(echo.requests.length, `${label}: nothing reached the upstream`).toBe(before);
}

async function expectForwarded(project: TestProject, jwt: string, label = '') {
  const res = await send(project, jwt);
  expect(res.status, label).toBe(200);
  expect(res.body.headers['x-client-authorization'], label).toBe(`Bearer ${jwt}`);
}

const BAD_SIGNATURE = 'JWSError JWSInvalidSignature';
const NO_KEY = 'No suitable key or wrong key type';

describe('gateway jwt attacks: every algorithm', () => {
  it("each project's honest tokens pass unchanged: JWT secret, HS256 key by kid, RS256, ES256, EdDSA", async () => {
    for (const [project, keys, tag] of [
      [alpha, keysA, 'alpha'],
      [beta, keysB, 'beta'],
    ] as const) {
      await expectForwarded(project, token({ alg: 'HS256', typ: 'JWT' }, project.jwtSecret), 'secret');
      await expectForwarded(project, token({ alg: 'HS256', kid: `hs256-${tag}` }, keys.shared), 'shared');
      for (const alg of ASYMMETRIC)
        await expectForwarded(project, token({ alg, kid: kidOf(alg, tag) }, keys[alg]), alg);
    }
  });

  it("confusion: HS256 MACed with a public key's PEM, DER, JWK JSON or n/x; public tokens naming the HS256 key; HS256 naming a public key", async () => {
    const rsaPublic = (keysA.jwks.keys[0] as { n: string }).n;
    const edPublic = (keysA.jwks.keys[2] as { x: string }).x;
    const publicBytes = [
      JSON.stringify(keysA.jwks.keys[0]),
      JSON.stringify(keysA.jwks),
      rsaPublic,
      Buffer.from(rsaPublic, 'base64url'),
      edPublic,
      Buffer.from(edPublic, 'base64url'),
    ];
    for (const bytes of publicBytes) {
      const key = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      await expectRefused(alpha, token({ alg: 'HS256' }, key), 'PGRST301', BAD_SIGNATURE, 'no kid');
      await expectRefused(
        alpha,
        token({ alg: 'HS256', kid: 'rs256-alpha' }, key),
        'PGRST301',
        NO_KEY,
        'rs kid',
      );
      await expectRefused(
        alpha,
        token({ alg: 'HS256', kid: 'eddsa-alpha' }, key),
        'PGRST301',
        NO_KEY,
        'ed kid',
      );
    }
    for (const alg of ASYMMETRIC) {
      await expectRefused(alpha, token({ alg, kid: 'hs256-alpha' }, keysA[alg]), 'PGRST301', NO_KEY, alg);
      const input = `${b64({ alg, kid: 'hs256-alpha' })}.${b64({ role: 'service_role' })}`;
      await expectRefused(
        alpha,
        `${input}.${signature('HS256', input, keysA.shared)}`,
        'PGRST301',
        NO_KEY,
        alg,
      );
      await expectRefused(
        alpha,
        token({ alg: 'HS256', kid: kidOf(alg, 'alpha') }, alpha.jwtSecret),
        'PGRST301',
        NO_KEY,
      );
    }
  });

  it('alg spelled hs256, Ed25519, ES256K, PS256, RS512, none or None is refused by name', async () => {
    const spellings: [string, KeyObject | string, string][] = [
      ['hs256', alpha.jwtSecret, 'HS256'],
      ['Ed25519', keysA.EdDSA, 'EdDSA'],
      ['ES256K', keysA.ES256, 'ES256'],
      ['PS256', keysA.RS256, 'RS256'],
      ['RS512', keysA.RS256, 'RS256'],
      ['none', alpha.jwtSecret, 'HS256'],
      ['None', alpha.jwtSecret, 'HS256'],
    ];
    for (const [alg, key, signAs] of spellings) {
      const message = `JWT algorithm ${alg} is not allowed`;
      await expectRefused(
        alpha,
        token({ alg, kid: kidOf(signAs, 'alpha') }, key, undefined, signAs),
        'PGRST301',
        message,
        alg,
      );
      await expectRefused(
        alpha,
        `${b64({ alg })}.${b64({ role: 'service_role' })}.`,
        'PGRST301',
        message,
        alg,
      );
    }
  });

  it('header tricks: embedded jwk, jku, x5u, x5c, crit, kid of traversal/SQL/10 kB, duplicate keys, JSON serialization, extra segments', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    for (const extra of [
      { jwk: attackerJwk },
      { jwk: { ...attackerJwk, kid: 'rs256-alpha' }, kid: 'rs256-alpha' },
      { jku: 'http://127.0.0.1:1/jwks.json', kid: 'rs256-alpha' },
      { x5u: 'http://127.0.0.1:1/cert.pem' },
      { x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')] },
    ]) {
      await expectRefused(
        alpha,
        token({ alg: 'RS256', ...extra }, attacker.privateKey),
        'PGRST301',
        BAD_SIGNATURE,
      );
    }
    for (const extra of [
      { crit: ['x-unknown'], 'x-unknown': true },
      { crit: ['b64'], b64: false },
    ]) {
      await expectRefused(
        alpha,
        token({ alg: 'HS256', ...extra }, alpha.jwtSecret),
        'PGRST301',
        'JWT could not be decoded',
      );
      for (const alg of ASYMMETRIC) {
        const jwt = token({ alg, kid: kidOf(alg, 'alpha'), ...extra }, keysA[alg]);
        await expectRefused(alpha, jwt, 'PGRST301', 'JWT could not be decoded', alg);
      }
    }
    for (const kid of ['../../etc/passwd', "hs256-alpha' OR '1'='1", 'k'.repeat(10_240)]) {
      await expectRefused(
        alpha,
        token({ alg: 'HS256', kid }, keysA.shared),
        'PGRST301',
        BAD_SIGNATURE,
        kid.slice(0, 20),
      );
      for (const alg of ASYMMETRIC)
        await expectRefused(alpha, token({ alg, kid }, keysA[alg]), 'PGRST301', NO_KEY, alg);
    }
    const noneLast = token('{"alg":"HS256","alg":"none"}', alpha.jwtSecret);
    await expectRefused(alpha, noneLast, 'PGRST301', 'JWT algorithm none is not allowed');
    const kidTwice = token('{"alg":"HS256","kid":"hs256-alpha","kid":"rs256-alpha"}', keysA.shared);
    await expectRefused(alpha, kidTwice, 'PGRST301', NO_KEY);
    const good = token({ alg: 'HS256' }, alpha.jwtSecret);
    const [h, p, s] = good.split('.') as [string, string, string];
    const json = JSON.stringify({ protected: h, payload: p, signature: s });
    await expectRefused(alpha, b64(json), 'PGRST301', 'Expected 3 parts in JWT; got 1');
    await expectRefused(alpha, `${good}.${s}`, 'PGRST301', 'Expected 3 parts in JWT; got 4');
    await expectRefused(alpha, `${h}.${p}.`, 'PGRST301', BAD_SIGNATURE);
  });

  it("another project's keys: B's RS256, EdDSA and HS256 tokens (B's kids or A's) are refused by A, and A's by B", async () => {
    for (const [self, other, otherKeys, otherTag, selfTag] of [
      [alpha, beta, keysB, 'beta', 'alpha'],
      [beta, alpha, keysA, 'alpha', 'beta'],
    ] as const) {
      for (const alg of ['RS256', 'EdDSA'] as const) {
        await expectRefused(
          self,
          token({ alg, kid: kidOf(alg, otherTag) }, otherKeys[alg]),
          'PGRST301',
          NO_KEY,
          alg,
        );
        await expectRefused(
          self,
          token({ alg, kid: kidOf(alg, selfTag) }, otherKeys[alg]),
          'PGRST301',
          BAD_SIGNATURE,
          alg,
        );
      }
      await expectRefused(
        self,
        token({ alg: 'HS256', kid: `hs256-${otherTag}` }, otherKeys.shared),
        'PGRST301',
        BAD_SIGNATURE,
      );
      await expectRefused(
        self,
        token({ alg: 'HS256', kid: `hs256-${selfTag}` }, otherKeys.shared),
        'PGRST301',
        BAD_SIGNATURE,
      );
      await expectRefused(self, token({ alg: 'HS256' }, other.jwtSecret), 'PGRST301', BAD_SIGNATURE);
    }
  });

  it("a token accepted (and cached) on A is refused on B, and a cached token's claims with another signature are verified afresh", async () => {
    const jwt = token({ alg: 'EdDSA', kid: 'eddsa-alpha' }, keysA.EdDSA, {
      role: 'authenticated',
      exp: NOW + 60,
    });
    await expectForwarded(alpha, jwt);
    await expectForwarded(alpha, jwt);
    await expectRefused(beta, jwt, 'PGRST301', NO_KEY);
    const [h, p] = jwt.split('.');
    const forged = `${h}.${p}.${signature('EdDSA', `${h}.${p}`, keysB.EdDSA)}`;
    await expectRefused(alpha, forged, 'PGRST301', BAD_SIGNATURE);
  });

  it('the client never picks the token: a duplicate Authorization is ignored (the first wins), its own X-Client-Authorization never reaches the upstream', async () => {
    const good = token({ alg: 'ES256', kid: 'es256-alpha' }, keysA.ES256);
    const forged = token(
      { alg: 'HS256', kid: 'rs256-alpha' },
      Buffer.from(JSON.stringify(keysA.jwks.keys[0])),
    );
    const headers = (authorization: string[]) =>
      ({ apikey: alpha.publishableKey, authorization }) as unknown as Record<string, string>;
    const goodFirst = await rawCall(
      url,
      alpha.ref,
      '/rest/v1/todos',
      headers([`Bearer ${good}`, `Bearer ${forged}`]),
    );
    expect(goodFirst.status).toBe(200);
    expect(goodFirst.body.headers['x-client-authorization']).toBe(`Bearer ${good}`);
    const forgedFirst = await rawCall(
      url,
      alpha.ref,
      '/rest/v1/todos',
      headers([`Bearer ${forged}`, `Bearer ${good}`]),
    );
    expect(forgedFirst.status).toBe(401);
    expect(forgedFirst.body).toEqual({ code: 'PGRST301', details: null, hint: null, message: NO_KEY });

    const smuggled = await call(url, alpha.ref, '/rest/v1/todos', {
      headers: { apikey: alpha.publishableKey, 'x-client-authorization': `Bearer ${forged}` },
    });
    expect(smuggled.status).toBe(200);
    const forwarded = String(smuggled.body.headers['x-client-authorization']);
    expect(forwarded).not.toContain(forged);
    expect(JSON.parse(Buffer.from(forwarded.split('.')[1]!, 'base64url').toString())).toMatchObject({
      role: 'anon',
      ref: alpha.ref,
    });
  });

  it('exp, nbf and iat at the 30 s edges, for every algorithm, on the gateway clock', async () => {
    const signers = [
      (claims: Record<string, unknown>) => token({ alg: 'HS256' }, alpha.jwtSecret, claims),
      (claims: Record<string, unknown>) => token({ alg: 'HS256', kid: 'hs256-alpha' }, keysA.shared, claims),
      ...ASYMMETRIC.map(
        (alg) => (claims: Record<string, unknown>) =>
          token({ alg, kid: kidOf(alg, 'alpha') }, keysA[alg], claims),
      ),
    ];
    for (const [i, make] of signers.entries()) {
      const at = (claims: Record<string, unknown>) => make({ role: 'authenticated', n: i, ...claims });
      await expectRefused(alpha, at({ exp: NOW - 31 }), 'PGRST303', 'JWT expired', `${i} exp`);
      await expectForwarded(alpha, at({ exp: NOW - 29 }), `${i} exp-29`);
      await expectForwarded(alpha, at({ nbf: NOW + 30 }), `${i} nbf+30`);
      await expectRefused(alpha, at({ nbf: NOW + 31 }), 'PGRST303', 'JWT not yet valid', `${i} nbf`);
      await expectForwarded(alpha, at({ iat: NOW + 30 }), `${i} iat+30`);
      await expectRefused(alpha, at({ iat: NOW + 31 }), 'PGRST303', 'JWT issued at future', `${i} iat`);
    }
  });

  it('a token cached while valid is refused once the clock passes exp + 30 s', async () => {
    const jwt = token({ alg: 'RS256', kid: 'rs256-alpha' }, keysA.RS256, {
      role: 'authenticated',
      exp: NOW + 5,
    });
    try {
      await expectForwarded(alpha, jwt);
      clockMs = (NOW + 34) * 1000;
      await expectForwarded(alpha, jwt);
      clockMs = (NOW + 36) * 1000;
      await expectRefused(alpha, jwt, 'PGRST303', 'JWT expired');
    } finally {
      clockMs = NOW * 1000;
    }
  });
});
