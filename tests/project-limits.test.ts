import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest, supabaseFor } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import {
  createProjects,
  deleteProject,
  eventually,
  sql,
  sqlRequest,
  type TestProject,
  untilSleeping,
} from './support/projects.js';

// Noisy-neighbour protection, set per project by the operator:
// - a project at its database connection limit is refused by its own database (503 through the
//   gateway, saying why), while another project on the same cluster is served;
// - a project over its request rate is refused by the gateway (429 with Retry-After) before anything
//   reaches its data API, while another project is served.

const SLEEP_SECONDS = 4;

let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  [a, b] = await createProjects('connlimit-a', 'connlimit-b');
  const schema = `create table public.notes (id int primary key);
    insert into public.notes values (1);`;
  await Promise.all([sql(a.ref, schema), sql(b.ref, schema)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

function expectConnectionLimit(res: Awaited<ReturnType<typeof rest>>): void {
  const body = expectPostgrestError(res, 503, 'PGRST000');
  expect(body.message).toBe("Too many connections: the project's database connection limit is reached");
  expect(res.headers['retry-after']).toBe('1');
  // Nothing about where or as whom the data API connects.
  expect(res.text).not.toMatch(/127\.0\.0\.1|localhost|authenticator_|owner_|proj_|password/i);
}

describe('database connection limit per project', () => {
  it('A at its limit answers 503 saying so while B on the same cluster answers 200; A recovers once its connection is free', async () => {
    const projects = await Promise.all(
      [a, b].map(async (p) => (await admin('GET', `/v1/projects/${p.ref}`)).json()),
    );
    expect((projects[0] as { cluster_id: string }).cluster_id).toBe(
      (projects[1] as { cluster_id: string }).cluster_id,
    );

    const patched = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { db_connections: 1 } });
    expect(patched.status, patched.text).toBe(200);
    expect((patched.json() as { limits: { db_connections: number } }).limits.db_connections).toBe(1);

    // The operator's SQL endpoint takes A's one connection and keeps it busy.
    const sleeping = sqlRequest(a.ref, `select pg_sleep(${SLEEP_SECONDS})`);
    await untilSleeping(a.ref);

    expectConnectionLimit(await rest(a.ref, 'notes?select=id', { key: a.secretKey }));
    const other = await rest(b.ref, 'notes?select=id', { key: b.secretKey });
    expect(other.status, other.text).toBe(200);
    expect(other.json()).toEqual([{ id: 1 }]);
    // Still refused after B was served: the same moment, not a race.
    expectConnectionLimit(await rest(a.ref, 'notes?select=id', { key: a.publishableKey }));

    const slept = await sleeping;
    expect(slept.status, slept.text).toBe(201);
    await eventually(
      async () => (await rest(a.ref, 'notes?select=id', { key: a.secretKey })).status === 200,
      5_000,
    );
    const again = await rest(a.ref, 'notes?select=id', { key: a.secretKey });
    expect(again.status, again.text).toBe(200);
    expect(again.json()).toEqual([{ id: 1 }]);
  });
});

describe('request rate limit per project', () => {
  const status = async (p: TestProject) =>
    (await rest(p.ref, 'notes?select=id', { key: p.publishableKey })).status;

  it('A over its rate answers 429 with Retry-After while B is served; lifting the limit restores A within a second', async () => {
    // One request per second (the API's least) with a burst of 3.
    const patched = await admin('PATCH', `/v1/projects/${a.ref}`, {
      limits: { requests_per_second: 1, burst: 3 },
    });
    expect(patched.status, patched.text).toBe(200);
    expect((patched.json() as { limits: unknown }).limits).toMatchObject({
      requests_per_second: 1,
      burst: 3,
    });

    // The gateways learn the limit within a second (invalidation `limits-updated`).
    await eventually(async () => (await status(a)) === 429, 2_000);
    const refused = await rest(a.ref, 'notes?select=id', { key: a.publishableKey });
    expect(refused.status).toBe(429);
    expect(refused.json()).toEqual({
      message: 'API rate limit exceeded',
      hint: expect.stringContaining('1 request per second'),
    });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // B shares the cluster and the gateway, not the limit.
    for (let i = 0; i < 5; i++) expect(await status(b)).toBe(200);

    // supabase-js surfaces the refusal as an error with the status, not as empty data. The bucket is
    // drained again first, so that the call lands inside the same second.
    await eventually(async () => (await status(a)) === 429, 2_000);
    const {
      data,
      error,
      status: sdkStatus,
    } = await supabaseFor(a.ref, a.publishableKey).from('notes').select('id');
    expect(sdkStatus).toBe(429);
    expect(data).toBeNull();
    expect(error?.message).toBe('API rate limit exceeded');

    const lifted = await admin('PATCH', `/v1/projects/${a.ref}`, { limits: { requests_per_second: null } });
    expect(lifted.status, lifted.text).toBe(200);
    expect((lifted.json() as { limits: unknown }).limits).toMatchObject({
      requests_per_second: null,
      burst: null,
    });
    await eventually(async () => (await status(a)) === 200, 2_000);
    for (let i = 0; i < 10; i++) expect(await status(a)).toBe(200);
  });
});
