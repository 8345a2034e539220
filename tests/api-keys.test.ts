import { generateApiKey } from '@supaplane/keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, type HttpResult, http, projectUrl, rest, supabaseFor } from './support/clients.js';
import { expectInvalidApiKey, expectJsonError, expectNoApiKey } from './support/expect.js';
import {
  addApiKey,
  createProjects,
  deleteProject,
  eventually,
  listApiKeys,
  revokeApiKey,
  sql,
  type TestProject,
} from './support/projects.js';

const BROWSER_UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let a: TestProject;
let b: TestProject;

const SETUP = `
create table public.items (id int primary key, name text not null);
insert into public.items values (1, 'first'), (2, 'second');
create function public.item_count() returns int language sql stable as $$ select count(*)::int from public.items $$;
`;

beforeAll(async () => {
  [a, b] = await createProjects('keys-a', 'keys-b');
  await Promise.all([sql(a.ref, SETUP), sql(b.ref, SETUP)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

/** Every route that takes a key: read, write, update, delete and RPC on A's host. */
const routes: Array<{ name: string; send: (headers: Record<string, string>) => Promise<HttpResult> }> = [
  { name: 'GET items', send: (headers) => rest(a.ref, 'items?select=*', { headers }) },
  {
    name: 'POST items',
    send: (headers) => rest(a.ref, 'items', { method: 'POST', headers, body: { id: 99, name: 'intruder' } }),
  },
  {
    name: 'PATCH items',
    send: (headers) => rest(a.ref, 'items?id=eq.1', { method: 'PATCH', headers, body: { name: 'changed' } }),
  },
  { name: 'DELETE items', send: (headers) => rest(a.ref, 'items?id=eq.2', { method: 'DELETE', headers }) },
  {
    name: 'POST rpc',
    send: (headers) => rest(a.ref, 'rpc/item_count', { method: 'POST', headers, body: {} }),
  },
];

/** A's rows, read with its own secret key. */
async function rowsOfA() {
  const res = await rest(a.ref, 'items?select=id,name&order=id', { key: a.secretKey });
  expect(res.status, res.text).toBe(200);
  return res.json();
}

const UNCHANGED = [
  { id: 1, name: 'first' },
  { id: 2, name: 'second' },
];

describe('API keys at the gateway', () => {
  describe.each(routes)('$name', ({ send }) => {
    it('missing key → 401 "No API key found in request"', async () => {
      expectNoApiKey(await send({}));
    });

    it('empty apikey → 401 "No API key found in request"', async () => {
      expectNoApiKey(await send({ apikey: '' }));
    });

    it('random string → 401 "Invalid API key"', async () => {
      const res = await send({ apikey: 'not-a-key-at-all' });
      expectInvalidApiKey(res);
    });

    it('right-shape fake keys (valid checksum for this ref, never issued) → 401 "Invalid API key"', async () => {
      for (const type of ['publishable', 'secret'] as const) {
        const fake = generateApiKey(a.ref, type);
        const res = await send({ apikey: fake });
        expectInvalidApiKey(res);
        expect(res.text).not.toContain(fake);
      }
    });

    it('the other project’s keys → 401 "Invalid API key", never echoed', async () => {
      for (const key of [b.publishableKey, b.secretKey]) {
        const res = await send({ apikey: key });
        expectInvalidApiKey(res);
        expect(res.text).not.toContain(key);
        // Same key as a bearer token, the other place the gateway looks.
        expectInvalidApiKey(await send({ authorization: `Bearer ${key}` }));
      }
    });

    it('secret key from a browser → 401, never served', async () => {
      const res = await send({ apikey: a.secretKey, 'user-agent': BROWSER_UA });
      expect(res.status, res.text).toBe(401);
      expect(String((res.json() as { message: string }).message)).toMatch(/secret/i);
      expect(res.text).not.toContain(a.secretKey);
    });
  });

  describe.each([
    '/auth/v1/user',
    '/storage/v1/bucket',
    '/functions/v1/hello',
    '/graphql/v1',
    '/realtime/v1/api',
  ])('every other service prefix (%s)', (path) => {
    const send = (headers: Record<string, string>) => http(`${projectUrl(a.ref)}${path}`, { headers });

    it('missing key → 401 "No API key found in request"', async () => {
      expectNoApiKey(await send({}));
    });

    it('the other project’s key or a fake one → 401 "Invalid API key"', async () => {
      expectInvalidApiKey(await send({ apikey: b.publishableKey }));
      expectInvalidApiKey(await send({ apikey: generateApiKey(a.ref, 'secret') }));
    });
  });

  it('left A’s rows unchanged after every rejected write', async () => {
    expect(await rowsOfA()).toEqual(UNCHANGED);
  });

  it('accepts the key as apikey header, apikey query parameter or Bearer sb_ token', async () => {
    const viaHeader = await rest(a.ref, 'items?select=id&order=id', { key: a.publishableKey });
    expect(viaHeader.status, viaHeader.text).toBe(200);
    expect(viaHeader.json()).toEqual([{ id: 1 }, { id: 2 }]);
    const viaQuery = await rest(a.ref, `items?select=id&order=id&apikey=${a.publishableKey}`);
    expect(viaQuery.status, viaQuery.text).toBe(200);
    expect(viaQuery.json()).toEqual([{ id: 1 }, { id: 2 }]);
    const viaBearer = await rest(a.ref, 'items?select=id&order=id', { token: a.secretKey });
    expect(viaBearer.status, viaBearer.text).toBe(200);
    expect(viaBearer.json()).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('a wrong checksum for the right prefix is rejected like any unknown key', async () => {
    const bad = `${a.publishableKey.slice(0, -8)}AAAAAAAA`;
    expectInvalidApiKey(await rest(a.ref, 'items', { key: bad }));
    const truncated = a.secretKey.slice(0, -1);
    expectInvalidApiKey(await rest(a.ref, 'items', { key: truncated }));
  });

  it('publishable key from a browser is served (it is meant for browsers)', async () => {
    const res = await rest(a.ref, 'items?select=id&id=eq.1', {
      key: a.publishableKey,
      headers: { 'user-agent': BROWSER_UA, origin: 'https://app.example.com' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 1 }]);
  });

  it('secret key from a server-side fetch (Node/undici: user-agent node, sec-fetch-mode cors) is served', async () => {
    // Node's built-in fetch sends exactly these headers on every request; supabase-js on a server uses it.
    const res = await rest(a.ref, 'items?select=id&order=id', {
      key: a.secretKey,
      headers: { 'user-agent': 'node', 'sec-fetch-mode': 'cors', accept: '*/*' },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json()).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('secret key with a browser Origin header → 401', async () => {
    const res = await rest(a.ref, 'items', {
      key: a.secretKey,
      headers: { origin: 'https://app.example.com' },
    });
    expect(res.status, res.text).toBe(401);
    expect(String((res.json() as { message: string }).message)).toMatch(/secret/i);
    expect(res.text).not.toContain(a.secretKey);
  });

  it('supabase-js surfaces Supabase’s bodies for a bad key', async () => {
    const wrong = await supabaseFor(a.ref, b.publishableKey).from('items').select('*');
    expect(wrong.status).toBe(401);
    expect(wrong.data).toBeNull();
    expect(wrong.error).toMatchObject({ message: 'Invalid API key' });
    const garbage = await supabaseFor(a.ref, 'garbage').from('items').insert({ id: 5, name: 'x' });
    expect(garbage.status).toBe(401);
    expect(garbage.error).toMatchObject({ message: 'Invalid API key' });
  });

  it('lists keys Management-API style, masking secret keys unless revealed', async () => {
    const revealed = await listApiKeys(a.ref);
    for (const key of revealed) {
      expect(key).toMatchObject({ id: expect.any(String), name: expect.any(String) });
      expect(['publishable', 'secret']).toContain(key.type);
    }
    expect(revealed.map((k) => k.api_key)).toEqual(expect.arrayContaining([a.publishableKey, a.secretKey]));
    const masked = await admin('GET', `/v1/projects/${a.ref}/api-keys`);
    expect(masked.status, masked.text).toBe(200);
    expect(masked.text).not.toContain(a.secretKey);
    expect(masked.text).toContain(a.publishableKey);
  });

  it('renaming a key (PATCH, id in any case) changes its name and description, never its value; it keeps working', async () => {
    const key = await addApiKey(a.ref, 'secret', 'e2e_before_rename');
    expect((await rest(a.ref, 'items?select=id&id=eq.1', { key: key.api_key })).status).toBe(200);
    const renamed = await admin(
      'PATCH',
      `/v1/projects/${a.ref}/api-keys/${key.id.toUpperCase()}?reveal=true`,
      {
        name: 'e2e_after_rename',
        description: 'renamed end to end',
      },
    );
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.json()).toMatchObject({
      id: key.id,
      name: 'e2e_after_rename',
      description: 'renamed end to end',
      api_key: key.api_key,
    });
    expect((await listApiKeys(a.ref)).find((k) => k.id === key.id)).toMatchObject({
      name: 'e2e_after_rename',
      api_key: key.api_key,
    });
    const served = await supabaseFor(a.ref, key.api_key).from('items').select('id').order('id');
    expect(served.error).toBeNull();
    expect(served.data).toEqual([{ id: 1 }, { id: 2 }]);

    // A misspelt field is refused with its name, and changes nothing; B's ref does not reach A's key.
    const typo = expectJsonError(
      await admin('PATCH', `/v1/projects/${a.ref}/api-keys/${key.id}`, { nmae: 'e2e_typo' }),
      400,
    );
    expect(typo).toMatchObject({ code: 'validation_failed' });
    expect(String(typo.message)).toContain('nmae');
    expectJsonError(
      await admin('PATCH', `/v1/projects/${b.ref}/api-keys/${key.id}`, { name: 'e2e_other' }),
      404,
    );
    expect((await listApiKeys(a.ref)).find((k) => k.id === key.id)).toMatchObject({
      name: 'e2e_after_rename',
    });
    expect((await rest(a.ref, 'items?select=id&id=eq.1', { key: key.api_key })).status).toBe(200);
    await revokeApiKey(a.ref, key.id);
  });

  it('a key create with a field the API does not have → 400 naming it, and no key is made', async () => {
    const before = (await listApiKeys(a.ref)).length;
    const res = await admin('POST', `/v1/projects/${a.ref}/api-keys`, {
      type: 'secret',
      name: 'e2e_typo_key',
      descripton: 'misspelt',
    });
    const body = expectJsonError(res, 400);
    expect(body).toMatchObject({ code: 'validation_failed' });
    expect(String(body.message)).toContain('descripton');
    expect(await listApiKeys(a.ref)).toHaveLength(before);
  });

  it('an added key works at once; once revoked it is rejected within 1 s while the others keep working', async () => {
    const [publishable, secret] = await Promise.all([
      addApiKey(a.ref, 'publishable', 'e2e_extra_publishable'),
      addApiKey(a.ref, 'secret', 'e2e_extra_secret'),
    ]);
    for (const key of [publishable.api_key, secret.api_key]) {
      const res = await rest(a.ref, 'items?select=id&order=id', { key });
      expect(res.status, res.text).toBe(200);
      expect(res.json()).toEqual([{ id: 1 }, { id: 2 }]);
    }
    const sdk = await supabaseFor(a.ref, publishable.api_key).from('items').select('id').eq('id', 2);
    expect(sdk.data).toEqual([{ id: 2 }]);
    // The new key is A's only: B refuses it.
    expectInvalidApiKey(await rest(b.ref, 'items', { key: secret.api_key }));

    await Promise.all([revokeApiKey(a.ref, publishable.id), revokeApiKey(a.ref, secret.id)]);
    for (const key of [publishable.api_key, secret.api_key]) {
      const took = await eventually(async () => (await rest(a.ref, 'items', { key })).status === 401, 1_000);
      console.info(`revoked key rejected ${took} ms after DELETE answered`);
      expectInvalidApiKey(await rest(a.ref, 'items', { key }));
    }
    const ids = (await listApiKeys(a.ref)).map((k) => k.id);
    expect(ids).not.toContain(publishable.id);
    expect(ids).not.toContain(secret.id);
    for (const key of [a.publishableKey, a.secretKey]) {
      const res = await rest(a.ref, 'items?select=id&id=eq.1', { key });
      expect(res.status, res.text).toBe(200);
    }
  });

  it('a revoked key is refused on every route (writes and rpc too) and A is unchanged', async () => {
    const [publishable, secret] = await Promise.all([
      addApiKey(a.ref, 'publishable', 'e2e_revoked_publishable'),
      addApiKey(a.ref, 'secret', 'e2e_revoked_secret'),
    ]);
    // Warm every cache with the live keys first, so a refusal below is the revocation, not a cold miss.
    for (const key of [publishable.api_key, secret.api_key]) {
      expect((await rest(a.ref, 'items?select=id', { key })).status).toBe(200);
    }
    await Promise.all([revokeApiKey(a.ref, publishable.id), revokeApiKey(a.ref, secret.id)]);
    for (const key of [publishable.api_key, secret.api_key]) {
      await eventually(async () => (await rest(a.ref, 'items', { key })).status === 401, 1_000);
      for (const { name, send } of routes) {
        const viaHeader = await send({ apikey: key });
        expectInvalidApiKey(viaHeader);
        expect(viaHeader.text, name).not.toContain(key);
        expectInvalidApiKey(await send({ authorization: `Bearer ${key}` }));
      }
      const sdk = await supabaseFor(a.ref, key).from('items').insert({ id: 98, name: 'revoked' }).select();
      expect(sdk.status).toBe(401);
      expect(sdk.error).toMatchObject({ message: 'Invalid API key' });
    }
    expect(await rowsOfA()).toEqual(UNCHANGED);
  });
});
