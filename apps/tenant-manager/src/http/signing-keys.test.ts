import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, internal, startHarness } from '../../test/harness.js';
import { MAX_SIGNING_KEYS } from '../lib/signing-keys.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('signing-keys', 10);
  expect((await h.createProject('sig-one')).statusCode).toBe(201);
  expect((await h.createProject('sig-two')).statusCode).toBe(201);
});
afterAll(() => h?.close());

const call = (...args: Parameters<Harness['call']>) => h.call(...args);
const kids = (jwks: { keys: { kid: string }[] }) => jwks.keys.map((k) => k.kid);
const gatewayJwks = async (ref: string) =>
  (await h.tm.internalApp.inject({ url: `/internal/v1/projects/${ref}/config`, headers: internal })).json()
    .jwks;

describe("a project's signing keys and JWKS for an operator", () => {
  it('serves the JWKS (public halves only), reads a key by its Location, and revokes keys out of it', async () => {
    expect((await call('GET', '/v1/projects/sig-one/jwks')).json()).toEqual(await gatewayJwks('sig-one'));

    const created = await call('POST', '/v1/projects/sig-one/signing-keys');
    expect(created.statusCode).toBe(201);
    const standby = created.json();
    expect(created.headers.location).toBe(`/v1/projects/sig-one/signing-keys/${standby.id}`);
    expect((await call('GET', created.headers.location as string)).json()).toEqual(standby);
    // the same id in upper case is the same key
    expect(
      (await call('GET', `/v1/projects/sig-one/signing-keys/${standby.id.toUpperCase()}`)).json(),
    ).toEqual(standby);
    expect((await call('GET', `/v1/projects/sig-two/signing-keys/${standby.id}`)).statusCode).toBe(404);

    const rotated = (await call('POST', '/v1/projects/sig-one/signing-keys/rotate')).json().keys;
    const inUse = rotated.find((k: { status: string }) => k.status === 'in_use');
    expect(inUse.id).toBe(standby.id);
    const second = (await call('POST', '/v1/projects/sig-one/signing-keys/rotate')).json().keys;
    const previous = second.find((k: { id: string }) => k.id === standby.id);
    expect(previous.status).toBe('previously_used');

    const jwks = await call('GET', '/v1/projects/sig-one/jwks');
    expect(jwks.statusCode).toBe(200);
    expect(kids(jwks.json())).toContain(standby.id);
    expect(jwks.json()).toEqual(await gatewayJwks('sig-one'));
    for (const key of jwks.json().keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }

    const current = second.find((k: { status: string }) => k.status === 'in_use');
    const refused = await call('DELETE', `/v1/projects/sig-one/signing-keys/${current.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().code).toBe('signing_key_in_use');

    const revoked = await call('DELETE', `/v1/projects/sig-one/signing-keys/${standby.id}`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: standby.id, status: 'revoked' });
    expect(kids((await call('GET', '/v1/projects/sig-one/jwks')).json())).not.toContain(standby.id);
    expect(kids(await gatewayJwks('sig-one'))).not.toContain(standby.id);
    expect((await call('GET', `/v1/projects/sig-one/signing-keys/${standby.id}`)).json().status).toBe(
      'revoked',
    );
    expect((await call('DELETE', `/v1/projects/sig-one/signing-keys/${standby.id}`)).statusCode).toBe(404);
    expect((await call('GET', '/v1/projects/sig-missing/jwks')).statusCode).toBe(404);
  });

  it(`caps a project at ${MAX_SIGNING_KEYS} keys that are not revoked`, async () => {
    const have = (await call('GET', '/v1/projects/sig-two/jwks')).json().keys.length;
    const creates = await Promise.all(
      Array.from({ length: MAX_SIGNING_KEYS - have + 1 }, () =>
        call('POST', '/v1/projects/sig-two/signing-keys'),
      ),
    );
    expect(creates.filter((r) => r.statusCode === 201)).toHaveLength(MAX_SIGNING_KEYS - have);
    const refused = creates.find((r) => r.statusCode === 409)!;
    expect(refused.json().code).toBe('too_many_signing_keys');
    const one = creates.find((r) => r.statusCode === 201)!.json();
    expect((await call('DELETE', `/v1/projects/sig-two/signing-keys/${one.id}`)).statusCode).toBe(200);
    expect((await call('POST', '/v1/projects/sig-two/signing-keys')).statusCode).toBe(201);
  });
});
