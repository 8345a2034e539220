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

let redis: InvalidationListener;
let h: Harness;

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const patch = (ref: string, body: object) => call('PATCH', `/v1/projects/${ref}/postgrest`, body);
const internalGet = async (url: string) => (await h.tm.internalApp.inject({ url, headers: internal })).json();
const restConfig = (ref: string) => internalGet(`/internal/v1/projects/${ref}/rest-config`);
const gatewayVersion = async (ref: string) =>
  (await internalGet(`/internal/v1/projects/${ref}/config`)).version as number;
const published = (ref: string) =>
  redis.messages.filter((m) => m.kind === 'project' && m.ref === ref && m.reason === 'postgrest-updated')
    .length;

beforeAll(async () => {
  redis = await startInvalidationListener();
  h = await startHarness({ redis: redis.publisher });
  await h.registerCluster('pgrstset', 10);
  for (const ref of ['ps-one', 'ps-two', 'ps-three', 'ps-cli']) {
    expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
  }
});
afterAll(async () => {
  await h?.close();
  await redis?.stop();
});

describe('PATCH /v1/projects/:ref/postgrest', () => {
  it('stores every field, answers like GET (without the secret), bumps the version, serves it in rest-config and invalidates', async () => {
    expect((await call('GET', '/v1/projects/ps-one/postgrest')).json()).toMatchObject({
      db_schema: 'public',
      max_rows: 1000,
      db_aggregates_enabled: false,
    });
    const before = await restConfig('ps-one');
    expect(before).toMatchObject({ dbSchemas: ['public'], maxRows: 1000, dbAggregatesEnabled: false });
    expect(before.version).toBe(await gatewayVersion('ps-one'));
    const otherBefore = await restConfig('ps-two');
    await redis.publisher.set(projectCacheKey('ps-one'), '{"cached":true}');

    const changed = await patch('ps-one', {
      db_schema: 'public, api ,public,Api2',
      max_rows: 1,
      db_aggregates_enabled: true,
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toEqual({
      db_schema: 'public,api,Api2',
      max_rows: 1,
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      db_aggregates_enabled: true,
    });
    expect((await call('GET', '/v1/projects/ps-one/postgrest')).json()).toEqual({
      ...changed.json(),
      jwt_secret: before.jwtSecret,
    });
    expect(await restConfig('ps-one')).toEqual({
      ...before,
      dbSchemas: ['public', 'api', 'Api2'],
      maxRows: 1,
      dbAggregatesEnabled: true,
      version: before.version + 1,
    });
    expect(await gatewayVersion('ps-one')).toBe(before.version + 1);
    expect(await eventually(async () => (published('ps-one') === 1 ? true : undefined))).toBe(true);
    expect(await redis.publisher.exists(projectCacheKey('ps-one'))).toBe(0);
    // the other project is untouched
    expect(await restConfig('ps-two')).toEqual(otherBefore);
    expect(published('ps-two')).toBe(0);
  });

  it('changes only the fields present', async () => {
    expect((await patch('ps-two', { max_rows: 1_000_000 })).json()).toMatchObject({
      db_schema: 'public',
      max_rows: 1_000_000,
      db_aggregates_enabled: false,
    });
    expect((await patch('ps-two', { db_aggregates_enabled: true })).json()).toMatchObject({
      db_schema: 'public',
      max_rows: 1_000_000,
      db_aggregates_enabled: true,
    });
    expect((await patch('ps-two', { db_schema: 'api' })).json()).toMatchObject({
      db_schema: 'api',
      max_rows: 1_000_000,
      db_aggregates_enabled: true,
    });
    expect((await patch('ps-two', { db_aggregates_enabled: false })).json().db_aggregates_enabled).toBe(
      false,
    );
    expect(await restConfig('ps-two')).toMatchObject({
      dbSchemas: ['api'],
      maxRows: 1_000_000,
      dbAggregatesEnabled: false,
    });
    await eventually(async () => (published('ps-two') === 4 ? true : undefined));
  });

  it('refuses bad bodies with 400 and changes nothing', async () => {
    const before = await restConfig('ps-three');
    const tooMany = Array.from({ length: 33 }, (_, i) => `s${i}`).join(',');
    const cases: [object, string][] = [
      [{}, 'validation_failed'],
      [{ db_schema: 'public', db_search_path: 'public' }, 'validation_failed'],
      [{ max_rows: 0 }, 'validation_failed'],
      [{ max_rows: 1_000_001 }, 'validation_failed'],
      [{ max_rows: 1.5 }, 'validation_failed'],
      [{ max_rows: 'many' }, 'validation_failed'],
      [{ db_aggregates_enabled: 'maybe' }, 'validation_failed'],
      [{ db_schema: 'x'.repeat(4097) }, 'validation_failed'],
      [{ db_schema: 'public,,api' }, 'invalid_db_schema'],
      [{ db_schema: 'public,' }, 'invalid_db_schema'],
      [{ db_schema: ' ' }, 'unsupported_setting'],
      [{ db_schema: '1api' }, 'invalid_db_schema'],
      [{ db_schema: 'my-schema' }, 'invalid_db_schema'],
      [{ db_schema: 'a"b' }, 'invalid_db_schema'],
      [{ db_schema: 'naïve' }, 'invalid_db_schema'],
      [{ db_schema: 'x'.repeat(64) }, 'invalid_db_schema'],
      [{ db_schema: 'public,pg_catalog' }, 'invalid_db_schema'],
      [{ db_schema: 'information_schema' }, 'invalid_db_schema'],
      [{ db_schema: 'pg_toast' }, 'invalid_db_schema'],
      [{ db_schema: 'pg_temp_3' }, 'invalid_db_schema'],
      [{ db_schema: 'auth' }, 'invalid_db_schema'],
      [{ db_schema: 'supaplane' }, 'invalid_db_schema'],
      [{ db_schema: tooMany }, 'invalid_db_schema'],
    ];
    for (const [body, code] of cases) {
      const response = await patch('ps-three', body);
      const where = JSON.stringify(body).slice(0, 80);
      expect(response.statusCode, where).toBe(400);
      expect(response.json(), where).toEqual({ message: expect.any(String), code });
    }
    const reserved = (await patch('ps-three', { db_schema: 'public,pg_catalog' })).json().message;
    expect(reserved).toBe('db_schema: pg_catalog is a system or platform schema and cannot be exposed');
    expect(await restConfig('ps-three')).toEqual(before);
    expect(published('ps-three')).toBe(0);
    // the bounds themselves are accepted
    const edges = `${'x'.repeat(63)},${Array.from({ length: 31 }, (_, i) => `s${i}`).join(',')}`;
    const accepted = await patch('ps-three', { db_schema: edges, max_rows: 1 });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect((await restConfig('ps-three')).dbSchemas).toHaveLength(32);
  });

  it("answers Supabase's db_extra_search_path and db_pool, and takes the body `supabase config push` sends", async () => {
    // Supabase's PostgrestConfigWithJWTSecretResponse requires both; the CLI diffs its config with them.
    const got = (await call('GET', '/v1/projects/ps-cli/postgrest')).json();
    expect(got).toMatchObject({ db_extra_search_path: 'public, extensions', db_pool: null });
    // What the CLI's default config.toml pushes ([api] schemas, extra_search_path, max_rows).
    const pushed = await patch('ps-cli', {
      db_schema: 'public,graphql_public',
      db_extra_search_path: 'public,extensions',
      max_rows: 1000,
    });
    expect(pushed.statusCode, pushed.body).toBe(200);
    expect(pushed.json()).toEqual({
      db_schema: 'public,graphql_public',
      max_rows: 1000,
      db_extra_search_path: 'public, extensions',
      db_pool: null,
      db_aggregates_enabled: false,
    });
    expect((await restConfig('ps-cli')).dbSchemas).toEqual(['public', 'graphql_public']);
    // The same search path however it is spaced, and db_pool null (automatic), change nothing else.
    const same = await patch('ps-cli', { db_extra_search_path: ' public , extensions ', db_pool: null });
    expect(same.statusCode, same.body).toBe(200);
    expect(same.json()).toMatchObject({ db_schema: 'public,graphql_public', db_pool: null });
  });

  it('says why a search path, a pool size or an empty db_schema is not taken here', async () => {
    const before = await restConfig('ps-cli');
    const cases: [object, string, RegExp][] = [
      [
        { db_extra_search_path: 'public' },
        'unsupported_setting',
        /db_extra_search_path is fixed .*public, extensions/,
      ],
      [{ db_extra_search_path: '' }, 'unsupported_setting', /db_extra_search_path is fixed/],
      [{ db_extra_search_path: 'extensions,public' }, 'unsupported_setting', /db_extra_search_path is fixed/],
      [{ db_pool: 10 }, 'unsupported_setting', /db_pool is not configurable here/],
      [{ db_schema: '' }, 'unsupported_setting', /data API cannot be turned off here/],
      [{ db_pool: 1001 }, 'validation_failed', /db_pool/],
    ];
    for (const [body, code, message] of cases) {
      const response = await patch('ps-cli', body);
      const where = JSON.stringify(body);
      expect(response.statusCode, where).toBe(400);
      expect(response.json(), where).toEqual({ message: expect.stringMatching(message), code });
    }
    expect(await restConfig('ps-cli')).toEqual(before);
  });

  it('works on a paused project, answers 409 in other states, 404 for unknown refs, 400 for a bad ref', async () => {
    expect((await call('POST', '/v1/projects/ps-three/pause')).json().status).toBe('INACTIVE');
    const paused = await patch('ps-three', { db_schema: 'public' });
    expect(paused.statusCode, paused.body).toBe(200);
    await h.db.query(`UPDATE tm.projects SET status = 'RESTORING' WHERE ref = 'ps-three'`);
    const conflict = await patch('ps-three', { max_rows: 10 });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'invalid_status' });
    expect((await call('GET', '/v1/projects/ps-three/postgrest')).json().max_rows).toBe(1);
    await h.db.query(`UPDATE tm.projects SET status = 'PAUSED' WHERE ref = 'ps-three'`);
    const missing = await patch('ps-nope', { max_rows: 10 });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ message: 'project not found', code: 'not_found' });
    expect((await patch('Bad_Ref', { max_rows: 10 })).statusCode).toBe(400);
  });
});
