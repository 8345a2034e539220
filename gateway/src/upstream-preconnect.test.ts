import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from './server.js';
import { call, testConfig } from './testing/harness.js';
import { startRegistryServer } from './testing/registry-server.js';
import { createUpstreamPreconnector } from './upstream-preconnect.js';

interface CountingServer {
  readonly port: number;
  /** Every accepted socket, in order. */
  readonly sockets: Socket[];
  /** The socket each request arrived on. */
  readonly requestSockets: Socket[];
  close(): Promise<void>;
}

async function countingServer(): Promise<CountingServer> {
  const sockets: Socket[] = [];
  const requestSockets: Socket[] = [];
  const server: Server = createServer((req, res) => {
    requestSockets.push(req.socket);
    req.resume();
    res.end('ok');
  });
  server.on('connection', (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    requestSockets,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

let server: CountingServer;
beforeAll(async () => {
  server = await countingServer();
});
afterAll(() => server.close());
afterEach(async () => {
  // Each test starts from an upstream with no open connections.
  for (const socket of server.sockets) socket.destroy();
  server.sockets.length = 0;
  server.requestSockets.length = 0;
});

describe('upstream pre-connect', () => {
  it('opens the connection ahead and the first request reuses it; warming again opens nothing', async () => {
    const pre = createUpstreamPreconnector({ timeout: 1_000 });
    const agent = new Agent({ connect: pre.connector });
    const origin = `http://127.0.0.1:${server.port}`;
    try {
      pre.warm(origin);
      await until(() => server.sockets.length === 1);
      await until(() => pre.connections(origin) === 1);
      expect(server.requestSockets).toHaveLength(0);

      const response = await request(`${origin}/first`, { dispatcher: agent });
      expect(await response.body.text()).toBe('ok');
      expect(server.sockets).toHaveLength(1);
      expect(server.requestSockets[0]).toBe(server.sockets[0]);

      // The pool holds a live socket now: a reload of the config must not dial another one.
      pre.warm(origin);
      await new Promise((r) => setTimeout(r, 30));
      expect(server.sockets).toHaveLength(1);
      expect(pre.connections(origin)).toBe(1);
    } finally {
      pre.close();
      await agent.close();
    }
  });

  it('a request arriving while the warm connect is under way joins it instead of dialling twice', async () => {
    const pre = createUpstreamPreconnector({ timeout: 1_000 });
    const agent = new Agent({ connect: pre.connector });
    const origin = `http://127.0.0.1:${server.port}`;
    try {
      pre.warm(origin);
      const response = await request(`${origin}/joined`, { dispatcher: agent });
      await response.body.dump();
      expect(response.statusCode).toBe(200);
      expect(server.sockets).toHaveLength(1);
    } finally {
      pre.close();
      await agent.close();
    }
  });

  it('closes a parked connection nobody claims, and a failed warm connect leaves requests unaffected', async () => {
    const pre = createUpstreamPreconnector({ timeout: 1_000 }, 50);
    const agent = new Agent({ connect: pre.connector });
    const origin = `http://127.0.0.1:${server.port}`;
    try {
      pre.warm(origin);
      await until(() => server.sockets.length === 1);
      await until(() => server.sockets[0]!.destroyed || server.sockets[0]!.readableEnded, 1_000);
      expect(pre.connections(origin)).toBe(0);

      // Nothing listens on this port: the warm connect fails quietly and a request still gets its own error.
      const dead = await countingServer();
      await dead.close();
      const deadOrigin = `http://127.0.0.1:${dead.port}`;
      pre.warm(deadOrigin);
      await expect(request(`${deadOrigin}/x`, { dispatcher: agent })).rejects.toThrow();
      expect(pre.connections(deadOrigin)).toBe(0);
    } finally {
      pre.close();
      await agent.close();
    }
  });

  it('the gateway dials an allowed rest origin when a config loads, and never a disallowed one', async () => {
    const other = await countingServer();
    const registry = await startRegistryServer({ token: 'internal-token' });
    const allowed = registry.addProject('preconnectallowedaaaa', {
      upstreams: {
        rest: {
          kind: 'lambda-url',
          url: `http://rest-a.lambda-url.local.localhost:${server.port}/`,
          region: 'local',
        },
      },
    });
    const refused = registry.addProject('preconnectrefusedbbbb', {
      upstreams: {
        rest: { kind: 'lambda-url', url: `http://evil.localhost:${other.port}/`, region: 'local' },
      },
    });
    const running = await startGateway(testConfig(registry));
    try {
      const lookup = await running.gateway.projects.get(allowed.ref);
      expect(lookup.ok).toBe(true);
      await until(() => server.sockets.length === 1);
      expect(server.requestSockets).toHaveLength(0);

      const response = await call(running.url, allowed.ref, '/rest/v1/todos', {
        headers: { apikey: allowed.publishableKey },
      });
      expect(response.status).toBe(200);
      expect(server.sockets).toHaveLength(1);
      expect(server.requestSockets[0]).toBe(server.sockets[0]);

      expect((await running.gateway.projects.get(refused.ref)).ok).toBe(true);
      const denied = await call(running.url, refused.ref, '/rest/v1/todos', {
        headers: { apikey: refused.publishableKey },
      });
      expect(denied.status).toBe(502);
      await new Promise((r) => setTimeout(r, 50));
      expect(other.sockets).toHaveLength(0);
    } finally {
      await running.close();
      await registry.close();
      await other.close();
    }
  });
});
