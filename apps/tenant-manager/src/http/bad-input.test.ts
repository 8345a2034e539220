import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_APP_CONFIG, admin, type Harness, internal, startHarness } from '../../test/harness.js';
import { installErrorHandling } from './errors.js';

let h: Harness;
let clusterId: string;

beforeAll(async () => {
  h = await startHarness();
  clusterId = await h.registerCluster('bad-input', 20);
  const created = await h.tm.publicApp.inject({
    method: 'POST',
    url: '/v1/projects',
    headers: admin,
    payload: { name: 'taken', ref: 'bad-taken' },
  });
  expect(created.statusCode).toBe(201);
});
afterAll(() => h?.close());

const post = (url: string, payload: unknown, headers: Record<string, string> = admin) =>
  h.tm.publicApp.inject({ method: 'POST', url, headers, payload: payload as object });

describe('bad input answers a clear JSON error', () => {
  it.each([
    ['no header', {}],
    ['wrong key', { authorization: 'Bearer test-admin-key-0123456788' }],
    ['internal token on the public API', internal],
    ['not a bearer', { authorization: 'Basic dGVzdA==' }],
  ])('401 for %s', async (_label, headers) => {
    const response = await h.tm.publicApp.inject({ url: '/v1/projects', headers });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({
      message: 'missing or invalid admin bearer token',
      code: 'unauthorized',
    });
  });

  it('401 on the internal API without its own token (the admin key does not work there)', async () => {
    const response = await h.tm.internalApp.inject({
      url: '/internal/v1/projects/bad-taken/config',
      headers: admin,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().message).toBe('missing or invalid internal bearer token');
  });

  it.each([
    [{ name: 'x', ref: 'UPPER' }, 'invalid project ref'],
    [{ name: 'x', ref: 'ab' }, 'invalid project ref'],
    [{ name: 'x', ref: '-leading' }, 'invalid project ref'],
    [{ name: 'x', ref: 'x'.repeat(41) }, 'invalid project ref'],
    [{ name: 'x', ref: 'semi;colon' }, 'invalid project ref'],
    [{ name: '   ' }, 'invalid project name'],
    [{ name: 'bell\u0007' }, 'invalid project name'],
    [{ name: 'y'.repeat(257) }, 'invalid project name'],
  ])('400 for %j', async (payload, message) => {
    const response = await post('/v1/projects', payload);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain(message);
  });

  it('400 when the body misses a field or has the wrong type', async () => {
    const response = await post('/v1/projects', { ref: 'bad-noname' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      message: "body must have required property 'name'",
      code: 'validation_failed',
    });
  });

  it('400 naming a field the body does not have, rather than ignoring a typo', async () => {
    for (const [method, url, payload, field] of [
      ['POST', '/v1/projects', { name: 'typo', reff: 'bad-typo' }, 'reff'],
      ['PATCH', '/v1/projects/bad-taken', { limit: { db_connections: 5 } }, 'limit'],
      ['PATCH', '/v1/projects/bad-taken', { limits: { db_conections: 5 } }, 'db_conections'],
      ['POST', '/v1/projects/bad-taken/api-keys', { type: 'secret', name: 'k', descr: 'x' }, 'descr'],
      ['POST', '/v1/projects/bad-taken/secrets', [{ name: 'A', value: 'b', vaule: 'c' }], 'vaule'],
      ['POST', '/v1/projects/bad-taken/database/query', { query: 'select 1', params: [] }, 'params'],
      ['PATCH', `/v1/clusters/${clusterId}`, { capacity: 20, wieght: 2 }, 'wieght'],
    ] as const) {
      const response = await h.tm.publicApp.inject({ method, url, headers: admin, payload });
      expect(response.statusCode, `${method} ${url}`).toBe(400);
      expect(response.json()).toEqual({
        message: expect.stringContaining(`must NOT have additional properties: '${field}'`),
        code: 'validation_failed',
      });
    }
    // and nothing happened
    expect((await h.tm.publicApp.inject({ url: '/v1/projects/bad-typo', headers: admin })).statusCode).toBe(
      404,
    );
    const project = (await h.tm.publicApp.inject({ url: '/v1/projects/bad-taken', headers: admin })).json();
    expect(project.limits.db_connections).toBe(60);
    expect(
      (await h.tm.publicApp.inject({ url: '/v1/projects/bad-taken/secrets', headers: admin })).json(),
    ).toEqual([]);
    const cluster = (
      await h.tm.publicApp.inject({ url: `/v1/clusters/${clusterId}`, headers: admin })
    ).json();
    expect(cluster.capacity).toBe(20);
  });

  it('400 for pagination out of range, never a 500', async () => {
    for (const query of [
      'offset=99999999999999999999',
      'offset=1e30',
      'offset=-1',
      'limit=0',
      'limit=1001',
    ]) {
      const response = await h.tm.publicApp.inject({ url: `/v1/projects?${query}`, headers: admin });
      expect(response.statusCode, query).toBe(400);
      expect(response.json().code).toBe('validation_failed');
    }
    const last = await h.tm.publicApp.inject({ url: '/v1/projects?offset=2147483647', headers: admin });
    expect(last.json()).toEqual([]);
  });

  it('409 for a duplicate ref', async () => {
    const response = await post('/v1/projects', { name: 'again', ref: 'bad-taken' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toEqual({
      message: 'a project with ref bad-taken already exists',
      code: 'duplicate_ref',
    });
  });

  it('404 for an unknown project on every project route, 400 for a malformed ref', async () => {
    for (const [method, url] of [
      ['GET', '/v1/projects/bad-missing'],
      ['DELETE', '/v1/projects/bad-missing'],
      ['POST', '/v1/projects/bad-missing/pause'],
      ['GET', '/v1/projects/bad-missing/postgrest'],
      ['GET', '/v1/projects/bad-missing/api-keys'],
      ['GET', '/v1/projects/bad-missing/secrets'],
      ['GET', '/v1/projects/bad-missing/signing-keys'],
    ] as const) {
      const response = await h.tm.publicApp.inject({ method, url, headers: admin });
      expect(response.statusCode, url).toBe(404);
      expect(response.json()).toEqual({ message: 'project not found', code: 'not_found' });
    }
    const internalMiss = await h.tm.internalApp.inject({
      url: '/internal/v1/projects/bad-missing/config',
      headers: internal,
    });
    expect(internalMiss.statusCode).toBe(404);
    expect(internalMiss.json().message).toBe('project not found');
    const malformed = await h.tm.publicApp.inject({ url: '/v1/projects/NOT_A_REF', headers: admin });
    expect(malformed.statusCode).toBe(400);
  });

  it('413 for a body over 1 MiB', async () => {
    const response = await post('/v1/projects/bad-taken/database/query', {
      query: `select '${'x'.repeat(1024 * 1024)}'`,
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({
      message: expect.stringMatching(/too large/i),
      code: 'payload_too_large',
    });
  });

  it('400 for malformed JSON', async () => {
    const response = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      message: expect.stringContaining('malformed JSON'),
      code: 'invalid_json',
    });
  });

  it('404 JSON for unknown routes, 400 for a malformed key hash', async () => {
    const route = await h.tm.publicApp.inject({ url: '/v2/nothing', headers: admin });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toEqual({ message: 'route GET /v2/nothing not found', code: 'route_not_found' });
    const hash = await h.tm.internalApp.inject({ url: '/internal/v1/api-keys/xyz', headers: internal });
    expect(hash.statusCode).toBe(400);
  });

  it("answers the router's own refusals in the API's shape: a broken escape, an overlong path value", async () => {
    const broken = await h.tm.publicApp.inject({ url: '/v1/projects/ab%zzcd', headers: admin });
    expect(broken.statusCode).toBe(400);
    expect(broken.json()).toEqual({
      message:
        "malformed URL '/v1/projects/ab%zzcd': its %-escapes do not decode (each is % and two hex digits, together UTF-8)",
      code: 'bad_url',
    });
    const notUtf8 = await h.tm.publicApp.inject({ url: '/v1/projects/ab%C3%28', headers: admin });
    expect([notUtf8.statusCode, notUtf8.json().code]).toEqual([400, 'bad_url']);
    const ref = 'a'.repeat(120);
    for (const [app, url, headers] of [
      [h.tm.publicApp, `/v1/projects/${ref}/api-keys`, admin],
      [h.tm.internalApp, `/internal/v1/projects/${ref}/config`, internal],
    ] as const) {
      const response = await app.inject({ url, headers });
      expect(response.statusCode).toBe(414);
      expect(response.json()).toEqual({
        message: 'a path value is longer than 100 characters',
        code: 'path_value_too_long',
      });
    }
  });

  it('every error body carries a code: an unsupported media type, an empty JSON body, a 500', async () => {
    const xml = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...admin, 'content-type': 'application/xml' },
      payload: '<project/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json()).toMatchObject({ code: 'unsupported_media_type' });
    const empty = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { ...admin, 'content-type': 'application/json' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ code: 'invalid_json' });

    const app = Fastify({ logger: false });
    installErrorHandling(app);
    app.get('/boom', async () => {
      throw new Error('select * from secrets');
    });
    const boom = await app.inject({ url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.json()).toEqual({ message: 'internal server error', code: 'internal_error' });
    await app.close();
  });

  it('hides internals of a 5xx and never echoes secrets', async () => {
    const broken = await post('/v1/clusters', {
      name: 'unreachable',
      host: '127.0.0.1',
      port: 1,
      admin_user: 'postgres',
      admin_password: 'hunter2-super-secret',
      capacity: 1,
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('cluster_unreachable');
    expect(broken.body).not.toContain('hunter2-super-secret');
  });
});

describe('load shedding', () => {
  /** Holds this thread (the tenant-manager's event loop) for `ms` without spinning a core. */
  const hold = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const nextTimers = () => new Promise((resolve) => setTimeout(resolve, 0));

  it('answers 503 overloaded with Retry-After while the event loop runs seconds behind, and serves again once it catches up', async () => {
    const shedding = await startHarness({ config: { ...TEST_APP_CONFIG, maxEventLoopDelayMs: 2_000 } });
    try {
      await expectShedding(shedding);
    } finally {
      await shedding.close();
    }
  });

  it('does not shed when turned off (maxEventLoopDelayMs 0), however far behind the loop runs', async () => {
    hold(1_100);
    await nextTimers();
    hold(4_000);
    await nextTimers();
    expect((await h.tm.publicApp.inject({ url: '/v1/projects', headers: admin })).statusCode).toBe(200);
  });

  async function expectShedding(h: Harness) {
    // The lag is sampled once a second as the mean delay since the last sample: the first hold makes a
    // sample due, the second (just after it) is then nearly the whole of the next one.
    hold(1_100);
    await nextTimers();
    hold(4_000);
    await nextTimers();
    const shed = await h.tm.publicApp.inject({ url: '/v1/projects', headers: admin });
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['retry-after']).toBe('5');
    expect(shed.json()).toEqual({
      message: 'the tenant-manager is overloaded (its event loop is running behind); try again shortly',
      code: 'overloaded',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect((await h.tm.publicApp.inject({ url: '/v1/projects', headers: admin })).statusCode).toBe(200);
  }
});

describe('cluster provisioning through the provider', () => {
  it('is refused with a clear 400 when the provider cannot create clusters', async () => {
    const response = await post('/v1/clusters/provision', { name: 'aurora-1', capacity: 10 });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      message: 'the local provider cannot create clusters; register one instead',
      code: 'unsupported',
    });
  });
});
