import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest, supabaseFor } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import { answersOf, traffic } from './support/load.js';
import {
  createProjects,
  deleteProject,
  eventually,
  projectCredentials,
  sql,
  type TestProject,
} from './support/projects.js';
import { userToken } from './support/tokens.js';

// Rotating a project's JWT secret (POST /v1/projects/:ref/jwt-secret/rotate) must end the old secret's
// reign everywhere on the data path — gateway and warm rest function — while keys keep working.

let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('rotate-a', 'rotate-b');
  const schema = `create table public.notes (id int primary key, body text);
    insert into public.notes values (1, 'hello');`;
  await Promise.all([sql(a.ref, schema), sql(b.ref, schema)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('JWT secret rotation', () => {
  it('rejects tokens signed with the old secret, serves keys and new-secret tokens, leaves the other project alone', async () => {
    const oldToken = await userToken(a.jwtSecret, { role: 'service_role' });
    const bToken = await userToken(b.jwtSecret, { role: 'service_role' });
    // Warm both the gateway caches and the rest function with the old secret.
    expect((await rest(a.ref, 'notes?select=id', { key: a.publishableKey, token: oldToken })).status).toBe(
      200,
    );

    const rotated = await admin('POST', `/v1/projects/${a.ref}/jwt-secret/rotate`);
    expect(rotated.status, rotated.text).toBe(200);
    const { jwt_secret: newSecret } = rotated.json() as { jwt_secret: string };
    expect(newSecret).not.toBe(a.jwtSecret);
    expect(newSecret.length).toBeGreaterThanOrEqual(32);
    const settings = await admin('GET', `/v1/projects/${a.ref}/postgrest`);
    expect((settings.json() as { jwt_secret: string }).jwt_secret).toBe(newSecret);

    // The gateway evicts on the invalidation: the old token is refused at once, never downgraded to anon.
    const refusedAfter = await eventually(
      async () => (await rest(a.ref, 'notes', { key: a.publishableKey, token: oldToken })).status === 401,
      1_000,
    );
    expect(refusedAfter).toBeLessThan(1_000);
    expectPostgrestError(
      await rest(a.ref, 'notes', { key: a.publishableKey, token: oldToken }),
      401,
      'PGRST301',
    );

    // Key-only requests (the gateway mints with the new secret) are served at once: a warm rest function
    // whose copy of the secret is older re-reads its config on the refusal (waiting until its copy is
    // 1 s old if need be) and verifies the request again. New-secret user tokens likewise.
    const newToken = await userToken(newSecret, { role: 'service_role' });
    const withKey = await rest(a.ref, 'notes?select=id,body', { key: a.secretKey });
    expect(withKey.status, withKey.text).toBe(200);
    expect(withKey.json()).toEqual([{ id: 1, body: 'hello' }]);
    const withNewToken = await rest(a.ref, 'notes?select=id', { key: a.publishableKey, token: newToken });
    expect(withNewToken.status, withNewToken.text).toBe(200);
    expect(withNewToken.json()).toEqual([{ id: 1 }]);

    // The new secret is A's alone: it opens nothing on B, and B's own tokens still work.
    const forged = await userToken(newSecret, { role: 'service_role', ref: b.ref });
    expectPostgrestError(
      await rest(b.ref, 'notes', { key: b.publishableKey, token: forged }),
      401,
      'PGRST301',
    );
    const bRes = await rest(b.ref, 'notes?select=id', { key: b.publishableKey, token: bToken });
    expect(bRes.status, bRes.text).toBe(200);
    expect(bRes.json()).toEqual([{ id: 1 }]);
  });

  it('under load: from the rotation answering (+1 s) old-secret tokens always get 401, keys are never refused, B never fails', async () => {
    const before = await projectCredentials(a.ref);
    const oldToken = await userToken(before.jwtSecret, { role: 'service_role' });
    const bToken = await userToken(b.jwtSecret, { role: 'service_role' });
    const read = (ref: string, options: { key: string; token?: string }) =>
      rest(ref, 'notes?select=id', options);
    const anonSdk = supabaseFor(a.ref, a.publishableKey);
    const bSdk = supabaseFor(b.ref, b.publishableKey, bToken);
    const load = traffic({
      'A old token': () => read(a.ref, { key: a.publishableKey, token: oldToken }),
      'A secret key': () => read(a.ref, { key: a.secretKey }),
      'A publishable sdk': async () => {
        const { status, data, error } = await anonSdk.from('notes').select('id');
        return { status, text: JSON.stringify(error ?? data) };
      },
      'B token': () => read(b.ref, { key: b.publishableKey, token: bToken }),
      'B token sdk': async () => {
        const { status, data, error } = await bSdk.from('notes').select('id');
        return { status, text: JSON.stringify(error ?? data) };
      },
    });
    let rotateSent = 0;
    let rotatedAt = 0;
    try {
      await load.sentSince(Date.now(), 3);
      rotateSent = Date.now();
      const rotated = await admin('POST', `/v1/projects/${a.ref}/jwt-secret/rotate`);
      rotatedAt = Date.now();
      expect(rotated.status, rotated.text).toBe(200);
      await load.sentSince(rotatedAt + 1_000, 3);
    } finally {
      await load.stop();
    }
    const answers = load.answers;
    const old = answersOf(answers, 'A old token');
    for (const x of old.filter((y) => y.answeredAt < rotateSent)) expect(x.status, x.text).toBe(200);
    // Refused from its first refusal on (never served again by a refilled cache or a warm function),
    // and at the latest once the rotation has had its second to reach every gateway.
    const firstRefused = old.find((x) => x.status === 401)?.sentAt ?? Number.POSITIVE_INFINITY;
    expect(firstRefused).toBeLessThan(rotatedAt + 1_000);
    const refused = old.filter((x) => x.sentAt >= firstRefused);
    expect(refused.length).toBeGreaterThan(0);
    for (const x of refused) {
      expect(x.status, x.text).toBe(401);
      expect(JSON.parse(x.text)).toMatchObject({ code: 'PGRST301' });
    }
    // Key-only requests: the gateway mints with the new secret at once, and a warm function that read
    // its config just before the rotation waits out its second and re-reads rather than refusing them.
    // So a valid key is never refused across the rotation, and never served anything but A's rows.
    for (const client of ['A secret key', 'A publishable sdk']) {
      const mine = answersOf(answers, client);
      for (const x of mine) {
        expect(x.status, `${client}: ${x.text}`).toBe(200);
        expect(JSON.parse(x.text), client).toEqual([{ id: 1 }]);
      }
      expect(mine.filter((x) => x.sentAt >= rotatedAt + 1_000).length, client).toBeGreaterThanOrEqual(3);
    }
    for (const client of ['B token', 'B token sdk']) {
      const mine = answersOf(answers, client);
      expect(mine.length, client).toBeGreaterThan(0);
      for (const x of mine) {
        expect(x.status, `${client}: ${x.text}`).toBe(200);
        expect(JSON.parse(x.text), client).toEqual([{ id: 1 }]);
      }
    }
  });

  it('signing-key rotation under load changes nothing for HS256 tokens, keys or B; forged ES256 tokens stay out', async () => {
    const { jwtSecret } = await projectCredentials(a.ref);
    const aToken = await userToken(jwtSecret, { role: 'service_role' });
    const bToken = await userToken(b.jwtSecret, { role: 'service_role' });
    const read = (ref: string, options: { key: string; token?: string }) =>
      rest(ref, 'notes?select=id', options);
    const load = traffic({
      'A HS256 token': () => read(a.ref, { key: a.publishableKey, token: aToken }),
      'A secret key': () => read(a.ref, { key: a.secretKey }),
      'B token': () => read(b.ref, { key: b.publishableKey, token: bToken }),
      'B secret key': () => read(b.ref, { key: b.secretKey }),
    });
    let keys: Array<{ id: string; status: string }> = [];
    try {
      await load.sentSince(Date.now(), 3);
      // Twice: the first in_use key becomes previously_used, and a second rotation retires that in turn.
      for (let i = 0; i < 2; i++) {
        const rotated = await admin('POST', `/v1/projects/${a.ref}/signing-keys/rotate`);
        expect(rotated.status, rotated.text).toBe(200);
        keys = (rotated.json() as { keys: typeof keys }).keys;
        await load.sentSince(Date.now(), 3);
      }
    } finally {
      await load.stop();
    }
    expect(keys.filter((k) => k.status === 'in_use')).toHaveLength(1);
    expect(keys.filter((k) => k.status === 'previously_used').length).toBeGreaterThanOrEqual(1);
    for (const x of load.answers) {
      expect(x.status, `${x.client}: ${x.text}`).toBe(200);
      expect(JSON.parse(x.text)).toEqual([{ id: 1 }]);
    }

    // A token naming one of A's signing keys but signed by anyone else is refused, on A and on B.
    const { privateKey } = await generateKeyPair('ES256');
    for (const key of keys) {
      const forged = await new SignJWT({ role: 'service_role', aud: 'authenticated' })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.id })
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
      expectPostgrestError(await read(a.ref, { key: a.publishableKey, token: forged }), 401, 'PGRST301');
      expectPostgrestError(await read(b.ref, { key: b.publishableKey, token: forged }), 401, 'PGRST301');
    }
  });

  it('answers 404 for an unknown project', async () => {
    const res = await admin('POST', '/v1/projects/no-such-project-ref/jwt-secret/rotate');
    expect(res.status, res.text).toBe(404);
  });
});
