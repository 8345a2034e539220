import { validateHeaderValue } from 'node:http';
import { mintHs256 } from '@supaplane/jwt';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bearer,
  JWT_SECRET,
  ownerQuery,
  type TestEngine,
  testEngine,
  tokenFor,
  USER_A,
  USER_B,
} from './test/helpers.js';

const t: TestEngine = testEngine();
afterAll(() => t.close());

describe('auth and role switching', () => {
  it('applies RLS on auth.uid(): anon sees nothing, each user their own rows, service_role all', async () => {
    const anon = await t.call('GET', '/todos?select=task&order=id');
    expect(anon.status).toBe(200);
    expect(anon.json).toEqual([]);
    const a = await t.call('GET', '/todos?select=task&order=id', {
      headers: await bearer('authenticated', USER_A),
    });
    expect(a.json).toEqual([{ task: 'a1' }, { task: 'a2' }]);
    const b = await t.call('GET', '/todos?select=task', {
      headers: { 'x-client-authorization': `Bearer ${await tokenFor('authenticated', USER_B)}` },
    });
    expect(b.json).toEqual([{ task: 'b1' }]);
    const service = await t.call('GET', '/todos?select=task', { headers: await bearer('service_role') });
    // service_role bypasses RLS: every user's rows (other suites may add rows of user C).
    expect((service.json as { task: string }[]).map((r) => r.task)).toEqual(
      expect.arrayContaining(['a1', 'a2', 'b1']),
    );
  });

  it("prefers the gateway's X-Client-Authorization and ignores a SigV4 Authorization", async () => {
    const r = await t.call('GET', '/todos?select=task', {
      headers: {
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/20260101/local/lambda/aws4_request, Signature=abc',
        'x-client-authorization': `Bearer ${await tokenFor('authenticated', USER_B)}`,
      },
    });
    expect(r.json).toEqual([{ task: 'b1' }]);
    const sigOnly = await t.call('GET', '/todos', {
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc' },
    });
    expect(sigOnly.status).toBe(200);
    expect(sigOnly.json).toEqual([]);
  });

  it('rejects bad tokens with PGRST301/PGRST303 and WWW-Authenticate', async () => {
    const forged = await mintHs256('some-other-secret-some-other-secret-!!', {
      ref: 'x',
      role: 'service_role',
    });
    const bad = await t.call('GET', '/todos', { headers: { authorization: `Bearer ${forged}` } });
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ code: 'PGRST301' });
    expect(bad.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token", error_description=".+"$/);
    const expired = await mintHs256(JWT_SECRET, { ref: 'x', role: 'authenticated', issuedAt: 1_000_000 });
    const exp = await t.call('GET', '/todos', { headers: { authorization: `Bearer ${expired}` } });
    expect(exp.status).toBe(401);
    expect(exp.json).toEqual({ code: 'PGRST303', message: 'JWT expired', details: null, hint: null });
    expect(exp.headers['www-authenticate']).toBe(
      'Bearer error="invalid_token", error_description="JWT expired"',
    );
    const garbage = await t.call('GET', '/todos', { headers: { authorization: 'Bearer not.a.jwt' } });
    expect(garbage.status).toBe(401);
    const noSecret = testEngine({ jwtSecret: undefined });
    const r = await noSecret.call('GET', '/todos', { headers: await bearer('authenticated', USER_A) });
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ code: 'PGRST300', message: 'Server lacks JWT secret' });
    await noSecret.close();
  });

  it('keeps token text out of WWW-Authenticate unless it is a safe header value', async () => {
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    for (const alg of ['HS1\r\nSet-Cookie: session=x', 'HS\u0101', 'H"S']) {
      const token = `${part({ alg, typ: 'JWT' })}.${part({ role: 'service_role' })}.c2ln`;
      const r = await t.call('GET', '/todos', { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, alg).toBe(401);
      expect(r.json, alg).toMatchObject({ code: 'PGRST301', message: `JWT algorithm ${alg} is not allowed` });
      const header = r.headers['www-authenticate']!;
      expect(() => validateHeaderValue('www-authenticate', header), alg).not.toThrow();
      expect(header, alg).toMatch(/^Bearer error="invalid_token", error_description="[^"]*"$/);
    }
  });

  it('refuses anonymous requests with PGRST302 when no anonymous role is configured', async () => {
    const closed = testEngine({ anonRole: null });
    const r = await closed.call('GET', '/books');
    expect(r.status).toBe(401);
    expect(r.json).toEqual({
      code: 'PGRST302',
      message: 'Anonymous access is disabled',
      details: null,
      hint: null,
    });
    expect(r.headers['www-authenticate']).toBe('Bearer');
    const user = await closed.call('GET', '/todos?select=task', {
      headers: await bearer('authenticated', USER_B),
    });
    expect(user.json).toEqual([{ task: 'b1' }]);
    await closed.close();
  });

  it('refuses roles the login role cannot switch to, and maps privilege errors 401/403', async () => {
    const owner = await t.call('GET', '/books', { headers: await bearer('owner_test') });
    expect(owner.status).toBe(403);
    expect(owner.json).toMatchObject({ code: '42501' });
    const missing = await t.call('GET', '/books', { headers: await bearer('no_such_role') });
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ code: '22023', message: 'role "no_such_role" does not exist' });
    const anon = await t.call('GET', '/secrets');
    expect(anon.status).toBe(401);
    expect(anon.json).toMatchObject({ code: '42501', message: 'permission denied for table secrets' });
    const user = await t.call('GET', '/secrets', { headers: await bearer('authenticated', USER_A) });
    expect(user.status).toBe(403);
    const service = await t.call('GET', '/secrets', { headers: await bearer('service_role') });
    expect(service.status).toBe(200);
  });

  it('sets request.jwt.claims, request.method, request.path and request.headers per request', async () => {
    const r = await t.call('GET', '/rest/v1/rpc/whoami', {
      headers: { ...(await bearer('authenticated', USER_A)), 'user-agent': 'vitest-agent' },
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      uid: USER_A,
      role: 'authenticated',
      method: 'GET',
      path: '/rpc/whoami',
      ua: 'vitest-agent',
    });
    const anon = await t.call('GET', '/rpc/whoami');
    expect(anon.json).toMatchObject({ uid: null, role: 'anon' });
  });

  it("request.headers shows the client's token as authorization, never the gateway hop's SigV4 and AWS headers", async () => {
    await ownerQuery(`CREATE FUNCTION request_headers() RETURNS json LANGUAGE sql STABLE AS $$
        SELECT current_setting('request.headers', true)::json $$`);
    const token = await tokenFor('authenticated', USER_A);
    const hop = {
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00',
      'x-amz-date': '20260101T000000Z',
      'x-amz-security-token': 'session-token',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-supaplane-config-version': '7',
      'user-agent': 'app',
    };
    const user = await t.call('GET', '/rpc/request_headers', {
      headers: { ...hop, 'x-client-authorization': `Bearer ${token}` },
    });
    expect(user.status, JSON.stringify(user.json)).toBe(200);
    expect(user.json).toMatchObject({ authorization: `Bearer ${token}`, 'user-agent': 'app' });
    const names = Object.keys(user.json as object);
    expect(
      names.filter(
        (n) => n.startsWith('x-amz-') || n.startsWith('x-supaplane') || n === 'x-client-authorization',
      ),
    ).toEqual([]);
    // No client token (as the gateway never sends one without): no SigV4 Authorization either.
    const { authorization: _, ...rest } = (await t.call('GET', '/rpc/request_headers', { headers: hop }))
      .json as Record<string, string>;
    expect(_).toBeUndefined();
    expect(rest['user-agent']).toBe('app');
    // Straight to the engine (no gateway), a client's own Authorization stays.
    const direct = await t.call('GET', '/rpc/request_headers', {
      headers: { authorization: `Bearer ${token}` },
    });
    expect((direct.json as Record<string, string>).authorization).toBe(`Bearer ${token}`);
  });

  it('sets request.cookies from the Cookie header, which request.headers leaves out, as PostgREST', async () => {
    await ownerQuery(`CREATE FUNCTION request_cookies() RETURNS json LANGUAGE sql STABLE AS $$
        SELECT json_build_object('cookies', current_setting('request.cookies', true)::json,
          'cookieHeader', current_setting('request.headers', true)::json->'cookie') $$`);
    const r = await t.call('GET', '/rpc/request_cookies', {
      headers: { cookie: 'session=abc=def; theme=dark;flag; theme=light' },
    });
    expect(r.json).toEqual({ cookies: { session: 'abc=def', theme: 'light', flag: '' }, cookieHeader: null });
    const none = await t.call('GET', '/rpc/request_cookies');
    expect(none.json).toEqual({ cookies: {}, cookieHeader: null });
  });
});
