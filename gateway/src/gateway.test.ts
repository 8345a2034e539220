import { createHash } from 'node:crypto';
import { STATUS_CODES, request as httpRequest } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { freePort } from '@supaplane/local-services';
import { request } from 'undici';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningGateway, startGateway } from './server.js';
import { type EchoUpstream, startEchoUpstream } from './testing/echo-upstream.js';
import {
  BASE_DOMAIN,
  TEST_AWS,
  call,
  claimsOf,
  rawCall,
  testConfig,
  upstreamsFor,
} from './testing/harness.js';
import { type RegistryServer, type TestProject, startRegistryServer } from './testing/registry-server.js';
import { hs256 } from './testing/tokens.js';

const SIX_MB = 6 * 1024 * 1024;
let echo: EchoUpstream;
let registry: RegistryServer;
let running: RunningGateway;
let url: string;
let project: TestProject;
let clockOffsetMs = 0;
const clock = { now: () => Date.now() + clockOffsetMs };

beforeAll(async () => {
  echo = await startEchoUpstream(TEST_AWS);
  registry = await startRegistryServer({ token: 'internal-token' });
  project = registry.addProject('gammagammagammagamma', {
    upstreams: upstreamsFor('gammagammagammagamma', echo.port),
  });
  running = await startGateway(testConfig(registry, { upstreamHeadersTimeoutMs: 300 }), { clock });
  url = running.url;
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  await echo?.close();
});

