import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, pgUrl, queryOnce, startClusterProxy } from '../../test/harness.js';
import { adminPool } from './cluster-pools.js';
import { isFromWorkerCluster, isUnreachable } from './errors.js';
import { type ClusterConnection, connectTo } from './project-db.js';

// Every way the tenant-manager talks to a worker cluster reports the cluster's outage as the
// cluster's, so the API never answers it as the management database's.

let worker: Awaited<ReturnType<typeof startClusterProxy>>;
let conn: ClusterConnection;

beforeAll(async () => {
  worker = await startClusterProxy();
  const server = new URL(pgUrl());
  conn = {
    host: '127.0.0.1',
    port: worker.port,
    user: decodeURIComponent(server.username),
    password: decodeURIComponent(server.password),
    database: 'postgres',
    ssl: false,
  };
});
afterEach(() => worker.up());
afterAll(() => worker?.close());

async function expectWorkerClusterOutage(call: Promise<unknown>) {
  const error = await call.then(
    () => new Error('expected the call to fail'),
    (e: unknown) => e,
  );
  expect(isUnreachable(error), String(error)).toBe(true);
  expect(isFromWorkerCluster(error), String(error)).toBe(true);
}

/** Resolves once a statement tagged `tag` runs on the server (reached through the proxy). */
const running = (tag: string) =>
  eventually(async () => {
    const rows = await queryOnce(
      pgUrl(),
      'SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()',
      [`%${tag}%`],
    );
    return rows.length > 0 ? true : undefined;
  });

describe('a worker cluster that goes down', () => {
  it('is the failure of the admin pool: its connect and query, and a query it was running', async () => {
    const pool = adminPool(conn, 2);
    try {
      const cutOff = pool.query(`SELECT pg_sleep(30) -- pool-query`);
      await running('pool-query');
      worker.down();
      await expectWorkerClusterOutage(cutOff);
      await expectWorkerClusterOutage(pool.query('SELECT 1'));
      await expectWorkerClusterOutage(pool.connect());
    } finally {
      await pool.end();
    }
  });

  it('is the failure of the admin pool when none of its connections is free in time', async () => {
    const pool = adminPool(conn, 1);
    pool.options.connectionTimeoutMillis = 50;
    const held = await pool.connect();
    try {
      await expectWorkerClusterOutage(pool.connect());
    } finally {
      held.release();
      await pool.end();
    }
  });

  it('is the failure of a connection taken from the admin pool', async () => {
    const pool = adminPool(conn, 2);
    const client = await pool.connect();
    try {
      const cutOff = client.query(`SELECT pg_sleep(30) -- taken-connection`);
      await running('taken-connection');
      worker.down();
      await expectWorkerClusterOutage(cutOff);
      await expectWorkerClusterOutage(client.query('SELECT 1'));
    } finally {
      client.release(true);
      await pool.end();
    }
  });

  // pg emits a connection dropped between queries as `error` on the client; with nobody listening
  // that event would end the process (seen when the local stack stopped mid spare-database refill).
  it('between two queries, on a connection taken from the admin pool or a one-off client, crashes nothing: the next query fails as the outage', async () => {
    const pool = adminPool(conn, 2);
    const taken = await pool.connect();
    const oneOff = connectTo(conn, 'postgres');
    await oneOff.connect();
    try {
      await taken.query('SELECT 1');
      await oneOff.query('SELECT 1');
      const ended = Promise.all([taken, oneOff].map((c) => new Promise((r) => c.once('end', r))));
      worker.down();
      await ended;
      await expectWorkerClusterOutage(taken.query('SELECT 1'));
      await expectWorkerClusterOutage(oneOff.query('SELECT 1'));
    } finally {
      taken.release(true);
      await oneOff.end().catch(() => {});
      await pool.end();
    }
  });

  it('is the failure of a one-off client that cannot connect', async () => {
    worker.down();
    await expectWorkerClusterOutage(connectTo(conn, 'postgres').connect());
  });

  // Each on a client of its own: queries cut off together fail with one error object.
  const cutOffBy: Record<string, (client: pg.Client, sql: string) => Promise<unknown>> = {
    promise: (client, sql) => client.query(sql),
    callback: (client, sql) =>
      new Promise((resolve, reject) =>
        client.query(sql, (error, result) => (error ? reject(error) : resolve(result))),
      ),
    'Query object': (client, sql) =>
      new Promise((resolve, reject) => {
        const query = new pg.Query(sql);
        query.on('error', reject).on('end', resolve);
        client.query(query);
      }),
  };
  for (const [form, run] of Object.entries(cutOffBy)) {
    it(`is the failure of a one-off client's query (${form}) cut off by the outage`, async () => {
      const client = connectTo(conn, 'postgres');
      await client.connect();
      try {
        const tag = `one-off ${form}`;
        const cutOff = run(client, `SELECT pg_sleep(30) -- ${tag}`);
        await running(tag);
        worker.down();
        await expectWorkerClusterOutage(cutOff);
      } finally {
        await client.end().catch(() => {});
      }
    });
  }
});
