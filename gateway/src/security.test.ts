import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { generateApiKey } from '@supaplane/keys';
import { type RunningRedis, startRedis } from '@supaplane/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import {
  BASE_DOMAIN,
  PREFIXES,
  TEST_AWS,
  call,
  claimsOf,
  prefixPath,
  rawCall,
  testConfig,
  upstreamsFor,
} from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';
import { ecKeyPair, es256, hs256, nowSeconds, unsigned } from './testing/tokens.js';

/**
 * The shared security suite: every case runs for two projects against every API prefix.
 */
let redis: RunningRedis;
let echo: EchoUpstream;
let registry: RegistryServer;
let running: RunningGateway;
let url: string;
let alpha: TestProject;
let beta: TestProject;
let paused: TestProject;
let inactive: TestProject;
let deleted: TestProject;
const signingKey = ecKeyPair('k1');
const strangerKey = ecKeyPair('k1');

beforeAll(async () => {
  [redis, echo] = await Promise.all([startRedis(), startEchoUpstream(TEST_AWS)]);
  registry = await startRegistryServer({ token: 'internal-token-for-tests', redisUrl: redis.url });
  const jwks = { keys: [signingKey.jwk] };
  alpha = registry.addProject('alphaalphaalphaalpha', {
    upstreams: upstreamsFor('alphaalphaalphaalpha', echo.port),
    jwks,
  });
  beta = registry.addProject('betabetabetabetabeta', {
    upstreams: upstreamsFor('betabetabetabetabeta', echo.port),
    jwks,
  });
  paused = registry.addProject('pausedpausedpausedpp', {
    upstreams: upstreamsFor('pausedpausedpausedpp', echo.port),
    status: 'PAUSED',
  });
  // Supabase's name for a paused project: a tenant-manager's record (or one cached) may say either.
  inactive = registry.addProject('inactiveinactiveinac', {
    upstreams: upstreamsFor('inactiveinactiveinac', echo.port),
    status: 'INACTIVE',
  });
  deleted = registry.addProject('deleteddeleteddelete', {
    upstreams: upstreamsFor('deleteddeleteddelete', echo.port),
  });
  await registry.deleteProject(deleted.ref);
  running = await startGateway(testConfig(registry, {}, redis.url));
  url = running.url;
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  await echo?.close();
  await redis?.stop();
});

const combos = () =>
  [
    [() => alpha, () => beta],
    [() => beta, () => alpha],
  ].flatMap(([self, other]) => PREFIXES.map((prefix) => ({ self: self!, other: other!, prefix })));

async function expectRefused(
  ref: string,
  path: string,
  headers: Record<string, string>,
  status: number,
  body: Record<string, unknown>,
) {
  const before = echo.requests.length;
  const res = await call(url, ref, path, { headers });
  expect(res.status, `${ref} ${path}`).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toMatchObject(body);
  expect(echo.requests.length, 'nothing reached the upstream').toBe(before);
}

