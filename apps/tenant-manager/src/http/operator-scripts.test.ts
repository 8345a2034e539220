import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type Harness, startHarness } from '../../test/harness.js';

// What an operator's script, written against Supabase's Management API, sends and expects.

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('operator-scripts', 10);
  expect((await h.createProject('script-one')).statusCode).toBe(201);
});
afterAll(() => h?.close());

const call = (
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: object | string,
  headers: Record<string, string> = {},
) =>
  h.tm.publicApp.inject({
    method,
    url,
    headers: { ...admin, ...headers },
    ...(payload === undefined ? {} : { payload }),
  });

describe('a POST or DELETE that takes no body', () => {
  it('is served when a client sends content-type: application/json with an empty body, as curl -H and many HTTP libraries do', async () => {
    const json = { 'content-type': 'application/json' };
    const key = (
      await call('POST', '/v1/projects/script-one/api-keys', { type: 'secret', name: 'empty_body' })
    ).json();
    for (const [method, url, status] of [
      ['POST', '/v1/projects/script-one/pause', 200],
      ['POST', '/v1/projects/script-one/restore', 200],
      ['POST', '/v1/projects/script-one/jwt-secret/rotate', 200],
      ['POST', '/v1/projects/script-one/signing-keys/rotate', 200],
      ['DELETE', `/v1/projects/script-one/api-keys/${key.id}`, 200],
    ] as const) {
      const response = await call(method, url, '', json);
      expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(status);
    }
    expect((await call('GET', '/v1/projects/script-one')).json().status).toBe('ACTIVE_HEALTHY');
  });

  it('a route that takes a body still refuses an empty one as malformed JSON, and malformed JSON anywhere', async () => {
    const json = { 'content-type': 'application/json' };
    const empty = await call('POST', '/v1/projects/script-one/api-keys', '', json);
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('invalid_json');
    const broken = await call('POST', '/v1/projects/script-one/pause', '{', json);
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('invalid_json');
  });
});