describe('forwarding', () => {
  it('signs PostgREST syntax end to end: the upstream verifies every request with @smithy', async () => {
    const queries = [
      'select=*',
      'select=id,name,author:authors(id,name)&order=id.desc&limit=5',
      "name=eq.O'Brien&or=(a.eq.1,b.gt.2)&note=not.is.null",
      'name=eq.hello world&tag=a+b&x=%2B',
      'name=eq.caf%C3%A9&jp=%E6%97%A5%E6%9C%AC&emoji=%F0%9F%98%80',
      'id=gte.1&id=lte.9&id=gte.0',
      'enc=%25already%2520encoded&star=%2A',
      'flag&empty=',
    ];
    for (const query of queries) {
      for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) {
        const res = await call(url, project.ref, `/rest/v1/todos?${query}`, {
          method,
          headers: {
            apikey: project.publishableKey,
            'content-type': 'application/json',
            prefer: 'return=representation',
          },
          ...(method === 'POST' || method === 'PATCH'
            ? { body: JSON.stringify({ title: 'é ☃', n: 1 }) }
            : {}),
        });
        expect(res.status, `${method} ${query}: ${JSON.stringify(res.body)}`).toBe(200);
        expect(res.body.signature).toBe('valid');
        expect(new URLSearchParams(res.body.rawQuery).toString()).toBe(new URLSearchParams(query).toString());
      }
    }
  });

  it('drops the apikey query parameter, hop-by-hop and client x-amz headers, and keeps the rest', async () => {
    const res = await rawCall(url, project.ref, `/rest/v1/todos?apikey=${project.publishableKey}&select=id`, {
      'x-amz-date': '19990101T000000Z',
      'x-amz-security-token': 'client-supplied',
      'proxy-authorization': 'Basic abc',
      connection: 'keep-alive, x-hop',
      'x-hop': 'should-go',
      'accept-profile': 'api',
      prefer: 'count=exact',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
    });
    expect(res.status).toBe(200);
    expect(res.body.rawQuery).toBe('select=id');
    // PostgREST reads `;` as `&` (http-types): the data API gets `&` alone, which any verifier reads alike.
    const semicolons = await rawCall(
      url,
      project.ref,
      `/rest/v1/todos?select=id;apikey=${project.publishableKey};a=b%3Bc`,
    );
    expect(semicolons.status).toBe(200);
    expect(semicolons.body.rawQuery).toBe('select=id&a=b%3Bc');
    const headers = res.body.headers;
    expect(headers['x-amz-date']).not.toBe('19990101T000000Z');
    expect(headers['x-amz-security-token']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['x-hop']).toBeUndefined();
    expect(headers['accept-profile']).toBe('api');
    expect(headers.prefer).toBe('count=exact');
    // No trusted proxy in front (local mode's default): what the client claimed is dropped.
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-port']).toBe(new URL(url).port);
    expect(headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(headers['x-amz-content-sha256']).toBe(createHash('sha256').update('').digest('hex'));
  });

  it('relays status, headers and body, replacing upstream CORS headers', async () => {
    const res = await call(url, project.ref, '/rest/v1/__status/409', {
      headers: { apikey: project.publishableKey, 'x-request-id': 'my-trace-1' },
    });
    expect(res.status).toBe(409);
    expect(res.headers['x-upstream']).toBe('echo');
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['x-request-id']).toBe('my-trace-1');
    expect(res.body.path).toBe('/rest/v1/__status/409');
  });

  it('gives an upstream error without a body a JSON one, keeping its status and headers', async () => {
    for (const path of ['/rest/v1/__empty/431', '/rest/v1/__empty/502/chunked', '/rest/v1/__empty/418']) {
      const res = await call(url, project.ref, path, {
        headers: { apikey: project.publishableKey, origin: 'https://app.example' },
      });
      expect(res.status, path).toBe(Number(path.split('/')[4]));
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.body).toEqual({ message: STATUS_CODES[res.status] });
    }
    const head = await call(url, project.ref, '/rest/v1/__empty/431', {
      method: 'HEAD',
      headers: { apikey: project.publishableKey },
    });
    expect(head.status).toBe(431);
    expect(head.headers['content-length']).toBe('0');
    // A success without a body stays without one.
    const ok = await call(url, project.ref, '/rest/v1/__empty/204', {
      headers: { apikey: project.publishableKey },
    });
    expect(ok.status).toBe(204);
    expect(ok.body).toBeNull();
  });

  it('drops the upstream headers its Connection field names, never the gateway’s own', async () => {
    const res = await call(url, project.ref, '/rest/v1/__connection', {
      headers: { apikey: project.publishableKey, 'x-request-id': 'trace-hop' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['x-other-hop']).toBeUndefined();
    expect(res.headers['x-end-to-end']).toBe('kept');
    expect(res.headers['x-request-id']).toBe('trace-hop');
  });

  it('mints one token per role and reuses it until about a minute before expiry', async () => {
    const tokenOf = async (key: string) => {
      const res = await call(url, project.ref, '/rest/v1/t', {
        headers: { apikey: key, 'user-agent': 'node' },
      });
      return String(res.body.headers['x-client-authorization']).slice(7);
    };
    const first = await tokenOf(project.publishableKey);
    expect(await tokenOf(project.publishableKey)).toBe(first);
    const claims = claimsOf(first);
    expect(Number(claims.exp) - Number(claims.iat)).toBe(300);
    expect(claimsOf(await tokenOf(project.secretKey)).role).toBe('service_role');
    clockOffsetMs = 230_000;
    expect(await tokenOf(project.publishableKey)).toBe(first);
    clockOffsetMs = 250_000;
    const renewed = await tokenOf(project.publishableKey);
    expect(renewed).not.toBe(first);
    expect(Number(claimsOf(renewed).iat)).toBeGreaterThan(Number(claims.iat));
    clockOffsetMs = 0;
  });

  it("forwards auth's email-link and OAuth routes without a key, like Supabase's Kong", async () => {
    const open = await call(
      url,
      project.ref,
      '/auth/v1/verify?token=abc&type=signup&redirect_to=https://app.example',
    );
    expect(open.status).toBe(200);
    expect(open.body.path).toBe('/auth/v1/verify');
    expect(open.body.headers['x-client-authorization']).toBeUndefined();
    expect(open.body.signature).toBe('valid');
    const closed = await call(url, project.ref, '/auth/v1/user');
    expect(closed.status).toBe(401);
  });

  it('takes the key from Authorization: Bearer sb_… and treats it as no user token', async () => {
    const res = await call(url, project.ref, '/auth/v1/user', {
      headers: { authorization: `Bearer ${project.publishableKey}` },
    });
    expect(res.status).toBe(200);
    expect(claimsOf(String(res.body.headers['x-client-authorization']).slice(7)).role).toBe('anon');
    expect(res.body.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });

  it('refuses two different API keys in apikey and Authorization: Bearer sb_… (neither is chosen)', async () => {
    const other = registry.addProject('deltadeltadeltadelta', {
      upstreams: upstreamsFor('deltadeltadeltadelta', echo.port),
    });
    const conflicts = [
      { apikey: project.publishableKey, authorization: `Bearer ${project.secretKey}` },
      { apikey: project.secretKey, authorization: `Bearer ${project.publishableKey}` },
      { apikey: project.publishableKey, authorization: `Bearer ${other.secretKey}` },
    ];
    for (const [i, headers] of conflicts.entries()) {
      const res = await call(url, project.ref, '/rest/v1/todos', { headers });
      expect(res.status, `case ${i}`).toBe(401);
      expect(res.body).toMatchObject({
        message: 'Invalid API key',
        hint: expect.stringContaining('different'),
      });
      expect(JSON.stringify(res.body)).not.toContain('sb_secret_');
    }
    const byQuery = await call(url, project.ref, `/rest/v1/todos?apikey=${project.publishableKey}`, {
      headers: { authorization: `Bearer ${project.secretKey}` },
    });
    expect(byQuery.status).toBe(401);
    // supabase-js sends the same key in both: still served.
    const same = await call(url, project.ref, '/rest/v1/todos', {
      headers: { apikey: project.secretKey, authorization: `Bearer ${project.secretKey}` },
    });
    expect(same.status).toBe(200);
    expect(claimsOf(String(same.body.headers['x-client-authorization']).slice(7)).role).toBe('service_role');
  });
});

describe('websockets', () => {
  type Outcome = { kind: 'upgrade'; socket: Socket } | { kind: 'response'; status: number; body: string };
  const upgrade = (path: string, protocol: Record<string, string> = { upgrade: 'websocket' }) =>
    new Promise<Outcome>((resolve, reject) => {
      const { port } = new URL(url);
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path,
        headers: {
          host: `${project.ref}.${BASE_DOMAIN}:${port}`,
          connection: 'Upgrade',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          ...protocol,
        },
      });
      req.on('upgrade', (_res, socket) => resolve({ kind: 'upgrade', socket }));
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('tunnels Realtime upgrades to plain upstreams after the key check, and refuses the rest', async () => {
    const ok = await upgrade(`/realtime/v1/websocket?apikey=${project.publishableKey}&vsn=1.0.0`);
    if (ok.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${JSON.stringify(ok)}`);
    const seen = echo.requests.at(-1)!;
    expect(seen.path).toBe('/realtime/v1/websocket');
    expect(seen.rawQuery).toBe('vsn=1.0.0');
    expect(seen.headers.upgrade).toBe('websocket');
    expect(seen.headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(claimsOf(String(seen.headers['x-client-authorization']).slice(7)).role).toBe('anon');
    const echoed = new Promise<string>((resolve) =>
      ok.socket.once('data', (d: Buffer) => resolve(d.toString())),
    );
    ok.socket.write('ping');
    expect(await echoed).toBe('ping');
    ok.socket.destroy();

    const noKey = await upgrade('/realtime/v1/websocket?vsn=1.0.0');
    expect(noKey).toMatchObject({ kind: 'response', status: 401 });
    const wrongKey = await upgrade('/realtime/v1/websocket?apikey=sb_publishable_nope');
    expect(wrongKey).toMatchObject({ kind: 'response', status: 401 });
    const functionUrl = await upgrade(`/rest/v1/x?apikey=${project.publishableKey}`);
    expect(functionUrl).toMatchObject({ kind: 'response', status: 404 });
  });

  it('closes a refused upgrade’s connection even when the client never closes its half', async () => {
    const client = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    let received = '';
    client.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    client.write(
      `GET /realtime/v1/websocket HTTP/1.1\r\nHost: ${project.ref}.${BASE_DOMAIN}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    await vi.waitFor(() => expect(received).toMatch(/^HTTP\/1\.1 401 /));
    // The client keeps its half open; the gateway lets the socket go after a short grace.
    await vi.waitFor(() => expect(running.gateway.inFlight).toBe(0), { timeout: 3_000 });
    client.destroy();
  });

  it('tunnels WebSocket upgrades only: an h2c (or any other) upgrade never reaches the upstream', async () => {
    const before = echo.requests.length;
    const protocols: Record<string, string>[] = [
      { upgrade: 'h2c', 'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA' },
      { upgrade: 'tls/1.2' },
      { upgrade: 'websocket, h2c' },
    ];
    for (const protocol of protocols) {
      const outcome = await upgrade(`/realtime/v1/websocket?apikey=${project.publishableKey}`, protocol);
      if (outcome.kind === 'upgrade') outcome.socket.destroy();
      expect(outcome, protocol.upgrade).toMatchObject({ kind: 'response', status: 400 });
      if (outcome.kind === 'response') {
        expect(JSON.parse(outcome.body)).toEqual({ message: 'Only WebSocket upgrades are supported' });
      }
    }
    expect(echo.requests.length).toBe(before);
    const mixedCase = await upgrade(`/realtime/v1/websocket?apikey=${project.publishableKey}`, {
      upgrade: 'WebSocket',
    });
    expect(mixedCase.kind).toBe('upgrade');
    if (mixedCase.kind === 'upgrade') mixedCase.socket.destroy();
  });
  it('relays an upgrade the upstream declines as an ordinary answer and closes, so no second request slips past the checks', async () => {
    // An HTTP/1.1 upstream that ignores Upgrade (RFC 9110 allows it) and keeps the connection open,
    // answering 403 to every request head it reads.
    let seen = '';
    const upstream = createTcpServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        for (let n = chunk.toString('latin1').split('\r\n\r\n').length - 1; n > 0; n--) {
          socket.write(
            'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nset-cookie: s=1; Domain=supaplane.test; Path=/\r\n' +
              'content-length: 6\r\n\r\ndenied',
          );
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const declining = registry.addProject('declinedeclinedeclin', {
      upstreams: {
        ...upstreamsFor('declinedeclinedeclin', echo.port),
        realtime: { kind: 'http', url: `http://realtime-declining.svc.localhost:${upstreamPort}/` },
      },
    });
    try {
      const client = connect(Number(new URL(url).port), '127.0.0.1');
      let received = '';
      client.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      const closed = new Promise((resolve) => client.once('close', resolve));
      client.write(
        `GET /realtime/v1/websocket?apikey=${declining.publishableKey} HTTP/1.1\r\n` +
          `Host: ${declining.ref}.${BASE_DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      );
      await vi.waitFor(() => expect(received).toContain('denied'));
      client.write(
        'GET /internal/admin HTTP/1.1\r\nHost: other.svc\r\nX-Client-Authorization: Bearer forged\r\n\r\n',
      );
      // Time for the upstream to read it, were it relayed.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toContain('GET /realtime/v1/websocket HTTP/1.1');
      expect(seen).not.toContain('/internal/admin');
      expect(seen).not.toContain('forged');
      expect(received).toMatch(/^HTTP\/1\.1 403 /);
      expect(received.toLowerCase()).toContain('connection: close');
      expect(received).toContain('x-request-id: ');
      // Its cookies stay on the project's host, as on any relayed answer (security.test.ts).
      expect(received).toContain('set-cookie: s=1; Path=/\r\n');
      await closed;
    } finally {
      upstream.close();
    }
  });
});

describe('bodies', () => {
  it('passes a 6 MB body byte for byte and answers 413 one byte over, also when chunked', async () => {
    const body = Buffer.alloc(SIX_MB, 7);
    body[123] = 0;
    const ok = await call(url, project.ref, '/rest/v1/blobs', {
      method: 'POST',
      headers: { apikey: project.secretKey, 'content-type': 'application/octet-stream' },
      body,
    });
    expect(ok.status).toBe(200);
    expect(ok.body.bodyLength).toBe(SIX_MB);
    expect(ok.body.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(ok.body.signature).toBe('valid');

    const before = echo.requests.length;
    const tooBig = await call(url, project.ref, '/rest/v1/blobs', {
      method: 'POST',
      headers: { apikey: project.secretKey },
      body: Buffer.alloc(SIX_MB + 1),
    });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toEqual({ message: `Request body too large: the limit is ${SIX_MB} bytes` });

    async function* chunks() {
      for (let i = 0; i < 7; i++) yield Buffer.alloc(1024 * 1024, i);
    }
    const port = new URL(url).port;
    const chunked = await request(`${url}/rest/v1/blobs`, {
      method: 'POST',
      headers: { host: `${project.ref}.${BASE_DOMAIN}:${port}`, apikey: project.secretKey },
      body: Readable.from(chunks()),
    });
    expect(chunked.statusCode).toBe(413);
    await chunked.body.dump();
    expect(echo.requests.length).toBe(before);
  });
  /**
   * Sends a request head and then body bytes as fast as the socket takes them, until the gateway
   * closes the connection or `maxBytes` went out; resolves with what came back and how much was sent.
   */
  const blast = (head: string, chunked: boolean, maxBytes: number) =>
    new Promise<{ answer: string; sent: number; closed: boolean }>((resolve) => {
      const client = connect(Number(new URL(url).port), '127.0.0.1');
      const piece = Buffer.alloc(64 * 1024, 1);
      const frame = chunked ? Buffer.concat([Buffer.from('10000\r\n'), piece, Buffer.from('\r\n')]) : piece;
      let answer = '';
      let sent = 0;
      let closed = false;
      const pump = () => {
        while (!closed && sent < maxBytes) {
          sent += frame.length;
          if (!client.write(frame)) return void client.once('drain', pump);
        }
        if (!closed) finish(false);
      };
      const finish = (byGateway: boolean) => {
        if (closed) return;
        closed = true;
        client.destroy();
        resolve({ answer, sent, closed: byGateway });
      };
      client.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
      });
      client.on('error', () => finish(true));
      client.on('end', () => finish(true));
      client.on('close', () => finish(true));
      client.write(
        `POST /rest/v1/blobs HTTP/1.1\r\nHost: ${project.ref}.${BASE_DOMAIN}\r\n${head}\r\n`,
        pump,
      );
    });

  it("stops reading an oversized or refused request's body a bounded way past the answer, which the client gets", async () => {
    const before = echo.requests.length;
    const cases = [
      [`apikey: ${project.secretKey}\r\nContent-Length: ${1024 ** 4}\r\n`, false, 413],
      [`apikey: ${project.secretKey}\r\nTransfer-Encoding: chunked\r\n`, true, 413],
      // A made-up key costs nothing: its body must not be read for ever either.
      ['apikey: sb_secret_nope\r\nTransfer-Encoding: chunked\r\n', true, 401],
    ] as const;
    for (const [head, chunked, status] of cases) {
      const { answer, sent, closed } = await blast(head, chunked, 512 * 1024 * 1024);
      const label = `${status}, ${chunked ? 'chunked' : 'content-length'}`;
      expect(answer, label).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(closed, label).toBe(true);
      // Twice the limit, and what the socket buffers held when the gateway cut the connection.
      expect(sent, label).toBeLessThan(64 * 1024 * 1024);
    }
    expect(echo.requests.length).toBe(before);
  });

  it('answers 413 to a client that reads only after sending its whole body, and keeps its connection', async () => {
    const client = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    client.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const host = `Host: ${project.ref}.${BASE_DOMAIN}\r\napikey: ${project.secretKey}\r\n`;
    const body = Buffer.alloc(SIX_MB + 1024 * 1024, 1);
    await new Promise((resolve) =>
      client.write(`POST /rest/v1/blobs HTTP/1.1\r\n${host}Content-Length: ${body.length}\r\n\r\n`, resolve),
    );
    await new Promise((resolve) => client.write(body, resolve));
    await new Promise((resolve) => client.write(`GET /rest/v1/after HTTP/1.1\r\n${host}\r\n`, resolve));
    await vi.waitFor(() => expect(received).toMatch(/HTTP\/1\.1 200 [\s\S]*"bodyLength":0/), {
      timeout: 5_000,
    });
    client.destroy();
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('answers Expect: 100-continue with 100 only once the request passed its checks and its size fits', async () => {
    const firstAnswer = (head: string, body?: string) =>
      new Promise<string>((resolve, reject) => {
        const client = connect(Number(new URL(url).port), '127.0.0.1');
        let received = '';
        client.on('error', reject);
        client.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
          if (body !== undefined && received.startsWith('HTTP/1.1 100 ') && received.endsWith('\r\n\r\n')) {
            client.write(body);
            body = undefined;
            received = '';
          } else if (received.includes('\r\n\r\n')) {
            client.destroy();
            resolve(received);
          }
        });
        client.write(
          `POST /rest/v1/blobs HTTP/1.1\r\nHost: ${project.ref}.${BASE_DOMAIN}\r\n${head}Expect: 100-continue\r\n\r\n`,
        );
      });
    const before = echo.requests.length;
    expect(await firstAnswer(`apikey: ${project.secretKey}\r\nContent-Length: ${SIX_MB + 1}\r\n`)).toMatch(
      /^HTTP\/1\.1 413 /,
    );
    expect(await firstAnswer(`apikey: sb_secret_nope\r\nContent-Length: 5\r\n`)).toMatch(/^HTTP\/1\.1 401 /);
    expect(echo.requests.length).toBe(before);
    expect(await firstAnswer(`apikey: ${project.secretKey}\r\nContent-Length: 5\r\n`, 'hello')).toMatch(
      /^HTTP\/1\.1 200 /,
    );
    expect(echo.requests.at(-1)!.bodyLength).toBe(5);
  });
});

describe('large responses', () => {
  it('streams a large chunked response through unchanged', async () => {
    const size = 8 * 1024 * 1024 + 123;
    const port = new URL(url).port;
    const res = await request(`${url}/rest/v1/__big/${size}`, {
      headers: { host: `${project.ref}.${BASE_DOMAIN}:${port}`, apikey: project.publishableKey },
    });
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let length = 0;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      length += (chunk as Buffer).length;
    }
    const expected = createHash('sha256');
    let left = size;
    for (let i = 0; left > 0; i++) {
      const n = Math.min(left, 65_536);
      expected.update(Buffer.alloc(n, i % 251));
      left -= n;
    }
    expect(length).toBe(size);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });
});

describe('upstream failures', () => {
  it('answers 504 JSON when the upstream does not answer in time', async () => {
    const res = await call(url, project.ref, '/rest/v1/__slow', {
      headers: { apikey: project.publishableKey },
    });
    expect(res.status).toBe(504);
    expect(res.body).toEqual({ message: 'The upstream service did not answer in time' });
  });

  it('answers 502 JSON when the upstream refuses connections', async () => {
    const deadPort = await freePort();
    const dead = registry.addProject('deadupstreamdeadupst', {
      upstreams: upstreamsFor('deadupstreamdeadupst', deadPort),
    });
    const res = await call(url, dead.ref, '/rest/v1/x', { headers: { apikey: dead.publishableKey } });
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ message: 'The upstream service could not be reached' });
  });

  it('never sends to an upstream outside the allowlist, and 404s a service the project lacks', async () => {
    const evil = registry.addProject('evilevilevilevilevil', {
      upstreams: {
        rest: { kind: 'lambda-url', url: `http://attacker.example.com:${echo.port}/`, region: 'local' },
        auth: { kind: 'http', url: `http://127.0.0.1:${echo.port}/` },
        storage: null,
      },
    });
    const before = echo.requests.length;
    for (const path of ['/rest/v1/x', '/auth/v1/x']) {
      const res = await call(url, evil.ref, path, { headers: { apikey: evil.publishableKey } });
      expect(res.status).toBe(502);
      expect(res.body).toEqual({ message: 'The upstream service address is not allowed' });
    }
    for (const path of ['/storage/v1/object/x', '/graphql/v1']) {
      const res = await call(url, evil.ref, path, { headers: { apikey: evil.publishableKey } });
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/service is not enabled for this project/);
    }
    expect(echo.requests.length).toBe(before);
  });
});

describe('caching', () => {
  it('100 concurrent requests on a cold cache make exactly one project and one key fetch', async () => {
    const cold = registry.addProject('coldcoldcoldcoldcold', {
      upstreams: upstreamsFor('coldcoldcoldcoldcold', echo.port),
    });
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        call(url, cold.ref, '/rest/v1/todos?select=*', { headers: { apikey: cold.publishableKey } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(100).fill(200));
    const fetched = [...registry.calls].filter(
      ([path]) => path.includes(cold.ref) || path.includes('/api-keys/'),
    );
    expect(registry.calls.get(`/internal/v1/projects/${cold.ref}/config`)).toBe(1);
    const keyHash = createHash('sha256').update(cold.publishableKey).digest('hex');
    expect(registry.calls.get(`/internal/v1/api-keys/${keyHash}`)).toBe(1);
    expect(fetched.length).toBeGreaterThan(0);
  });

  it('remembers unknown keys briefly (negative entries)', async () => {
    const stray = registry.addKey(project.ref, 'publishable');
    const hash = createHash('sha256').update(stray).digest('hex');
    // Known to the registry but first asked for after a revoke-style miss: warm a negative entry by
    // asking for a never-issued key twice.
    const { generateApiKey } = await import('@supaplane/keys');
    const ghost = generateApiKey(project.ref, 'publishable');
    const ghostHash = createHash('sha256').update(ghost).digest('hex');
    for (let i = 0; i < 3; i++) {
      expect((await call(url, project.ref, '/rest/v1/t', { headers: { apikey: ghost } })).status).toBe(401);
    }
    expect(registry.calls.get(`/internal/v1/api-keys/${ghostHash}`)).toBe(1);
    expect((await call(url, project.ref, '/rest/v1/t', { headers: { apikey: stray } })).status).toBe(200);
    expect(registry.calls.get(`/internal/v1/api-keys/${hash}`)).toBe(1);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a project spends its burst, refills at its rate, and spares other projects', async () => {
    const limited = registry.addProject('throttlethrottlethro', {
      upstreams: upstreamsFor('throttlethrottlethro', echo.port),
      rateLimit: { requestsPerSecond: 2, burst: 3 },
    });
    const get = (p: TestProject) =>
      call(url, p.ref, '/rest/v1/todos', {
        headers: { apikey: p.publishableKey, origin: 'https://app.example' },
      });
    for (let i = 0; i < 3; i++) expect((await get(limited)).status).toBe(200);
    const before = echo.requests.length;
    const refused = await get(limited);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      message: 'API rate limit exceeded',
      hint: expect.stringContaining('2 requests per second'),
    });
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    expect(echo.requests.length).toBe(before);
    // Preflights are answered before any key or limit check.
    const preflight = await call(url, limited.ref, '/rest/v1/todos', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    // Another project is not affected.
    expect((await get(project)).status).toBe(200);
    // Two requests per second: one more after 500 ms, then refused again.
    clockOffsetMs += 500;
    try {
      expect((await get(limited)).status).toBe(200);
      expect((await get(limited)).status).toBe(429);
    } finally {
      clockOffsetMs -= 500;
    }
  });
  it("counts auth's keyless email-link and OAuth routes against the project's limit too", async () => {
    const limited = registry.addProject('openlimitopenlimitop', {
      upstreams: upstreamsFor('openlimitopenlimitop', echo.port),
      rateLimit: { requestsPerSecond: 1, burst: 2 },
    });
    const before = echo.requests.length;
    const statuses: number[] = [];
    for (const path of [
      '/auth/v1/verify?token=a',
      '/auth/v1/callback',
      '/auth/v1/authorize',
      '/auth/v1/verify',
    ]) {
      statuses.push((await call(url, limited.ref, path)).status);
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(echo.requests.length).toBe(before + 2);
  });
});

describe('rate-limited request logs', () => {
  it('are sampled like successes, so a client hammering past its limit cannot flood the logs', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const own = await startGateway(testConfig(registry, { logSampleEvery: 3 }), { logger });
    try {
      const limited = registry.addProject('floodfloodfloodflood', {
        upstreams: upstreamsFor('floodfloodfloodflood', echo.port),
        rateLimit: { requestsPerSecond: 1, burst: 1 },
      });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        statuses.push(
          (
            await call(own.url, limited.ref, '/rest/v1/todos', {
              headers: { apikey: limited.publishableKey },
            })
          ).status,
        );
      }
      await call(own.url, limited.ref, '/rest/v1/todos', { headers: { apikey: 'sb_publishable_garbage' } });
      expect(statuses).toEqual([200, 429, 429, 429, 429, 429, 429, 429]);
    } finally {
      await own.close();
    }
    const logged = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
    // The 200, then the 1st, 4th and 7th of the seven 429s; the invalid key's 401 always.
    expect(logged.map((entry) => entry.status)).toEqual([200, 429, 429, 429, 401]);
  });
});

