import { createConnection, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRestEngine, type RestEngine } from './engine.js';

// A TCP proxy in front of Postgres that can make every open connection die on its next use — what
// a frozen Lambda finds on thaw (the socket looks open; the peer is long gone).
const upstream = new URL(inject('restDbUrl'));
const clients = new Set<Socket>();
const proxy = createServer((client) => {
  const server = createConnection(Number(upstream.port), upstream.hostname);
  clients.add(client);
  let doomed = false;
  client.on('data', (chunk) => {
    if (doomed) {
      client.resetAndDestroy();
      server.destroy();
      return;
    }
    server.write(chunk);
  });
  server.on('data', (chunk) => client.write(chunk));
  client.on('close', () => server.destroy());
  server.on('close', () => client.destroy());
  client.on('error', () => {});
  server.on('error', () => {});
  client.on('doom', () => {
    doomed = true;
  });
});

let pool: pg.Pool;
let engine: RestEngine;
beforeAll(async () => {
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(upstream);
  url.port = String((proxy.address() as AddressInfo).port);
  pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
  pool.on('error', () => {});
  engine = createRestEngine({ pool, schemas: ['public'], listenForReload: false });
});
afterAll(async () => {
  await engine.close();
  await pool.end();
  for (const c of clients) c.destroy();
  await new Promise((resolve) => proxy.close(resolve));
});

const call = (method: string, rawQuery: string, body?: unknown) =>
  engine.handle({
    method,
    path: '/books',
    rawQuery,
    headers: {},
    ...(body ? { body: Buffer.from(JSON.stringify(body)) } : {}),
  });

const doomAll = () => {
  for (const c of clients) c.emit('doom');
};

describe('pooled connections', () => {
  it('runs a read again on a fresh connection when the pooled one died while idle', async () => {
    expect((await call('GET', 'select=id&id=eq.1')).status).toBe(200);
    doomAll();
    const r = await call('GET', 'select=id&id=eq.2');
    expect(r.status, r.body.toString()).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual([{ id: 2 }]);
  });

  it('does not run a write twice: a lost connection during a write is a 503', async () => {
    expect((await call('GET', 'select=id&id=eq.1')).status).toBe(200);
    doomAll();
    const r = await call('PATCH', 'id=eq.999', { title: 'never' });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'PGRST001' });
    // The broken client was discarded: the next request works on a fresh connection.
    expect((await call('GET', 'select=id&id=eq.3')).status).toBe(200);
  });
});

describe('unexpected failures', () => {
  it('reports a failure that is neither an API nor a database error to onError once', async () => {
    // Nothing listens on this port: every connect fails with ECONNREFUSED.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const refused = new pg.Pool({ connectionString: `postgres://u:p@127.0.0.1:${port}/db`, max: 1 });
    const reported: unknown[] = [];
    const down = createRestEngine({
      pool: refused,
      schemas: ['public'],
      listenForReload: false,
      onError: (error) => reported.push(error),
    });
    const r = await down.handle({ method: 'GET', path: '/books', rawQuery: '', headers: {} });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body.toString())).toMatchObject({ code: 'PGRST001' });
    expect(reported).toHaveLength(1);
    await down.close();
    await refused.end();
  });
});
