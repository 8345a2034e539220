import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type Harness, internal, startHarness } from '../../test/harness.js';

const logLines: string[] = [];
let h: Harness;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  h = await startHarness({ logger: pino({ level: 'debug' }, sink) });
  await h.registerCluster('security', 10);
});
afterAll(() => h?.close());

type Route = { method: string; url: string };

/** Every documented operator route, with path parameters filled in. */
async function documentedRoutes(): Promise<Route[]> {
  const spec = (await h.tm.publicApp.inject({ url: '/docs/json' })).json() as {
    paths: Record<string, object>;
  };
  return Object.entries(spec.paths).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => ({
      method: method.toUpperCase(),
      url: path.replace('{ref}', 'sec-missing').replace('{id}', '00000000-0000-0000-0000-000000000000'),
    })),
  );
}

describe('every route that takes a key refuses a request without the right one', () => {
  it('public API: no key, a wrong key, the internal token → 401 on every documented route', async () => {
    const routes = await documentedRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(20);
    for (const route of routes) {
      for (const headers of [{}, { authorization: 'Bearer nope' }, internal]) {
        const response = await h.tm.publicApp.inject({
          method: route.method as 'GET',
          url: route.url,
          headers,
        });
        expect(response.statusCode, `${route.method} ${route.url}`).toBe(401);
        expect(response.json().code).toBe('unauthorized');
      }
    }
  });

  it('internal API: no token or the admin key → 401', async () => {
    for (const url of [
      '/internal/v1/projects/sec-missing/config',
      '/internal/v1/projects/sec-missing/rest-config',
      `/internal/v1/api-keys/${'0'.repeat(64)}`,
    ]) {
      for (const headers of [{}, admin, { authorization: `Bearer ${'x'.repeat(30)}` }]) {
        expect((await h.tm.internalApp.inject({ url, headers })).statusCode, url).toBe(401);
      }
    }
  });
});

describe('logs', () => {
  it('never contain a secret: keys, JWT secret, database passwords, admin credentials', async () => {
    const created = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: admin,
      payload: { name: 'logs', ref: 'sec-logs' },
    });
    expect(created.json().status).toBe('ACTIVE_HEALTHY');
    const keys = (
      await h.tm.publicApp.inject({ url: '/v1/projects/sec-logs/api-keys?reveal=true', headers: admin })
    ).json();
    const { jwt_secret } = (
      await h.tm.publicApp.inject({ url: '/v1/projects/sec-logs/postgrest', headers: admin })
    ).json();
    const rest = (
      await h.tm.internalApp.inject({ url: '/internal/v1/projects/sec-logs/rest-config', headers: internal })
    ).json();
    await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects/sec-logs/database/query',
      headers: admin,
      payload: { query: 'select broken' },
    });
    await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects/sec-logs/secrets',
      headers: admin,
      payload: [{ name: 'TOKEN', value: 'value-that-must-not-leak' }],
    });

    const logs = logLines.join('');
    expect(logs).toContain('provisioning step done'); // the sink really receives the logs
    for (const secret of [
      ...keys.map((k: { api_key: string }) => k.api_key),
      jwt_secret,
      rest.db.password,
      'value-that-must-not-leak',
      'test-admin-key-0123456789',
      'test-internal-token-0123456789',
    ]) {
      expect(logs).not.toContain(secret);
    }
  });
});
