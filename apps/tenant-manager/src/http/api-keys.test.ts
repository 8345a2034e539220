import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test/harness.js';
import { MAX_ACTIVE_API_KEYS } from '../lib/api-keys.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ resume: false, reconcileFunctions: false });
  await h.registerCluster('api-keys', 10);
  expect((await h.createProject('keys-one')).statusCode).toBe(201);
  expect((await h.createProject('keys-two')).statusCode).toBe(201);
});
afterAll(() => h?.close());

const call = (...args: Parameters<Harness['call']>) => h.call(...args);

describe('API keys as an operator script sees them', () => {
  it('a create answers 201 with the Location of the key, which reads it back (masked unless revealed)', async () => {
    const created = await call('POST', '/v1/projects/keys-one/api-keys?reveal=true', {
      type: 'secret',
      name: 'ci_runner',
      description: 'CI',
    });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(created.headers.location).toBe(`/v1/projects/keys-one/api-keys/${key.id}`);

    const masked = await call('GET', created.headers.location as string);
    expect(masked.statusCode).toBe(200);
    expect(masked.json()).toMatchObject({ id: key.id, name: 'ci_runner', description: 'CI', hash: key.hash });
    expect(masked.json().api_key).not.toBe(key.api_key);
    expect(masked.body).not.toContain(key.api_key);
    const revealed = await call('GET', `${created.headers.location}?reveal=true`);
    expect(revealed.json().api_key).toBe(key.api_key);

    // the same id written in upper case is the same key
    const upper = await call('GET', `/v1/projects/keys-one/api-keys/${key.id.toUpperCase()}`);
    expect(upper.statusCode).toBe(200);
    expect(upper.json().id).toBe(key.id);
    // another project's ref does not open it
    expect((await call('GET', `/v1/projects/keys-two/api-keys/${key.id}`)).statusCode).toBe(404);

    // revoked: gone from the single read too, and its name is free again
    expect((await call('DELETE', `/v1/projects/keys-one/api-keys/${key.id}`)).statusCode).toBe(200);
    const gone = await call('GET', `/v1/projects/keys-one/api-keys/${key.id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ message: 'api key not found', code: 'not_found' });
    const again = await call('POST', '/v1/projects/keys-one/api-keys', { type: 'secret', name: 'ci_runner' });
    expect(again.statusCode).toBe(201);
    expect(again.json().id).not.toBe(key.id);
  });

  it('a PATCH renames or re-describes an active key, never its value; clashes, revoked keys and bad input are refused', async () => {
    const created = (
      await call('POST', '/v1/projects/keys-one/api-keys?reveal=true', {
        type: 'secret',
        name: 'old_name',
        description: null,
      })
    ).json();
    expect(created.description).toBeNull(); // not coerced to ""
    const url = `/v1/projects/keys-one/api-keys/${created.id}`;
    const renamed = await call('PATCH', url, { name: 'new_name', description: 'deploys' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id: created.id, name: 'new_name', description: 'deploys' });
    expect(renamed.json().api_key).not.toBe(created.api_key); // masked unless revealed
    const described = await call('PATCH', `${url}?reveal=true`, { description: null });
    expect(described.json()).toMatchObject({
      name: 'new_name',
      description: null,
      api_key: created.api_key,
      hash: created.hash,
    });
    expect((await call('GET', url)).json()).toMatchObject({ name: 'new_name', description: null });
    // the old name is free, a name another active secret key has is not
    expect(
      (await call('POST', '/v1/projects/keys-one/api-keys', { type: 'secret', name: 'old_name' })).statusCode,
    ).toBe(201);
    const clash = await call('PATCH', url, { name: 'old_name' });
    expect(clash.statusCode).toBe(409);
    expect(clash.json().code).toBe('duplicate_key_name');
    for (const [body, code] of [
      [{}, 'validation_failed'],
      [{ name: 'Not Valid' }, 'invalid_name'],
    ] as const) {
      const refused = await call('PATCH', url, body);
      expect(refused.statusCode, JSON.stringify(body)).toBe(400);
      expect(refused.json().code).toBe(code);
    }
    expect(
      (await call('PATCH', `/v1/projects/keys-two/api-keys/${created.id}`, { name: 'x' })).statusCode,
    ).toBe(404);
    expect((await call('DELETE', url)).statusCode).toBe(200);
    const revoked = await call('PATCH', url, { name: 'again_name' });
    expect(revoked.statusCode).toBe(404);
    expect(revoked.json()).toEqual({ message: 'api key not found', code: 'not_found' });
  });

  it(`caps a project at ${MAX_ACTIVE_API_KEYS} active keys; revoking one frees a slot`, async () => {
    const listed = (await call('GET', '/v1/projects/keys-two/api-keys')).json() as { id: string }[];
    const creates = await Promise.all(
      Array.from({ length: MAX_ACTIVE_API_KEYS - listed.length + 2 }, (_, i) =>
        call('POST', '/v1/projects/keys-two/api-keys', { type: 'publishable', name: `k${i}` }),
      ),
    );
    const statuses = creates.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_ACTIVE_API_KEYS - listed.length);
    const refused = creates.filter((r) => r.statusCode === 409);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.json()).toEqual({
      message: `the project already has ${MAX_ACTIVE_API_KEYS} active API keys; revoke one first`,
      code: 'too_many_api_keys',
    });
    expect((await call('GET', '/v1/projects/keys-two/api-keys')).json()).toHaveLength(MAX_ACTIVE_API_KEYS);

    const first = creates.find((r) => r.statusCode === 201)!.json();
    expect((await call('DELETE', `/v1/projects/keys-two/api-keys/${first.id}`)).statusCode).toBe(200);
    const more = await call('POST', '/v1/projects/keys-two/api-keys', { type: 'publishable', name: 'again' });
    expect(more.statusCode).toBe(201);
    // the other project is not affected by this one's count
    const other = await call('POST', '/v1/projects/keys-one/api-keys', { type: 'publishable', name: 'k0' });
    expect(other.statusCode).toBe(201);
  });
});
