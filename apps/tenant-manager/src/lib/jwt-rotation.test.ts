import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  type Harness,
  type InvalidationListener,
  internal,
  startHarness,
  startInvalidationListener,
} from '../../test/harness.js';
import { projectCacheKey } from './invalidation.js';
import { secretAad } from './projects.js';

let redis: InvalidationListener;
let h: Harness;

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const internalGet = async (url: string) => (await h.tm.internalApp.inject({ url, headers: internal })).json();

beforeAll(async () => {
  redis = await startInvalidationListener();
  h = await startHarness({ redis: redis.publisher });
  await h.registerCluster('jwtrotate', 10);
  for (const ref of ['jr-one', 'jr-two']) {
    expect((await call('POST', '/v1/projects', { name: ref, ref })).json().status).toBe('ACTIVE_HEALTHY');
  }
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

describe('POST /v1/projects/:ref/jwt-secret/rotate', () => {
  it('replaces the secret with a new random one, sealed at rest, served everywhere, and invalidates', async () => {
    const before = (await call('GET', '/v1/projects/jr-one/postgrest')).json().jwt_secret as string;
    const otherBefore = (await call('GET', '/v1/projects/jr-two/postgrest')).json().jwt_secret as string;
    const { version } = await internalGet('/internal/v1/projects/jr-one/config');
    await redis.publisher.set(projectCacheKey('jr-one'), '{"cached":true}');

    const rotated = await call('POST', '/v1/projects/jr-one/jwt-secret/rotate');
    expect(rotated.statusCode).toBe(200);
    const body = rotated.json() as { db_schema: string; max_rows: number; jwt_secret: string };
    expect(body).toEqual({
      db_schema: 'public',
      max_rows: 1000,
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      db_aggregates_enabled: false,
      jwt_secret: expect.any(String),
    });
    expect(body.jwt_secret).not.toBe(before);
    expect(Buffer.from(body.jwt_secret, 'base64url').length).toBeGreaterThanOrEqual(32);

    expect((await call('GET', '/v1/projects/jr-one/postgrest')).json().jwt_secret).toBe(body.jwt_secret);
    const config = await internalGet('/internal/v1/projects/jr-one/config');
    expect(config).toMatchObject({ jwtSecret: body.jwt_secret, version: version + 1 });
    expect((await internalGet('/internal/v1/projects/jr-one/rest-config')).jwtSecret).toBe(body.jwt_secret);
    // the other project is untouched
    expect((await call('GET', '/v1/projects/jr-two/postgrest')).json().jwt_secret).toBe(otherBefore);

    // encrypted at rest, bound to this project
    const { rows } = await h.db.query(`SELECT id, jwt_secret_enc FROM tm.projects WHERE ref = 'jr-one'`);
    expect(rows[0].jwt_secret_enc).not.toContain(body.jwt_secret);
    expect(h.tm.ctx.box.open(rows[0].jwt_secret_enc, secretAad.jwtSecret(rows[0].id))).toBe(body.jwt_secret);

    expect(
      await eventually(async () =>
        redis.messages.find((m) => m.kind === 'project' && m.ref === 'jr-one' && m.reason === 'jwt-rotated'),
      ),
    ).toMatchObject({ at: expect.any(String) });
    expect(await redis.publisher.exists(projectCacheKey('jr-one'))).toBe(0);

    const again = (await call('POST', '/v1/projects/jr-one/jwt-secret/rotate')).json().jwt_secret;
    expect(again).not.toBe(body.jwt_secret);
  });

  it('works on a paused project, answers 409 in other states and 404 for unknown refs', async () => {
    expect((await call('POST', '/v1/projects/jr-two/pause')).json().status).toBe('INACTIVE');
    expect((await call('POST', '/v1/projects/jr-two/jwt-secret/rotate')).statusCode).toBe(200);
    await h.db.query(`UPDATE tm.projects SET status = 'RESTORING' WHERE ref = 'jr-two'`);
    const conflict = await call('POST', '/v1/projects/jr-two/jwt-secret/rotate');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'invalid_status' });
    await h.db.query(`UPDATE tm.projects SET status = 'PAUSED' WHERE ref = 'jr-two'`);
    const missing = await call('POST', '/v1/projects/jr-nope/jwt-secret/rotate');
    expect(missing.statusCode).toBe(404);
    expect((await call('POST', '/v1/projects/Bad_Ref/jwt-secret/rotate')).statusCode).toBe(400);
  });
});
