import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterObjects,
  eventually,
  freshManagementDb,
  type Harness,
  internal,
  pgUrl,
  queryOnce,
  startClusterProxy,
  startHarness,
  TEST_APP_CONFIG,
} from '../test/harness.js';

// What the APIs answer while a database they need is down: a JSON 503 naming which one, no stack,
// no connection details; and the same process answers as usual once it is back.

let management: Awaited<ReturnType<typeof startClusterProxy>>;
let worker: Awaited<ReturnType<typeof startClusterProxy>>;
let h: Harness;

beforeAll(async () => {
  management = await startClusterProxy();
  worker = await startClusterProxy();
  const url = new URL(await freshManagementDb());
  url.host = `127.0.0.1:${management.port}`;
  // Long enough that a query is still running when the worker cluster goes down.
  h = await startHarness({
    managementUrl: url.toString(),
    config: { ...TEST_APP_CONFIG, sqlStatementTimeoutMs: 30_000 },
  });
  await h.registerCluster('outage', 10, { host: '127.0.0.1', port: worker.port });
  for (const ref of ['outage-one', 'outage-two']) {
    expect((await h.createProject(ref)).json().status).toBe('ACTIVE_HEALTHY');
  }
});
afterAll(async () => {
  management?.up();
  worker?.up();
  await h?.close();
  await Promise.all([management?.close(), worker?.close()]);
});

const call = (...args: Parameters<Harness['call']>) => h.call(...args);

function expectUnreachable(response: LightMyRequestResponse, code: string) {
  expect(response.statusCode, response.body).toBe(503);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.json().code).toBe(code);
  expect(response.body).not.toMatch(/ECONN|127\.0\.0\.1|password|\bat \w/);
}

describe('the management database down', () => {
  // pg.Pool listens for `error` on idle clients only: a taken one cut between two queries (a
  // failover while a request awaits something else) would end the process with nobody listening.
  it('cuts a connection taken from the pool between two queries: nothing crashes, the next query fails', async () => {
    const client = await h.db.connect();
    try {
      await client.query('SELECT 1');
      const ended = new Promise((resolve) => client.once('end', resolve));
      management.down();
      await ended;
      await expect(client.query('SELECT 1')).rejects.toThrow();
    } finally {
      client.release(true);
      management.up();
    }
    expect((await call('GET', '/v1/projects/outage-one')).json().status).toBe('ACTIVE_HEALTHY');
  });

  it('answers 503 management_database_unreachable on both APIs, then recovers without a restart', async () => {
    management.down();
    try {
      for (const response of [
        await call('GET', '/v1/projects'),
        await call('GET', '/v1/projects/outage-one'),
        await call('POST', '/v1/projects', { name: 'during the outage' }),
        await call('POST', '/v1/projects/outage-one/pause'),
        await call('GET', '/v1/clusters'),
        await h.tm.internalApp.inject({ url: '/internal/v1/projects/outage-one/config', headers: internal }),
      ]) {
        expectUnreachable(response, 'management_database_unreachable');
        expect(response.json().message).toBe('the management database is not reachable; try again shortly');
        expect(response.headers['retry-after']).toBe('5');
      }
    } finally {
      management.up();
    }
    expect((await call('GET', '/v1/projects/outage-one')).json().status).toBe('ACTIVE_HEALTHY');
    expect(
      (await h.tm.internalApp.inject({ url: '/internal/v1/projects/outage-one/config', headers: internal }))
        .statusCode,
    ).toBe(200);
  });
});

describe("a project's worker cluster down", () => {
  it('answers 503 database_unreachable for a query it cuts off, not the management database', async () => {
    const cutOff = call('POST', '/v1/projects/outage-one/database/query', {
      query: 'select pg_sleep(30) -- cut off',
    });
    await eventually(async () => {
      const rows = await queryOnce(
        pgUrl(),
        `SELECT 1 FROM pg_stat_activity WHERE query LIKE '%-- cut off' AND pid <> pg_backend_pid()`,
      );
      return rows.length > 0 ? true : undefined;
    });
    worker.down();
    try {
      expectUnreachable(await cutOff, 'database_unreachable');
    } finally {
      worker.up();
    }
  });

  it('answers 503 database_unreachable where the cluster is needed, and reads the rest', async () => {
    worker.down();
    try {
      expectUnreachable(
        await call('PATCH', '/v1/projects/outage-one', { limits: { db_connections: 7 } }),
        'database_unreachable',
      );
      expectUnreachable(
        await call('POST', '/v1/projects/outage-one/database/query', { query: 'select 1' }),
        'database_unreachable',
      );
      const deleting = await call('DELETE', '/v1/projects/outage-two');
      expect(deleting.statusCode).toBe(503);
      expect(deleting.json()).toEqual({
        message:
          "the delete did not finish (see the project's last_error); the project stays GOING_DOWN and is retried in the background",
        code: 'delete_incomplete',
      });
      expect((await call('GET', '/v1/projects/outage-two')).json()).toMatchObject({
        status: 'GOING_DOWN',
        last_error: expect.any(String),
      });
      const pause = await call('POST', '/v1/projects/outage-one/pause');
      expect(pause.statusCode).toBe(503);
      expect(pause.json().code).toBe('transition_incomplete');
      // What lives in the management database still answers.
      expect((await call('GET', '/v1/projects/outage-one')).json().status).toBe('PAUSING');
      expect((await call('GET', '/v1/projects/outage-one/api-keys')).statusCode).toBe(200);
      const usage = await call('GET', '/v1/projects/outage-one/usage');
      expect(usage.statusCode).toBe(200);
      expect(usage.json().unavailable).toContain('database');
    } finally {
      worker.up();
    }
    expect((await call('POST', '/v1/projects/outage-one/pause')).json().status).toBe('INACTIVE');
    // The delete finishes in the background: no second call, no restart.
    await eventually(async () =>
      (await call('GET', '/v1/projects/outage-two')).statusCode === 404 ? true : undefined,
    );
    expect(await clusterObjects('outage-two')).toEqual([]);
  });
});
