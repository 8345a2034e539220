import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { call, testConfig, upstreamsFor } from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';

/**
 * The HTTP edges a browser or supabase-js meets, against an upstream that answers the way
 * PostgREST, GoTrue, Storage (tus) and Edge Functions do.
 */
let upstream: Server;
let registry: RegistryServer;
let running: RunningGateway;
let url: string;
let project: TestProject;
/** Body bytes the upstream has handed to its socket for `/big/<n>`. */
let bigWritten = 0;

const ROWS = Buffer.from(JSON.stringify(Array.from({ length: 500 }, (_, id) => ({ id, name: `row ${id}` }))));
const ROWS_GZIP = gzipSync(ROWS);
/** Response headers the supabase-js libraries (and tus-js-client for storage) read. */
const CLIENT_READ_HEADERS: Record<string, string> = {
  'content-range': '0-0/1',
  location: '/todos?id=eq.7',
  'preference-applied': 'return=headers-only',
  'content-profile': 'public',
  'x-total-count': '3',
  link: '</admin/users?page=2>; rel="next"',
  'x-supabase-api-version': '2024-01-01',
  'x-relay-error': 'true',
  'upload-offset': '0',
  'tus-resumable': '1.0.0',
};

function answer(req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? '').split('?')[0]!;
  if (path.endsWith('/gz')) {
    const gzip = req.headers['accept-encoding']?.includes('gzip');
    const body = gzip ? ROWS_GZIP : ROWS;
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': body.length,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path.endsWith('/range')) {
    if (req.headers.range === 'bytes=0-9') {
      res.writeHead(206, { 'content-range': `bytes 0-9/${ROWS.length}`, 'content-length': 10 });
      res.end(ROWS.subarray(0, 10));
    } else {
      res.writeHead(416, { 'content-range': `bytes */${ROWS.length}`, 'content-type': 'application/json' });
      res.end('{"message":"Requested range not satisfiable"}');
    }
    return;
  }
  if (path.endsWith('/client-headers')) {
    res.writeHead(201, CLIENT_READ_HEADERS);
    res.end();
    return;
  }
  const big = /\/big\/(\d+)$/.exec(path);
  if (big) {
    let left = Number(big[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = () => {
      while (left > 0) {
        const size = Math.min(left, 65_536);
        left -= size;
        bigWritten += size;
        if (!res.write(Buffer.alloc(size, 1))) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.once('end', () => answer(req, res));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  registry = await startRegistryServer({ token: 'internal-token' });
  project = registry.addProject('edgesedgesedgesedges', {
    upstreams: upstreamsFor('edgesedgesedgesedges', port),
  });
  running = await startGateway(testConfig(registry));
  url = running.url;
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

/** The comma list in a response header, lower-cased. */
const listOf = (value: string | string[] | undefined) =>
  String(value ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase());

describe('CORS', () => {
  it('exposes every response header the Supabase clients read, on each prefix', async () => {
    for (const prefix of ['rest', 'auth', 'storage', 'functions']) {
      const res = await call(url, project.ref, `/${prefix}/v1/client-headers`, {
        method: 'POST',
        headers: { apikey: project.publishableKey, origin: 'https://app.example' },
      });
      expect(res.status).toBe(201);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      const exposed = listOf(res.headers['access-control-expose-headers']);
      for (const [name, value] of Object.entries(CLIENT_READ_HEADERS)) {
        expect(res.headers[name], name).toBe(value);
        expect(exposed, `${prefix}: ${name}`).toContain(name);
      }
    }
  });
});

describe('refusals a browser can read', () => {
  it('answers a request arriving during shutdown with a 503 that carries CORS headers', async () => {
    const own = await startGateway(testConfig(registry));
    try {
      own.gateway.beginShutdown();
      const res = await call(own.url, project.ref, '/rest/v1/todos', {
        headers: { apikey: project.publishableKey, origin: 'https://app.example' },
      });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ message: 'Gateway is shutting down' });
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(listOf(res.headers['access-control-expose-headers'])).toContain('x-request-id');
      // Not a project's host: no CORS, as for any other answer there.
      const other = await request(`${own.url}/health`);
      await other.body.dump();
      expect(other.statusCode).toBe(503);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await own.close();
    }
  });
});
