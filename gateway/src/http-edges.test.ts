import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { freePort } from '@supaplane/local-services';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { BASE_DOMAIN, type CallResult, call, testConfig, upstreamsFor } from './testing/harness.js';
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
const BODY_LIMIT = 64 * 1024;
const ORIGIN = 'https://app.example';

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

function answer(req: IncomingMessage, res: ServerResponse, bodyLength: number) {
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
  if (path.endsWith('/slow')) {
    setTimeout(() => res.end('{}'), 1_000).unref();
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
  res.end(
    JSON.stringify({
      method: req.method,
      bodyLength,
      contentLength: req.headers['content-length'] ?? null,
      contentType: req.headers['content-type'] ?? null,
    }),
  );
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
    });
    req.once('end', () => answer(req, res, length));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  registry = await startRegistryServer({ token: 'internal-token' });
  project = registry.addProject('edgesedgesedgesedges', {
    upstreams: upstreamsFor('edgesedgesedgesedges', port),
  });
  running = await startGateway(
    testConfig(registry, { upstreamHeadersTimeoutMs: 300, bodyLimitBytes: BODY_LIMIT }),
  );
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
  it('carry CORS headers and a JSON body for every status the gateway answers itself', async () => {
    const paused = registry.addProject('pausedpausedpausedpp', {
      upstreams: upstreamsFor('pausedpausedpausedpp', 1),
      status: 'PAUSED',
    });
    const limited = registry.addProject('limitedlimitedlimite', {
      upstreams: upstreamsFor('limitedlimitedlimite', (upstream.address() as AddressInfo).port),
      rateLimit: { requestsPerSecond: 0.01, burst: 1 },
    });
    const dead = registry.addProject('deaddeaddeaddeaddead', {
      upstreams: { ...upstreamsFor('deaddeaddeaddeaddead', await freePort()), storage: null },
    });
    const key = (p: TestProject) => ({ apikey: p.publishableKey, origin: ORIGIN });
    await call(url, limited.ref, '/rest/v1/todos', { headers: key(limited) });
    const cases: [number, Promise<CallResult>][] = [
      [401, call(url, project.ref, '/rest/v1/todos', { headers: { origin: ORIGIN } })],
      [
        401,
        call(url, project.ref, '/rest/v1/todos', {
          headers: { apikey: 'sb_publishable_nope', origin: ORIGIN },
        }),
      ],
      [404, call(url, project.ref, '/nothing/v1/here', { headers: key(project) })],
      [404, call(url, dead.ref, '/storage/v1/object/x', { headers: key(dead) })],
      [
        413,
        call(url, project.ref, '/rest/v1/todos', {
          method: 'POST',
          headers: key(project),
          body: Buffer.alloc(BODY_LIMIT + 1),
        }),
      ],
      [429, call(url, limited.ref, '/rest/v1/todos', { headers: key(limited) })],
      [503, call(url, paused.ref, '/rest/v1/todos', { headers: key(paused) })],
      [502, call(url, dead.ref, '/rest/v1/todos', { headers: key(dead) })],
      [504, call(url, project.ref, '/rest/v1/slow', { headers: key(project) })],
    ];
    for (const [status, pending] of cases) {
      const res = await pending;
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(typeof res.body.message).toBe('string');
      expect(res.headers['access-control-allow-origin'], String(status)).toBe('*');
      expect(listOf(res.headers['access-control-expose-headers'])).toContain('x-request-id');
      if (status === 429)
        expect(listOf(res.headers['access-control-expose-headers'])).toContain('retry-after');
    }
  });

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

/** Writes `parts` to a fresh connection, `gapMs` apart, and resolves with everything read until it closes. */
function exchange(parts: string[], gapMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    (async () => {
      for (const part of parts) {
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        socket.write(part);
      }
    })();
  });
}

/** Status line and lower-cased headers of a raw response, and the bytes after its head. */
function parse(raw: Buffer) {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: raw.subarray(end + 4) };
}

