import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  eventually,
  type Harness,
  pgUrl,
  queryOnce,
  startClusterProxy,
  startHarness,
  TEST_APP_CONFIG,
} from '../../test/harness.js';

// GET /v1/projects/:ref/health as Supabase's Management API answers it (v1-get-services-health): one
// entry per service asked for, `{name, healthy, status, info?, error?}`, the answer 200 whatever the
// services' state; checks run against the project's database (through a proxy that can go down) and
// the function provider's view of its data-API function.

let worker: Awaited<ReturnType<typeof startClusterProxy>>;
let h: Harness;
/** Provisioning of a ref waits here while set: the project stays COMING_UP. */
const held = new Map<string, Promise<void>>();

beforeAll(async () => {
  worker = await startClusterProxy();
  h = await startHarness({
    config: { ...TEST_APP_CONFIG, provisionWaitMs: 100 },
    faults: { beforeStep: (_step, ref) => held.get(ref) },
  });
  await h.registerCluster('health', 20, { host: '127.0.0.1', port: worker.port });
  for (const ref of ['health-one', 'health-two']) await createActive(ref);
});
afterAll(async () => {
  worker?.up();
  await h?.close();
  await worker?.close();
});

async function createActive(ref: string) {
  expect((await h.createProject(ref)).statusCode).toBe(201);
  await eventually(async () => ((await project(ref)).status === 'ACTIVE_HEALTHY' ? true : undefined));
}
const project = async (ref: string) =>
  (await h.tm.publicApp.inject({ method: 'GET', url: `/v1/projects/${ref}`, headers: admin })).json();
const health = (ref: string, query: string) =>
  h.tm.publicApp.inject({ method: 'GET', url: `/v1/projects/${ref}/health?${query}`, headers: admin });
const byName = (body: { name: string; status: string }[]) =>
  Object.fromEntries(body.map((s) => [s.name, s])) as Record<string, { name: string; status: string }>;

/** No stack, no address, no driver wording: what an operator's script may log as it is. */
function expectNoInternals(text: string) {
  expect(text).not.toMatch(/ECONN|127\.0\.0\.1|localhost|password|\bat \w|Error:/);
}

/** The health entry of a rest service that is down, saying why. */
const restUnhealthy = (error: string) => ({ name: 'rest', healthy: false, status: 'UNHEALTHY', error });

describe('the request', () => {
  it('needs services, as Supabase: 400 without', async () => {
    const response = await health('health-one', '');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      message: "querystring must have required property 'services'",
      code: 'validation_failed',
    });
  });

  it('refuses a service name Supabase does not know, naming it and the names it takes', async () => {
    const response = await health('health-one', 'services=db,graphql');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      message:
        'unknown service: graphql (services: auth, db, db_postgres_user, pooler, realtime, rest, storage, pg_bouncer)',
      code: 'validation_failed',
    });
  });

  it('takes the list repeated or comma-separated, answering each service once in the order asked', async () => {
    for (const query of ['services=rest&services=db', 'services=rest,db', 'services=rest,%20db,rest']) {
      const response = await health('health-one', query);
      expect(response.statusCode, query).toBe(200);
      expect(response.json().map((s: { name: string }) => s.name)).toEqual(['rest', 'db']);
    }
  });

  it('refuses timeout_ms outside Supabase range (0 to 10000)', async () => {
    const response = await health('health-one', 'services=db&timeout_ms=10001');
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('validation_failed');
  });

  it('answers 404 for a project that does not exist or was deleted', async () => {
    expect((await health('health-none', 'services=db')).statusCode).toBe(404);
    await createActive('health-gone');
    await h.tm.publicApp.inject({ method: 'DELETE', url: '/v1/projects/health-gone', headers: admin });
    const response = await health('health-gone', 'services=db');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ message: 'project not found', code: 'not_found' });
  });
});