describe('security suite: two projects × every prefix', () => {
  it('serves a valid publishable key, signed, with a minted anon JWT and no apikey forwarded', async () => {
    for (const { self, prefix } of combos()) {
      const p = self();
      const res = await call(url, p.ref, `${prefixPath(prefix)}?select=*`, {
        headers: { apikey: p.publishableKey },
      });
      expect(res.status, `${p.ref} ${prefix}`).toBe(200);
      expect(res.body.host).toMatch(new RegExp(`^${prefix}-${p.ref}\\.`));
      expect(res.body.path).toBe(prefixPath(prefix));
      expect(res.body.headers.apikey).toBeUndefined();
      const token = String(res.body.headers['x-client-authorization']).replace(/^Bearer /, '');
      expect(claimsOf(token)).toMatchObject({ iss: 'supabase', ref: p.ref, role: 'anon' });
      expect(res.body.signature).toBe(['rest', 'auth', 'graphql'].includes(prefix) ? 'valid' : 'none');
    }
  });

  it('answers CORS preflight before any key check', async () => {
    for (const { self, prefix } of combos()) {
      const res = await call(url, self().ref, prefixPath(prefix), {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'apikey, authorization, content-type',
        },
      });
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-headers']).toContain('apikey');
    }
  });

  it('refuses a request without a key', async () => {
    for (const { self, prefix } of combos()) {
      await expectRefused(self().ref, prefixPath(prefix), {}, 401, {
        message: 'No API key found in request',
      });
    }
  });

  it('refuses garbage, right-shape fakes and keys with a valid checksum that were never issued', async () => {
    for (const { self, prefix } of combos()) {
      const ref = self().ref;
      const fakeShape = `sb_publishable_${randomBytes(17).toString('base64url').slice(0, 22)}_abcdefgh`;
      for (const key of [
        'garbage',
        fakeShape,
        generateApiKey(ref, 'publishable'),
        generateApiKey(ref, 'secret'),
      ]) {
        await expectRefused(ref, prefixPath(prefix), { apikey: key }, 401, { message: 'Invalid API key' });
      }
      await expectRefused(ref, prefixPath(prefix), { authorization: 'Bearer sb_secret_nope' }, 401, {
        message: 'Invalid API key',
      });
    }
  });

  it("refuses the other project's keys", async () => {
    for (const { self, other, prefix } of combos()) {
      for (const key of [other().publishableKey, other().secretKey]) {
        await expectRefused(self().ref, prefixPath(prefix), { apikey: key }, 401, {
          message: 'Invalid API key',
        });
        await expectRefused(self().ref, `${prefixPath(prefix)}?apikey=${key}`, {}, 401, {
          message: 'Invalid API key',
        });
      }
    }
  });

  it('refuses revoked keys', async () => {
    const revoked = new Map<string, string>();
    for (const p of [alpha, beta]) {
      const key = registry.addKey(p.ref, 'publishable');
      await registry.revokeKey(key);
      revoked.set(p.ref, key);
    }
    for (const { self, prefix } of combos()) {
      await expectRefused(self().ref, prefixPath(prefix), { apikey: revoked.get(self().ref)! }, 401, {
        message: 'Invalid API key',
      });
    }
  });

  it('answers 503 for a paused project (PAUSED or INACTIVE) and 404 for a deleted one', async () => {
    for (const prefix of PREFIXES) {
      for (const p of [paused, inactive]) {
        await expectRefused(p.ref, prefixPath(prefix), { apikey: p.publishableKey }, 503, {
          message: 'Project is paused',
        });
      }
      await expectRefused(deleted.ref, prefixPath(prefix), { apikey: deleted.secretKey }, 404, {
        message: 'Project not found',
      });
    }
  });

  it('refuses a secret key sent by a browser', async () => {
    const browser =
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36';
    for (const { self, prefix } of combos()) {
      await expectRefused(
        self().ref,
        prefixPath(prefix),
        { apikey: self().secretKey, 'user-agent': browser },
        401,
        {
          message: 'Forbidden use of secret API key in browser',
        },
      );
      await expectRefused(
        self().ref,
        prefixPath(prefix),
        { apikey: self().secretKey, origin: 'https://app.example' },
        401,
        {
          message: 'Forbidden use of secret API key in browser',
        },
      );
      // Node's fetch (supabase-js on a server) sends `sec-fetch-mode: cors` and is not a browser.
      const server = await call(url, self().ref, prefixPath(prefix), {
        headers: { apikey: self().secretKey, 'user-agent': 'node', 'sec-fetch-mode': 'cors' },
      });
      expect(server.status).toBe(200);
      expect(claimsOf(String(server.body.headers['x-client-authorization']).slice(7)).role).toBe(
        'service_role',
      );
    }
  });

  it('refuses tampered, expired, alg:none, wrong-kid, foreign and HS/RS-confused tokens with PostgREST bodies', async () => {
    for (const { self, other, prefix } of combos()) {
      const p = self();
      const claims = { role: 'authenticated', sub: 'user-1', ref: p.ref, exp: nowSeconds() + 600 };
      const good = hs256(p.jwtSecret, claims);
      const [h, , s] = good.split('.');
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'service_role' })).toString('base64url')}.${s}`;
      const cases: Array<[string, string]> = [
        [tampered, 'PGRST301'],
        [hs256(p.jwtSecret, { ...claims, exp: nowSeconds() - 120 }), 'PGRST303'],
        [unsigned({ ...claims, role: 'service_role' }), 'PGRST301'],
        [es256(signingKey.privateKey, 'unknown-kid', claims), 'PGRST301'],
        [es256(strangerKey.privateKey, 'k1', claims), 'PGRST301'],
        [hs256(other().jwtSecret, claims), 'PGRST301'],
        [hs256(JSON.stringify(signingKey.jwk), claims, { kid: 'k1' }), 'PGRST301'],
        ['not-a-jwt', 'PGRST301'],
      ];
      for (const [token, code] of cases) {
        await expectRefused(
          p.ref,
          prefixPath(prefix),
          { apikey: p.publishableKey, authorization: `Bearer ${token}` },
          401,
          { code },
        );
      }
      // A valid user token travels unchanged, HS256 or ES256 by kid.
      for (const token of [good, es256(signingKey.privateKey, 'k1', claims)]) {
        const res = await call(url, p.ref, prefixPath(prefix), {
          headers: { apikey: p.publishableKey, authorization: `Bearer ${token}` },
        });
        expect(res.status).toBe(200);
        expect(res.body.headers['x-client-authorization']).toBe(`Bearer ${token}`);
      }
    }
  });

  it('refuses a token whose `alg` holds a line break or a non-Latin-1 character with 401, not a 500 from the header it is quoted in', async () => {
    const p = alpha;
    const payload = Buffer.from(JSON.stringify({ role: 'service_role' })).toString('base64url');
    for (const alg of ['HS256\r\nx-injected: 1', 'HS256\u0100', 'HS256"\\']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
      const res = await call(url, p.ref, '/rest/v1/todos', {
        headers: { apikey: p.publishableKey, authorization: `Bearer ${header}.${payload}.sig` },
      });
      expect(res.status, JSON.stringify(alg)).toBe(401);
      expect(res.body).toEqual({
        code: 'PGRST301',
        details: null,
        hint: null,
        message: `JWT algorithm ${alg} is not allowed`,
      });
      expect(res.headers['x-injected']).toBeUndefined();
      expect(res.headers['www-authenticate']).toMatch(
        /^Bearer error="invalid_token", error_description="[\x20-\x21\x23-\x5b\x5d-\x7e]*"$/,
      );
    }
  });

  it('refuses an Authorization that is no Bearer token with PGRST301, and takes the scheme in any case', async () => {
    for (const { self, prefix } of combos()) {
      const p = self();
      const token = hs256(p.jwtSecret, { role: 'authenticated', sub: 'u', exp: nowSeconds() + 600 });
      const cases: Array<[string, string]> = [
        ['Basic dXNlcjpwYXNz', 'Authorization header must use the Bearer scheme'],
        [token, 'Authorization header must use the Bearer scheme'],
        ['Bearer ', 'Empty JWT is sent in Authorization header'],
        ['bearer', 'Empty JWT is sent in Authorization header'],
      ];
      for (const [authorization, message] of cases) {
        await expectRefused(p.ref, prefixPath(prefix), { apikey: p.publishableKey, authorization }, 401, {
          code: 'PGRST301',
          message,
        });
      }
      const res = await call(url, p.ref, prefixPath(prefix), {
        headers: { apikey: p.publishableKey, authorization: `bEaReR ${token}` },
      });
      expect(res.status).toBe(200);
      expect(res.body.headers['x-client-authorization']).toBe(`Bearer ${token}`);
    }
  });

  it('ignores spoofed project headers: the host decides the project', async () => {
    for (const { self, other, prefix } of combos()) {
      const spoof = { 'x-project-ref': other().ref, 'x-project-id': other().ref, 'x-tenant-id': other().ref };
      await expectRefused(self().ref, prefixPath(prefix), { ...spoof, apikey: other().publishableKey }, 401, {
        message: 'Invalid API key',
      });
      const res = await call(url, self().ref, prefixPath(prefix), {
        headers: { ...spoof, apikey: self().publishableKey, 'x-client-authorization': 'Bearer forged' },
      });
      expect(res.status).toBe(200);
      expect(res.body.host).toContain(self().ref);
      expect(res.body.headers['x-project-ref']).toBeUndefined();
      expect(res.body.headers['x-project-id']).toBeUndefined();
      expect(res.body.headers['x-tenant-id']).toBeUndefined();
      expect(res.body.headers['x-client-authorization']).not.toBe('Bearer forged');
    }
  });

  it('routes a mixed-case host, and refuses an invalid host and unknown routes without touching the upstream', async () => {
    const res = await call(url, alpha.ref.toUpperCase(), '/rest/v1/todos', {
      headers: { apikey: alpha.publishableKey },
    });
    expect(res.status).toBe(200);
    await expectRefused('bad_ref!', '/rest/v1/todos', { apikey: alpha.publishableKey }, 404, {
      message: expect.stringContaining('Unknown host'),
    });
    await expectRefused(alpha.ref, '/admin/v1/x', { apikey: alpha.secretKey }, 404, {
      message: 'no Route matched with those values',
    });
    // node:http sends the path as written (a WHATWG URL client would normalise dot segments first).
    for (const path of [
      '/rest/v1/../../admin/x',
      '/rest/v1/a/%2e%2E/b',
      '/rest/v1//todos',
      '/rest/v1/bad%zz',
    ]) {
      const before = echo.requests.length;
      const { status, body } = await rawCall(url, alpha.ref, path, { apikey: alpha.secretKey });
      expect(status, path).toBe(400);
      expect(body).toEqual({ message: 'Invalid request path' });
      expect(echo.requests.length).toBe(before);
    }
  });
});

describe("cookies a project's upstream sets", () => {
  it("stay on the project's own host: a Domain attribute (the base domain, so every other project) is dropped", async () => {
    // Hosted Supabase's project domain is on the Public Suffix List, so browsers refuse such cookies;
    // an operator's base domain is not. One project could otherwise set cookies every other project
    // receives (its `request.cookies` policies) or that make every request to them too large.
    for (const prefix of PREFIXES) {
      const path = `/${prefix}/v1/__cookies`;
      const res = await call(url, alpha.ref, path, { headers: { apikey: alpha.publishableKey } });
      expect(res.status, path).toBe(200);
      expect(res.headers['set-cookie'], path).toEqual([
        'wide=1; Path=/',
        'dotted=2; path=/; Secure',
        'spaced=3 ;HttpOnly',
        'own=4; Path=/',
        'value=domain=x; Max-Age=60',
      ]);
    }
  });
});

describe('the Host header', () => {
  /** One request with `hostLines` as written (node's and undici's clients send one valid Host). */
  const withHost = (hostLines: string[]) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const client = connect(Number(new URL(url).port), '127.0.0.1');
      let received = '';
      client.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      client.on('error', reject);
      client.on('close', () => {
        const [head, body] = received.split('\r\n\r\n');
        const status = Number(head!.split(' ')[1]);
        // The gateway's own answers are plain JSON; a relayed one's body is not needed here.
        resolve({ status, body: status === 200 ? null : JSON.parse(body!) });
      });
      const host = hostLines.map((value) => `Host: ${value}\r\n`).join('');
      client.write(
        `GET /rest/v1/todos HTTP/1.1\r\n${host}apikey: ${alpha.publishableKey}\r\nConnection: close\r\n\r\n`,
      );
    });
  const alphaHost = () => `${alpha.ref}.${BASE_DOMAIN}`;

  it('refuses a repeated Host or one with a port that is no port with 400, before anything else', async () => {
    const before = echo.requests.length;
    for (const hosts of [
      [alphaHost(), `${beta.ref}.${BASE_DOMAIN}`],
      [alphaHost(), alphaHost()],
      [`${alphaHost()}:8000`, `${alphaHost()}:8000`],
      [`${alphaHost()}:99999`],
      [`${alphaHost()}:80a`],
      [`${alphaHost()}:-1`],
      [`${BASE_DOMAIN}, ${alphaHost()}`],
    ]) {
      expect(await withHost(hosts), hosts.join(' | ')).toEqual({
        status: 400,
        body: { message: 'Invalid Host header' },
      });
    }
    expect(echo.requests.length).toBe(before);
  });

  it('routes upper case, a trailing dot and any port, and answers unknown hosts with 404', async () => {
    for (const host of [
      alphaHost().toUpperCase(),
      `${alphaHost()}.`,
      `${alphaHost()}.:443`,
      `${alphaHost()}:1`,
    ]) {
      expect((await withHost([host])).status, host).toBe(200);
    }
    for (const host of ['[::1]:8000', '[::1]', `${'a'.repeat(4000)}.${BASE_DOMAIN}`, `x@${alphaHost()}`]) {
      expect(await withHost([host]), host).toEqual({
        status: 404,
        body: { message: 'Unknown host: use https://<project-ref>.<base-domain>' },
      });
    }
  });
});

describe("the project's JWKS at /auth/v1/.well-known/jwks.json", () => {
  const path = '/auth/v1/.well-known/jwks.json';
  let withKeys: TestProject;
  let hsOnly: TestProject;

  beforeAll(() => {
    const { rest } = upstreamsFor('jwksjwksjwksjwksjwks', echo.port);
    // A key record as it might be stored: anything past the public members must never go out.
    withKeys = registry.addProject('jwksjwksjwksjwksjwks', {
      upstreams: { rest: rest! },
      jwks: { keys: [{ ...signingKey.jwk, d: 'private-part-never-published', status: 'in_use' }] },
    });
    hsOnly = registry.addProject('hsonlyhsonlyhsonlyhs', {
      upstreams: { rest: upstreamsFor('hsonlyhsonlyhsonlyhs', echo.port).rest! },
    });
  });

  it('serves the public keys without an API key (and with one), with CORS, when no auth service is configured', async () => {
    const before = echo.requests.length;
    for (const headers of [{}, { apikey: withKeys.publishableKey }] as Record<string, string>[]) {
      const res = await call(url, withKeys.ref, path, { headers });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ keys: [signingKey.jwk] });
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['cache-control']).toBe('public, max-age=60');
    }
    expect(JSON.stringify((await call(url, withKeys.ref, path)).body)).not.toContain('private-part');
    // Each project its own: one with only the HS256 secret publishes none.
    expect((await call(url, hsOnly.ref, path)).body).toEqual({ keys: [] });
    expect(echo.requests.length).toBe(before);
  });

  it('never publishes a shared secret: no sharedKeys entry, no oct key, no k member', async () => {
    const secretBytes = Buffer.from('imported-shared-secret-never-published').toString('base64url');
    const kid = '0b6f2c1e-95a4-4f0e-8a57-1d2c3b4a5e01';
    const ref = 'sharedsharedsharedsh';
    registry.addProject(ref, {
      upstreams: { rest: upstreamsFor(ref, echo.port).rest! },
      sharedKeys: [{ kid, k: secretBytes }],
      // A record as a faulty tenant-manager might send it: an oct key slipped into the public set.
      jwks: { keys: [signingKey.jwk, { kty: 'oct', k: secretBytes, kid: 'oct-in-jwks', alg: 'HS256' }] },
    });
    const res = await call(url, ref, path);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ keys: [signingKey.jwk] });
    const text = JSON.stringify(res.body);
    for (const leak of [secretBytes, kid, 'oct', '"k"']) expect(text).not.toContain(leak);
  });

  it('leaves the path to a configured auth service, and refuses other methods and unknown or paused projects', async () => {
    const before = echo.requests.length;
    const res = await call(url, alpha.ref, path, { headers: { apikey: alpha.publishableKey } });
    expect(res.status).toBe(200);
    expect(echo.requests.length).toBe(before + 1);
    expect(
      (await call(url, withKeys.ref, path, { method: 'POST', headers: { apikey: withKeys.publishableKey } }))
        .status,
    ).toBe(404);
    expect((await call(url, 'nosuchprojectnosuch', path)).status).toBe(404);
    expect((await call(url, paused.ref, path)).status).toBe(503);
  });
});

describe('the OpenAPI root /rest/v1/', () => {
  it('is served to secret keys only, as on hosted Supabase; publishable keys keep every table and function path', async () => {
    const before = echo.requests.length;
    const token = hs256(alpha.jwtSecret, { ref: alpha.ref, role: 'authenticated', exp: nowSeconds() + 60 });
    for (const path of ['/rest/v1/', '/rest/v1']) {
      for (const headers of [
        { apikey: alpha.publishableKey },
        { apikey: alpha.publishableKey, authorization: `Bearer ${token}` },
      ] as Record<string, string>[]) {
        const res = await call(url, alpha.ref, path, { headers });
        expect(res.status, path).toBe(403);
        expect(res.body).toMatchObject({
          message: expect.stringContaining('only served to secret API keys'),
        });
        expect(res.headers['access-control-allow-origin']).toBe('*');
      }
    }
    expect(echo.requests.length).toBe(before);
    expect((await call(url, alpha.ref, '/rest/v1/', { headers: { apikey: alpha.secretKey } })).status).toBe(
      200,
    );
    expect(
      (await call(url, alpha.ref, '/rest/v1/todos', { headers: { apikey: alpha.publishableKey } })).status,
    ).toBe(200);
    expect(echo.requests.length).toBe(before + 2);
  });
});