describe('relayed responses', () => {
  const head = (method: string, path: string, extra = '') =>
    `${method} ${path} HTTP/1.1\r\nHost: ${project.ref}.${BASE_DOMAIN}\r\napikey: ${project.publishableKey}\r\n${extra}connection: close\r\n\r\n`;

  it('answers HEAD with the upstream head (its content-length kept) and no body, small or large', async () => {
    for (const [path, length] of [
      ['/rest/v1/gz', ROWS.length],
      ['/storage/v1/object/big/200000', 200_000],
    ] as const) {
      const res = parse(await exchange([head('HEAD', path)]));
      expect(res.status, path).toBe(200);
      expect(res.headers['content-length']).toBe(String(length));
      expect(res.headers['transfer-encoding']).toBeUndefined();
      expect(res.body.length).toBe(0);
    }
  });

  it('passes Accept-Encoding through and relays a gzip body byte for byte with its own content-length', async () => {
    const res = parse(await exchange([head('GET', '/rest/v1/gz', 'accept-encoding: gzip, deflate\r\n')]));
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBe(String(ROWS_GZIP.length));
    expect(res.body.equals(ROWS_GZIP)).toBe(true);
    const plain = parse(await exchange([head('GET', '/rest/v1/gz')]));
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(ROWS)).toBe(true);
  });

  it('passes Range through and relays 206 and 416 with their Content-Range', async () => {
    const partial = parse(await exchange([head('GET', '/storage/v1/range', 'range: bytes=0-9\r\n')]));
    expect(partial.status).toBe(206);
    expect(partial.headers['content-range']).toBe(`bytes 0-9/${ROWS.length}`);
    expect(partial.body.equals(ROWS.subarray(0, 10))).toBe(true);
    const unsatisfiable = parse(
      await exchange([head('GET', '/storage/v1/range', 'range: bytes=99999-\r\n')]),
    );
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers['content-range']).toBe(`bytes */${ROWS.length}`);
  });

  it('stops reading the upstream while the client does not read, instead of buffering the body', async () => {
    const size = 64 * 1024 * 1024;
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.pause();
    socket.write(head('GET', `/rest/v1/big/${size}`));
    const before = bigWritten;
    await new Promise((r) => setTimeout(r, 400));
    const stalled = bigWritten - before;
    await new Promise((r) => setTimeout(r, 400));
    // Only what the sockets' buffers hold on the way, and no more while the client waits.
    expect(bigWritten - before).toBe(stalled);
    expect(stalled).toBeLessThan(size / 4);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    expect(received).toBeGreaterThan(size);
    expect(bigWritten - before).toBe(size);
  });
});

describe('request bodies', () => {
  const post = (method: string, extra: string, body = '') =>
    `${method} /rest/v1/todos HTTP/1.1\r\nHost: ${project.ref}.${BASE_DOMAIN}\r\napikey: ${project.publishableKey}\r\n${extra}connection: close\r\n\r\n${body}`;
  const echoed = async (parts: string[], gapMs = 0) => {
    const res = parse(await exchange(parts, gapMs));
    expect(res.status, res.body.toString()).toBe(200);
    return JSON.parse(res.body.toString().replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, ''));
  };

  it('forwards an empty POST with content-length 0, a GET body, chunked bodies and content types as sent', async () => {
    expect(await echoed([post('POST', '')])).toMatchObject({ bodyLength: 0, contentLength: '0' });
    expect(await echoed([post('GET', 'content-length: 3\r\n', 'abc')])).toMatchObject({
      method: 'GET',
      bodyLength: 3,
      contentLength: '3',
    });
    expect(
      await echoed([
        post(
          'PATCH',
          'transfer-encoding: chunked\r\ncontent-type: text/csv; charset=utf-8\r\n',
          '3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
        ),
      ]),
    ).toMatchObject({ bodyLength: 5, contentLength: '5', contentType: 'text/csv; charset=utf-8' });
  });

  it('waits for a body that trickles in and forwards it whole', async () => {
    const parts = [post('POST', 'content-length: 8\r\ncontent-type: application/json\r\n'), ...'{"a":12}'];
    expect(await echoed(parts, 40)).toMatchObject({ bodyLength: 8, contentLength: '8' });
  });

  it("answers what node's HTTP parser refuses (malformed head, oversized headers or URI) in JSON a browser can read", async () => {
    const bad = parse(await exchange([post('POST', 'content-length: 3x\r\n', 'abc')]));
    const bigHeader = `authorization: Bearer ${'x'.repeat(20_000)}\r\n`;
    const big = parse(await exchange([post('GET', bigHeader)]));
    const bigInTwo = post('GET', bigHeader);
    const bigLate = parse(await exchange([bigInTwo.slice(0, 9_000), bigInTwo.slice(9_000)], 30));
    const longUrl = post('GET', '').replace(
      '/rest/v1/todos',
      `/rest/v1/todos?id=in.(${'1,'.repeat(10_000)}1)`,
    );
    const long = parse(await exchange([longUrl]));
    // The target split over two reads: node reports it where it ends, before ` HTTP/1.1`.
    const longInTwo = parse(await exchange([longUrl.slice(0, 9_000), longUrl.slice(9_000)], 30));
    // Still unfinished when node's limit is passed at the end of a read.
    const unfinished = parse(await exchange([longUrl.slice(0, 17_000)]));
    for (const [res, status] of [
      [bad, 400],
      [big, 431],
      [bigLate, 431],
      [long, 414],
      [longInTwo, 414],
      [unfinished, 414],
    ] as const) {
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers.connection).toBe('close');
      expect(typeof JSON.parse(res.body.toString()).message).toBe('string');
    }
  });
});