describe('operations', () => {
  it('serves /health, /ready and Prometheus /metrics on the bare address only', async () => {
    const health = await request(`${url}/health`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toEqual({ status: 'ok' });
    const ready = await request(`${url}/ready`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toEqual({ ok: true, tenantManager: 'ok', redis: 'disabled' });
    const metrics = await request(`${url}/metrics`);
    const text = await metrics.body.text();
    expect(text).toMatch(/gateway_requests_total\{prefix="rest",status="200"\} \d+/);
    // The bodies tests: over the limit with a length and chunked, two cut uploads, one sent whole, 100-continue.
    expect(text).toMatch(/gateway_requests_total\{prefix="rest",status="413"\} 6/);
    expect(text).toMatch(/gateway_cache_lookups_total\{cache="key",layer="l1",result="hit"\} \d+/);
    expect(text).toMatch(/gateway_cache_lookups_total\{cache="project",layer="origin",result="hit"\} \d+/);
    expect(text).toMatch(/gateway_upstream_duration_seconds_bucket\{le="0.005",prefix="rest",status="200"\}/);
    const onProjectHost = await call(url, project.ref, '/metrics', {});
    expect(onProjectHost.status).toBe(404);
  });

  it('answers /ready requests that arrive together with one tenant-manager check, so a flood of them never fills its pool', async () => {
    // /ready is open to anyone who reaches the bare address, and the tenant-manager connections it
    // would use are the ones key and project lookups wait for.
    let pings = 0;
    const waiting: ((up: boolean) => void)[] = [];
    const answer = (up: boolean) => {
      for (const resolve of waiting.splice(0)) resolve(up);
    };
    const internalApi = {
      projectConfig: async () => ({ found: false as const }),
      apiKey: async () => ({ found: false as const }),
      ping: () => {
        pings++;
        return new Promise<boolean>((resolve) => waiting.push(resolve));
      },
      close: async () => {},
    };
    const own = await startGateway(testConfig(registry), { internalApi });
    answer(true); // the start-up ping
    pings = 0;
    try {
      const replies = Array.from({ length: 20 }, () => request(`${own.url}/ready`));
      await vi.waitFor(() => expect(own.gateway.inFlight).toBe(20));
      answer(true);
      for (const reply of await Promise.all(replies)) {
        expect(reply.statusCode).toBe(200);
        expect(await reply.body.json()).toMatchObject({ ok: true, tenantManager: 'ok' });
      }
      expect(pings).toBe(1);
      // The next one asks again: nothing is remembered past the check that answered.
      const later = request(`${own.url}/ready`);
      await vi.waitFor(() => expect(pings).toBe(2));
      answer(false);
      expect((await later).statusCode).toBe(503);
    } finally {
      await own.close();
    }
  });

  it('serves /metrics on its own port only when given one, so a public load balancer never reaches it', async () => {
    const separate = await startGateway(testConfig(registry, { metricsPort: 0 }));
    try {
      expect(separate.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect((await request(`${separate.url}/metrics`)).statusCode).toBe(404);
      expect((await request(`${separate.url}/health`)).statusCode).toBe(200);
      await call(separate.url, project.ref, '/rest/v1/todos', {
        headers: { apikey: project.publishableKey },
      });
      const metrics = await request(separate.metricsUrl!);
      expect(metrics.statusCode).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      expect(await metrics.body.text()).toMatch(/gateway_requests_total\{prefix="rest",status="200"\} 1/);
      const other = await request(separate.metricsUrl!.replace('/metrics', '/rest/v1/todos'));
      expect(other.statusCode).toBe(404);
      expect(await other.body.json()).toEqual({ message: 'Only GET /metrics is served on this port' });
    } finally {
      await separate.close();
    }
  });

  it('ends the open connections of the metrics port on shutdown instead of waiting for them', async () => {
    const own = await startGateway(testConfig(registry, { metricsPort: 0, shutdownGraceMs: 100 }));
    const { port } = new URL(own.metricsUrl!);
    // A scraper that stalls half-way through its request (or keeps its connection open).
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await socketClosed;
    await expect(request(own.metricsUrl!)).rejects.toThrow();
  });

  it('routes bare-domain requests by key in local mode only', async () => {
    const res = await call(url, null, '/rest/v1/todos', { headers: { apikey: project.publishableKey } });
    expect(res.status).toBe(200);
    expect(res.body.host).toContain(project.ref);
    const bad = await call(url, null, '/rest/v1/todos', { headers: { apikey: 'sb_publishable_nope' } });
    expect(bad.status).toBe(401);
    const hosted = await startGateway(testConfig(registry, { localMode: false }));
    try {
      const res = await call(hosted.url, null, '/rest/v1/todos', {
        headers: { apikey: project.publishableKey },
      });
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/Unknown host/);
    } finally {
      await hosted.close();
    }
  });

  it('logs requests as structured JSON without keys or tokens', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const own = await startGateway(testConfig(registry), { logger });
    try {
      const userToken = hs256(project.jwtSecret, {
        role: 'authenticated',
        exp: Math.floor(Date.now() / 1000) + 60,
      });
      await call(own.url, project.ref, `/rest/v1/todos?apikey=${project.secretKey}&select=*`, {
        headers: { authorization: `Bearer ${userToken}`, 'user-agent': 'node' },
      });
      await call(own.url, project.ref, '/rest/v1/todos', { headers: { apikey: 'sb_secret_garbage' } });
    } finally {
      await own.close();
    }
    const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
    expect(requests.map((r) => r.status)).toEqual([200, 401]);
    expect(requests[0]).toMatchObject({ path: '/rest/v1/todos', ref: project.ref, prefix: 'rest' });
    const all = lines.join('\n');
    expect(all).not.toContain(project.secretKey);
    expect(all).not.toContain('sb_secret_garbage');
    expect(all).not.toContain(project.jwtSecret);
    expect(all).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });

  it('samples successful requests at info but logs every refusal', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const own = await startGateway(testConfig(registry, { logSampleEvery: 3 }), { logger });
    try {
      const ok = () =>
        call(own.url, project.ref, '/rest/v1/todos', { headers: { apikey: project.publishableKey } });
      for (const path of ['/a', '/b', '/c', '/d']) {
        const res = await call(own.url, project.ref, `/rest/v1${path}`, {
          headers: { apikey: project.publishableKey },
        });
        expect(res.status).toBe(200);
      }
      expect((await call(own.url, project.ref, '/rest/v1/e', {})).status).toBe(401);
      expect((await ok()).status).toBe(200);
    } finally {
      await own.close();
    }
    const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
    expect(requests.map((r) => [r.path, r.status])).toEqual([
      ['/rest/v1/a', 200],
      ['/rest/v1/d', 200],
      ['/rest/v1/e', 401],
    ]);
  });

  it('counts and logs a request the client left before any answer as 499, not as a 200', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const own = await startGateway(testConfig(registry), { logger });
    try {
      const { port } = new URL(own.url);
      await new Promise<void>((resolve) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          path: '/rest/v1/__slow',
          headers: { host: `${project.ref}.${BASE_DOMAIN}:${port}`, apikey: project.publishableKey },
        });
        req.on('error', () => resolve());
        req.end();
        setTimeout(() => req.destroy(), 200);
      });
      const metrics = async () => (await (await request(`${own.url}/metrics`)).body.text()) as string;
      await vi.waitFor(async () =>
        expect(await metrics()).toMatch(/gateway_requests_total\{prefix="rest",status="499"\} 1\n/),
      );
      expect(await metrics()).not.toMatch(/prefix="rest",status="200"/);
      const logged = lines
        .map((line) => JSON.parse(line))
        .filter((entry) => entry.msg === 'request' && entry.path === '/rest/v1/__slow');
      expect(logged).toEqual([expect.objectContaining({ status: 499, aborted: true, ref: project.ref })]);
    } finally {
      await own.close();
    }
  });

  it('reports not ready when the tenant-manager is unreachable', async () => {
    await registry.stop();
    try {
      const ready = await request(`${url}/ready`);
      expect(ready.statusCode).toBe(503);
      expect(await ready.body.json()).toMatchObject({ ok: false, tenantManager: 'down' });
    } finally {
      await registry.start();
    }
  });

  /** A WebSocket tunnel to the echo upstream through the gateway on `port`: the client's socket. */
  const openWebSocket = (port: string) =>
    new Promise<Socket>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path: `/realtime/v1/websocket?apikey=${project.publishableKey}`,
        headers: {
          host: `${project.ref}.${BASE_DOMAIN}:${port}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
        },
      });
      req.on('upgrade', (_res, s) => resolve(s));
      req.on('error', reject);
      req.end();
    });

  it('drains in-flight requests on shutdown, cuts WebSocket tunnels after the grace, then refuses connections', async () => {
    const own = await startGateway(
      testConfig(registry, { upstreamHeadersTimeoutMs: 5_000, shutdownGraceMs: 3_000 }),
    );
    const { port } = new URL(own.url);
    const socket = await openWebSocket(port);
    const tunnelClosed = new Promise((resolve) => socket.once('close', resolve));
    const slow = call(own.url, project.ref, '/rest/v1/__slow', {
      headers: { apikey: project.publishableKey },
    });
    await new Promise((r) => setTimeout(r, 300));
    const closed = own.close();
    const res = await slow;
    expect(res.status).toBe(200);
    await closed;
    await tunnelClosed;
    await expect(request(`${own.url}/health`)).rejects.toThrow();
  });

  it('does not wait out the grace for open WebSocket tunnels: with no HTTP request in flight it stops at once', async () => {
    const own = await startGateway(testConfig(registry, { shutdownGraceMs: 10_000 }));
    const { port } = new URL(own.url);
    const socket = await openWebSocket(port);
    const tunnelClosed = new Promise((resolve) => socket.once('close', resolve));
    expect(own.gateway.inFlight).toBe(0);
    const started = Date.now();
    await own.close();
    await tunnelClosed;
    // Waiting for the tunnel would take the whole 10 s grace.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('lookups of keys and projects not cached', () => {
  // A key whose checksum passes for any ref is easy to make up: each new one would cost a Redis read
  // and a tenant-manager call. These bounds keep a flood of them from reaching the registry.
  let bounded: RunningGateway;
  let ownClockMs = Date.now();
  const ownClock = { now: () => ownClockMs };
  let a: TestProject;
  let b: TestProject;
  const keyHash = (key: string) => createHash('sha256').update(key).digest('hex');
  const keyLookups = () =>
    [...registry.calls]
      .filter(([path]) => path.startsWith('/internal/v1/api-keys/'))
      .reduce((n, [, c]) => n + c, 0);

  beforeAll(async () => {
    a = registry.addProject('floodedfloodedflooded', {
      upstreams: upstreamsFor('floodedfloodedflooded', echo.port),
    });
    b = registry.addProject('bystanderbystander', {
      upstreams: upstreamsFor('bystanderbystander', echo.port),
    });
    bounded = await startGateway(
      testConfig(registry, { newKeysPerProjectPerSecond: 2, registryLookupsPerSecond: 10 }),
      { clock: ownClock },
    );
    // A's real key and B's project are cached before the flood.
    expect(
      (await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: a.publishableKey } })).status,
    ).toBe(200);
  });
  afterAll(async () => {
    await bounded?.close();
  });

  it('looks up at most the per-project burst of made-up keys, answers 429 past it, and leaves other projects and cached keys alone', async () => {
    const { generateApiKey } = await import('@supaplane/keys');
    const before = keyLookups();
    const forged = Array.from({ length: 7 }, () => generateApiKey(a.ref, 'publishable'));
    const statuses: number[] = [];
    for (const key of forged) {
      const res = await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: key } });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body.message).toBe('Too many unrecognised API keys');
        expect(res.headers['retry-after']).toBe('1');
      }
    }
    // Burst = 2 × 2 per second, one of it taken by A's own key when first seen: three made-up keys
    // are looked up (and refused as unknown), the rest refused without a lookup.
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429]);
    expect(keyLookups() - before).toBe(3);
    // A key already refused is a negative entry: asking again costs no budget and says 401.
    expect((await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: forged[0]! } })).status).toBe(
      401,
    );
    // A's cached key, and another project's first key, still pass.
    expect(
      (await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: a.publishableKey } })).status,
    ).toBe(200);
    expect(
      (await call(bounded.url, b.ref, '/rest/v1/t', { headers: { apikey: b.publishableKey } })).status,
    ).toBe(200);
    // A second later the bucket has refilled by the rate: A's new keys are looked up again.
    ownClockMs += 1_000;
    const late = generateApiKey(a.ref, 'publishable');
    expect((await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: late } })).status).toBe(401);
    expect(registry.calls.get(`/internal/v1/api-keys/${keyHash(late)}`)).toBe(1);
  });

  it("spends one client's budget on its made-up keys, never the project's other clients': their keys are still looked up", async () => {
    // Anyone can make up keys for a ref they read in a project's URL. Were the budget the project's,
    // twenty made-up keys a second would answer 429 to every real key this instance has not cached
    // (each one after a deploy or a cache eviction) for as long as they are sent.
    const { generateApiKey } = await import('@supaplane/keys');
    const victim = registry.addProject('victimvictimvictim', {
      upstreams: upstreamsFor('victimvictimvictim', echo.port),
    });
    const behindAlb = await startGateway(
      testConfig(registry, {
        newKeysPerProjectPerSecond: 2,
        registryLookupsPerSecond: 1_000,
        trustedProxyHops: 1,
      }),
      { clock: ownClock },
    );
    const from = (forwardedFor: string, apikey: string) =>
      call(behindAlb.url, victim.ref, '/rest/v1/t', {
        headers: { apikey, 'x-forwarded-for': forwardedFor },
      });
    try {
      // The load balancer appends the address it saw; what the client wrote before it buys nothing.
      const flood: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await from(`10.0.0.${i}, 198.51.100.7`, generateApiKey(victim.ref, 'publishable'));
        flood.push(res.status);
      }
      expect(flood).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
      // Clients elsewhere still get their keys looked up (two addresses in one IPv6 /64 are one client).
      expect((await from('203.0.113.9', victim.secretKey)).status).toBe(200);
      for (let i = 0; i < 4; i++) {
        const forged = generateApiKey(victim.ref, 'publishable');
        expect((await from(`2001:db8:1:2::${i + 1}`, forged)).status).toBe(401);
      }
      expect((await from('2001:db8:1:2:ffff::1', victim.publishableKey)).status).toBe(429);
      expect((await from('2001:db8:1:3::1', victim.publishableKey)).status).toBe(200);
    } finally {
      await behindAlb.close();
    }
  });

  it('asks the tenant-manager at most its lookup budget per second in all, and serves what is cached meanwhile', async () => {
    ownClockMs += 10_000; // every bucket full again
    const { generateApiKey } = await import('@supaplane/keys');
    const before = [...registry.calls.values()].reduce((n, c) => n + c, 0);
    // Made-up refs: each costs a key and a project lookup, and no per-project bucket is ever low.
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const ref = `madeup${i}madeupmadeup`;
      const res = await call(bounded.url, ref, '/rest/v1/t', {
        headers: { apikey: generateApiKey(ref, 'secret') },
      });
      statuses.push(res.status);
    }
    const asked = [...registry.calls.values()].reduce((n, c) => n + c, 0) - before;
    expect(asked).toBe(20); // burst = 2 × 10
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(404));
    expect(new Set(statuses.slice(10))).toEqual(new Set([503]));
    // Cached entries still serve, and the budget spent is no registry failure: once it refills, the
    // next unknown project is looked up at once (no open circuit breaker in between).
    expect(
      (await call(bounded.url, a.ref, '/rest/v1/t', { headers: { apikey: a.publishableKey } })).status,
    ).toBe(200);
    ownClockMs += 1_000;
    const ref = 'afterwardsafterwards';
    const res = await call(bounded.url, ref, '/rest/v1/t', {
      headers: { apikey: generateApiKey(ref, 'publishable') },
    });
    expect(res.status).toBe(404);
  });
});
