import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';
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

    // Key-only requests (gateway mints with the new secret) and new-secret user tokens are served once the
    // warm rest function has re-read its config (it does so on a PGRST301 when its copy is over 1 s old).
    const newToken = await userToken(newSecret, { role: 'service_role' });
    await eventually(
      async () => (await rest(a.ref, 'notes?select=id,body', { key: a.secretKey })).status === 200,
      5_000, // about 1 s by design; the rest is slack for a loaded CI machine
      250,
    );
    const withKey = await rest(a.ref, 'notes?select=id,body', { key: a.secretKey });
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

  it('answers 404 for an unknown project', async () => {
    const res = await admin('POST', '/v1/projects/no-such-project-ref/jwt-secret/rotate');
    expect(res.status, res.text).toBe(404);
  });
});
