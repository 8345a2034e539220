import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY, freshManagementDb, INTERNAL_TOKEN, pgUrl } from '../test/harness.js';
import { loadConfig } from './config.js';
import { startTenantManager } from './server.js';

// The emulator's control API, as a real HTTP server.
const registered = new Map<string, unknown>();
const emulator = createServer(async (req, res) => {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  const name = req.url!.split('/')[2]!;
  if (req.method === 'PUT') {
    registered.set(name, JSON.parse(raw));
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ name, url: `http://${name}.lambda-url.local.localhost:9000/` }));
  }
  registered.delete(name);
  res.writeHead(204).end();
});

let env: Record<string, string>;
beforeAll(async () => {
  await new Promise<void>((resolve) => emulator.listen(0, '127.0.0.1', resolve));
  env = {
    TM_PUBLIC_PORT: '0',
    TM_INTERNAL_PORT: '0',
    DATABASE_URL: await freshManagementDb(),
    ADMIN_API_KEY: ADMIN_KEY,
    INTERNAL_SERVICE_TOKEN: INTERNAL_TOKEN,
    MASTER_KEY: Buffer.alloc(32, 3).toString('base64'),
    LAMBDA_EMULATOR_URL: `http://127.0.0.1:${(emulator.address() as AddressInfo).port}`,
    WORKER_CLUSTER_URL: pgUrl(),
    WORKER_CLUSTER_CAPACITY: '5',
    LOG_LEVEL: 'silent',
  };
});
afterAll(() => new Promise<void>((resolve) => emulator.close(() => resolve())));

describe('startTenantManager', () => {
  it('listens on both ports, registers the configured cluster, provisions through the emulator, and restarts on the same data', async () => {
    const tm = await startTenantManager(loadConfig(env));
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
    try {
      expect(await (await fetch(`${tm.publicUrl}/health`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${tm.internalUrl}/ready`)).status).toBe(200);
      const clusters = await (await fetch(`${tm.publicUrl}/v1/clusters`, { headers })).json();
      expect(clusters).toMatchObject([{ name: 'local', capacity: 5, status: 'active' }]);
      expect(JSON.stringify(clusters)).not.toContain('postgres@'); // no credentials in the answer

      const created = await fetch(`${tm.publicUrl}/v1/projects`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'srv', ref: 'srv-one' }),
      });
      expect(created.status).toBe(201);
      expect(((await created.json()) as { status: string }).status).toBe('ACTIVE_HEALTHY');
      expect(registered.get('rest-srv-one')).toEqual({
        runtime: 'rest',
        environment: {
          SUPAPLANE_PROJECT_REF: 'srv-one',
          SUPAPLANE_CONFIG_URL: tm.internalUrl,
          SUPAPLANE_INTERNAL_TOKEN: expect.stringMatching(/^sfn_srv-one_[\w-]{43}$/),
        },
      });
      // the function's own token reads its rest-config over HTTP, and nothing else
      const { environment } = registered.get('rest-srv-one') as { environment: Record<string, string> };
      const functionAuth = { authorization: `Bearer ${environment.SUPAPLANE_INTERNAL_TOKEN}` };
      const own = await fetch(`${tm.internalUrl}/internal/v1/projects/srv-one/rest-config`, {
        headers: functionAuth,
      });
      expect(own.status).toBe(200);
      expect(((await own.json()) as { db: { database: string } }).db.database).toBe('proj_srv-one');
      expect(
        (await fetch(`${tm.internalUrl}/internal/v1/projects/srv-one/config`, { headers: functionAuth }))
          .status,
      ).toBe(403);
      const config = await fetch(`${tm.internalUrl}/internal/v1/projects/srv-one/config`, {
        headers: { authorization: `Bearer ${INTERNAL_TOKEN}` },
      });
      expect(((await config.json()) as { upstreams: { rest: { url: string } } }).upstreams.rest.url).toBe(
        'http://rest-srv-one.lambda-url.local.localhost:9000/',
      );
      // the internal API is not served on the public port
      expect(
        (
          await fetch(`${tm.publicUrl}/internal/v1/projects/srv-one/config`, {
            headers: { authorization: `Bearer ${INTERNAL_TOKEN}` },
          })
        ).status,
      ).toBe(404);
    } finally {
      await tm.close();
    }
    const again = await startTenantManager(loadConfig({ ...env, WORKER_CLUSTER_CAPACITY: '7' }));
    try {
      const project = await fetch(`${again.publicUrl}/v1/projects/srv-one`, { headers });
      expect(((await project.json()) as { status: string }).status).toBe('ACTIVE_HEALTHY');
      const clusters = await (await fetch(`${again.publicUrl}/v1/clusters`, { headers })).json();
      expect(clusters).toMatchObject([{ name: 'local', capacity: 7, project_count: 1 }]);
      await fetch(`${again.publicUrl}/v1/projects/srv-one`, {
        method: 'DELETE',
        headers: { authorization: headers.authorization },
      });
      expect(registered.has('rest-srv-one')).toBe(false);
    } finally {
      await again.close();
    }
  });

  it('logs a Redis that stays down once, not on every reconnect attempt', async () => {
    // A port nothing listens on: every reconnect attempt fails at once.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const tm = await startTenantManager(
      loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${port}`, LOG_LEVEL: 'warn' }),
      destination,
    );
    try {
      const redisErrors = () => lines.filter((line) => line.includes('redis error'));
      await vi.waitFor(() => expect(redisErrors()).toHaveLength(1));
      // ioredis retries every 50–200 ms at first: several more failures within this second.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(redisErrors()).toHaveLength(1);
      expect(JSON.parse(redisErrors()[0]!).err).toMatch(/ECONNREFUSED/);
    } finally {
      await tm.close();
    }
  });

  it('refuses to start with PROVIDER=aws and an unusable provider config', async () => {
    await expect(
      startTenantManager(
        loadConfig({ ...env, PROVIDER: 'aws', SUPAPLANE_AWS_PROVIDER_CONFIG: '{"not":"valid"}' }),
      ),
    ).rejects.toThrow();
    expect(() => loadConfig({ ...env, PROVIDER: 'aws' })).toThrow(
      'SUPAPLANE_AWS_PROVIDER_CONFIG is required',
    );
  });
});
