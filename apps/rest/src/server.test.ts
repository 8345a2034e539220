import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RestServer, startRestServer } from './server.js';
import { ownerQuery } from './test/helpers.js';

let server: RestServer;
beforeAll(async () => {
  server = await startRestServer({
    port: 0,
    dbUrl: inject('restDbUrl'),
    listenForReload: false,
    bodyLimit: 1024,
    poolMax: 2,
  });
});
afterAll(() => server?.close());

describe('local server', () => {
  it('serves the OpenAPI root, OPTIONS, HEAD and PostgREST errors for odd paths', async () => {
    const root = await fetch(`${server.url}/rest/v1/`);
    expect(root.status).toBe(200);
    const doc = (await root.json()) as {
      swagger: string;
      paths: Record<string, unknown>;
      definitions: Record<string, unknown>;
    };
    expect(doc.swagger).toBe('2.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/books', '/rpc/add']));
    expect(doc.definitions.books).toMatchObject({ required: ['id', 'title', 'tags'] });
    const options = await fetch(`${server.url}/books`, { method: 'OPTIONS' });
    expect(options.headers.get('allow')).toContain('PATCH');
    const head = await fetch(`${server.url}/books?select=id`, {
      method: 'HEAD',
      headers: { prefer: 'count=exact' },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-range')).toBe('0-5/6');
    const nested = await fetch(`${server.url}/books/1`);
    expect(nested.status).toBe(404);
    expect(await nested.json()).toMatchObject({ code: 'PGRST125' });
  });

  it('passes the raw query string through and refuses bodies over the limit with 413', async () => {
    const r = await fetch(`${server.url}/books?select=id,t:title&title=in.(%22Kindred%22,%22x,y%22)`);
    expect(await r.json()).toEqual([{ id: 3, t: 'Kindred' }]);
    const big = await fetch(`${server.url}/books`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x'.repeat(4096) }),
    });
    expect(big.status).toBe(413);
  });

  it('sends each Set-Cookie a function sets in response.headers as a header line of its own', async () => {
    await ownerQuery(`CREATE FUNCTION server_login() RETURNS void LANGUAGE sql AS $$
        SELECT set_config('response.headers',
          '[{"Set-Cookie": "a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT"}, {"Set-Cookie": "b=2"}]', true) $$`);
    const r = await fetch(`${server.url}/rpc/server_login`, { method: 'POST' });
    expect(r.status).toBe(204);
    expect(r.headers.getSetCookie()).toEqual(['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'b=2']);
  });

  it('answers a token whose header carries CR/LF with a 401, and keeps serving', async () => {
    const secured = await startRestServer({
      port: 0,
      dbUrl: inject('restDbUrl'),
      listenForReload: false,
      jwtSecret: 'server-test-secret-server-test-secret-0123',
      poolMax: 1,
    });
    try {
      const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const token = `${part({ alg: 'HS1\r\nX-Injected: 1', typ: 'JWT' })}.${part({ role: 'anon' })}.c2ln`;
      const r = await fetch(`${secured.url}/books`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5_000),
      });
      expect(r.status).toBe(401);
      expect(r.headers.get('x-injected')).toBeNull();
      expect((await fetch(`${secured.url}/books?select=id&id=eq.1`)).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});