describe('an ACTIVE_HEALTHY project', () => {
  it("answers db, db_postgres_user and rest ACTIVE_HEALTHY, rest with the data API's schemas", async () => {
    const response = await health('health-one', 'services=db,db_postgres_user,rest');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual([
      { name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' },
      { name: 'db_postgres_user', healthy: true, status: 'ACTIVE_HEALTHY' },
      { name: 'rest', healthy: true, status: 'ACTIVE_HEALTHY', info: { db_schema: 'public' } },
    ]);
  });

  it('answers the services Supaplane does not run as UNHEALTHY, saying so, not the whole request as 400', async () => {
    const response = await health('health-one', 'services=auth,db,pooler,storage,realtime,pg_bouncer');
    expect(response.statusCode).toBe(200);
    const services = byName(response.json());
    expect(services.db).toEqual({ name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' });
    for (const name of ['auth', 'pooler', 'storage', 'realtime', 'pg_bouncer']) {
      expect(services[name]).toEqual({
        name,
        healthy: false,
        status: 'UNHEALTHY',
        error: `${name} is not a service Supaplane runs`,
      });
    }
  });
});

describe('a project that is not serving', () => {
  it('answers every service COMING_UP while the project is being created', async () => {
    let release!: () => void;
    held.set(
      'health-new',
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      expect((await h.createProject('health-new')).json().status).toBe('COMING_UP');
      const response = await health('health-new', 'services=db,rest,auth');
      expect(response.statusCode).toBe(200);
      for (const service of response.json()) {
        expect(service).toEqual({
          name: service.name,
          healthy: false,
          status: 'COMING_UP',
          error: 'the project is being created (COMING_UP)',
        });
      }
    } finally {
      held.delete('health-new');
      release();
    }
    await eventually(async () =>
      (await project('health-new')).status === 'ACTIVE_HEALTHY' ? true : undefined,
    );
    const ready = await health('health-new', 'services=db,rest');
    expect(ready.json().map((s: { status: string }) => s.status)).toEqual([
      'ACTIVE_HEALTHY',
      'ACTIVE_HEALTHY',
    ]);
  });

  it('answers every service UNHEALTHY, saying the project is paused, until it is restored', async () => {
    const pause = await h.tm.publicApp.inject({
      method: 'POST',
      url: '/v1/projects/health-two/pause',
      headers: admin,
    });
    expect(pause.json().status).toBe('INACTIVE');
    const response = await health('health-two', 'services=db,db_postgres_user,rest');
    expect(response.statusCode).toBe(200);
    for (const service of response.json()) {
      expect(service).toEqual({
        name: service.name,
        healthy: false,
        status: 'UNHEALTHY',
        error: 'the project is paused (INACTIVE)',
      });
    }
    await h.tm.publicApp.inject({ method: 'POST', url: '/v1/projects/health-two/restore', headers: admin });
    const restored = await health('health-two', 'services=db,db_postgres_user,rest');
    expect(restored.json().map((s: { status: string }) => s.status)).toEqual([
      'ACTIVE_HEALTHY',
      'ACTIVE_HEALTHY',
      'ACTIVE_HEALTHY',
    ]);
  });
});

describe('a dependency down', () => {
  it('answers db UNHEALTHY with what is wrong (no address, no stack) while the worker cluster is down, rest still healthy', async () => {
    worker.down();
    try {
      const response = await health('health-one', 'services=db,db_postgres_user,rest&timeout_ms=3000');
      expect(response.statusCode).toBe(200);
      expectNoInternals(response.body);
      const services = byName(response.json());
      for (const name of ['db', 'db_postgres_user']) {
        expect(services[name]).toEqual({
          name,
          healthy: false,
          status: 'UNHEALTHY',
          error: "the project's database cluster is not reachable",
        });
      }
      expect(services.rest?.status).toBe('ACTIVE_HEALTHY');
    } finally {
      worker.up();
    }
    const back = await health('health-one', 'services=db');
    expect(back.json()).toEqual([{ name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' }]);
  });

  it('answers db UNHEALTHY once timeout_ms runs out while the database accepts the connection and never answers, rest unaffected', async () => {
    // The cluster's address accepts TCP and then says nothing (no SSL answer, no authentication
    // request): only the check's own timeout can end the wait.
    worker.hang();
    const started = Date.now();
    try {
      const response = await health('health-one', 'services=db,db_postgres_user,rest&timeout_ms=300');
      console.info(`health answered ${Date.now() - started} ms after it was asked (timeout_ms=300)`);
      expect(response.statusCode).toBe(200);
      expectNoInternals(response.body);
      // Both database checks reached the silent server and were still held there when they gave up.
      expect(worker.hung().accepted).toBe(2);
      expect(response.json()).toEqual([
        {
          name: 'db',
          healthy: false,
          status: 'UNHEALTHY',
          error: "the project's database did not answer within 300 ms",
        },
        {
          name: 'db_postgres_user',
          healthy: false,
          status: 'UNHEALTHY',
          error: "the project's database did not answer within 300 ms",
        },
        { name: 'rest', healthy: true, status: 'ACTIVE_HEALTHY', info: { db_schema: 'public' } },
      ]);
      // Nor are the abandoned connections left open: the check closes what it gave up on.
      await eventually(async () => (worker.hung().open === 0 ? true : undefined));
    } finally {
      worker.up();
    }
    const back = await health('health-one', 'services=db');
    expect(back.json()).toEqual([{ name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' }]);
  });

  it('answers rest UNHEALTHY when the function provider cannot be reached, db still healthy', async () => {
    h.functions.unreachable = true;
    try {
      const response = await health('health-one', 'services=db,rest');
      expect(response.statusCode).toBe(200);
      expectNoInternals(response.body);
      expect(response.json()).toEqual([
        { name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' },
        restUnhealthy("the function provider did not answer for the project's data API function"),
      ]);
    } finally {
      h.functions.unreachable = false;
    }
  });

  it('answers rest UNHEALTHY when the function is gone or failed at the provider', async () => {
    const environment = h.functions.live.get('health-one')!;
    h.functions.live.delete('health-one');
    try {
      expect((await health('health-one', 'services=rest')).json()).toEqual([
        restUnhealthy("the project's data API function does not exist at the function provider"),
      ]);
    } finally {
      h.functions.live.set('health-one', environment);
    }
    h.functions.failed.add('health-one');
    try {
      expect((await health('health-one', 'services=rest')).json()).toEqual([
        restUnhealthy("the project's data API function is failed at the function provider"),
      ]);
    } finally {
      h.functions.failed.delete('health-one');
    }
  });

  it('answers rest UNHEALTHY when the function of an active project is stopped at the provider (it would answer 429)', async () => {
    // Stopped behind the platform's back: the project is still ACTIVE_HEALTHY in the registry.
    h.functions.stopped.add('health-one');
    try {
      expect((await health('health-one', 'services=rest')).json()).toEqual([
        restUnhealthy("the project's data API function is stopped at the function provider"),
      ]);
    } finally {
      h.functions.stopped.delete('health-one');
    }
    expect((await health('health-one', 'services=rest')).json()[0].status).toBe('ACTIVE_HEALTHY');
  });

  it("answers db_postgres_user UNHEALTHY when the project's own role cannot log in, db still healthy", async () => {
    await queryOnce(pgUrl(), 'ALTER ROLE "owner_health-one" NOLOGIN');
    try {
      const response = await health('health-one', 'services=db,db_postgres_user');
      expect(response.statusCode).toBe(200);
      expectNoInternals(response.body);
      expect(response.json()).toEqual([
        { name: 'db', healthy: true, status: 'ACTIVE_HEALTHY' },
        {
          name: 'db_postgres_user',
          healthy: false,
          status: 'UNHEALTHY',
          error: "the project's database refused the check (SQLSTATE 28000)",
        },
      ]);
    } finally {
      await queryOnce(pgUrl(), 'ALTER ROLE "owner_health-one" LOGIN');
    }
  });
});
