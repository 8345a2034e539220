import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, platform, projectUrl, rest, supabaseFor } from './support/clients.js';
import { expectJsonError } from './support/expect.js';
import { createProjects, deleteProject, sql, type TestProject } from './support/projects.js';

let a: TestProject;
let b: TestProject;

// What the data API saw of the request's origin: the headers as rest hands them to the database.
const SETUP = `
create table public.items (id int primary key, name text not null);
insert into public.items values (1, 'first');
create function public.seen_origin() returns json language sql stable as $$
  select json_build_object(
    'proto', h ->> 'x-forwarded-proto', 'port', h ->> 'x-forwarded-port', 'for', h ->> 'x-forwarded-for',
    'host', h ->> 'x-forwarded-host', 'forwarded', h ->> 'forwarded', 'real_ip', h ->> 'x-real-ip')
  from (select current_setting('request.headers', true)::json as h) s
$$;
`;

beforeAll(async () => {
  [a, b] = await createProjects('edges-a', 'edges-b');
  await Promise.all([sql(a.ref, SETUP), sql(b.ref, SETUP)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

const gateway = () => new URL(platform().gatewayUrl);
const gatewayPort = () => gateway().port || (gateway().protocol === 'https:' ? '443' : '80');
const hostOf = (ref: string) => new URL(projectUrl(ref)).host;

/** A raw connection to the gateway, for heads and bodies no HTTP client would send. */
function openGateway(servername: string): Promise<Duplex> {
  const { hostname, protocol } = gateway();
  const address = hostname === 'localhost' || hostname.endsWith('.localhost') ? '127.0.0.1' : hostname;
  const port = Number(gatewayPort());
  return new Promise((resolve, reject) => {
    const socket =
      protocol === 'https:'
        ? tlsConnect({ host: address, port, servername }, () => resolve(socket))
        : tcpConnect({ host: address, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `head` as is and returns everything the gateway answers until it closes the connection. */
async function rawExchange(head: string): Promise<string> {
  const socket = await openGateway(hostOf(a.ref).replace(/:\d+$/, ''));
  return new Promise((resolve, reject) => {
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      answer += text;
    });
    socket.once('error', reject);
    socket.once('end', () => resolve(answer));
    socket.write(head);
  });
}

describe('client claims about where a request came from', () => {
  it('X-Forwarded-Proto/-Port/-Host/-For, Forwarded and X-Real-IP sent by a client never reach the data API as sent', async () => {
    const spoofed = {
      'X-Forwarded-Proto': 'gopher',
      'X-Forwarded-Port': '4444',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-For': '203.0.113.9',
      Forwarded: 'for=203.0.113.9;proto=gopher',
      'X-Real-IP': '203.0.113.9',
    };
    const { data, error } = await supabaseFor(a.ref, a.publishableKey, undefined, spoofed).rpc('seen_origin');
    expect(error).toBeNull();
    const seen = data as Record<string, string | null>;
    // The gateway's own view of the connection (or, deployed, its trusted proxy's): the scheme and
    // port the client really used.
    expect(seen).toMatchObject({
      proto: gateway().protocol.slice(0, -1),
      port: gatewayPort(),
      host: null,
      forwarded: null,
      real_ip: null,
    });
    expect(seen.for).not.toContain('203.0.113.9');
    // Without any claims the upstream sees the same: the values are the gateway's, not echoes.
    const plain = await supabaseFor(a.ref, a.publishableKey).rpc('seen_origin');
    expect(plain.data).toEqual(data);
  });
});

describe('malformed Host', () => {
  it.each([
    ['a port that is out of range', (host: string) => `${host.replace(/:\d+$/, '')}:99999`],
    ['a port that is not a number', (host: string) => `${host.replace(/:\d+$/, '')}:80a`],
  ])('%s → 400 JSON "Invalid Host header", served to no project', async (_, badHost) => {
    const res = await http(`${projectUrl(a.ref)}/rest/v1/items?select=id,name`, {
      headers: { host: badHost(hostOf(a.ref)), apikey: a.secretKey },
    });
    const body = expectJsonError(res, 400);
    expect(body.message).toBe('Invalid Host header');
    expect(res.text).not.toContain('first');
  });

  it("two Host fields (A's then B's) → 400, routed by neither", async () => {
    const answer = await rawExchange(
      `GET /rest/v1/items?select=id,name HTTP/1.1\r\nHost: ${hostOf(a.ref)}\r\nHost: ${hostOf(b.ref)}\r\n` +
        `apikey: ${a.secretKey}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer.toLowerCase()).toContain('content-type: application/json');
    expect(answer).toContain('{"message":"Invalid Host header"}');
    expect(answer).not.toContain('first');
  });
});

describe('long request heads', () => {
  /** A GET whose head, as node counts it (target, header names and values), is `size` bytes. */
  function headOfSize(size: number): string {
    const host = hostOf(a.ref);
    const prefix = '/rest/v1/items?select=id&name=eq.';
    const fixed = prefix.length + 'host'.length + host.length + 'apikey'.length + a.secretKey.length;
    const fixedTail = 'connection'.length + 'close'.length;
    const value = 'x'.repeat(size - fixed - fixedTail);
    return `GET ${prefix}${value} HTTP/1.1\r\nHost: ${host}\r\napikey: ${a.secretKey}\r\nConnection: close\r\n\r\n`;
  }

  it('a filter that fits the gateway but not a 16 KB head once signed (SigV4, minted token) is served', async () => {
    // 16,000 of node's 16,384 at the gateway; the signature and token it adds take the upstream's past
    // 16 KB, which Lambda (1 MB for a request line and headers) takes.
    const answer = await rawExchange(headOfSize(16_000));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // The empty result, whether sent chunked or with a length.
    expect(answer).toMatch(/\r\n\r\n(2\r\n)?\[\](\r\n0\r\n\r\n)?$/);
  });

  it('a request target past 16 KB → 414 JSON with CORS, as nginx in front of hosted Supabase', async () => {
    const answer = await rawExchange(headOfSize(20_000));
    expect(answer).toMatch(/^HTTP\/1\.1 414 /);
    expect(answer.toLowerCase()).toContain('content-type: application/json');
    expect(answer.toLowerCase()).toContain('access-control-allow-origin: *');
    expect(answer).toContain('{"message":"Request URI too long"}');
  });
});

describe('oversized request bodies', () => {
  it('an endless chunked upload gets a 413 JSON and its connection is cut after a bounded number of bytes', async () => {
    const socket = await openGateway(hostOf(a.ref).replace(/:\d+$/, ''));
    const chunk = Buffer.alloc(256 * 1024, 'x');
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    // Far more than any bound the gateway may have: reaching it means the upload was never cut.
    const giveUpAt = 200 * 1024 * 1024;
    let sent = 0;
    let answer = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      answer += text;
    });
    const ended = new Promise<void>((resolve) => {
      const done = () => {
        closed = true;
        resolve();
      };
      socket.once('close', done);
      socket.once('error', done);
    });
    socket.write(
      `POST /rest/v1/items HTTP/1.1\r\nHost: ${hostOf(a.ref)}\r\napikey: ${a.secretKey}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    while (!closed && sent < giveUpAt) {
      sent += framed.length;
      if (!socket.write(framed)) {
        await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), ended]);
      }
    }
    socket.destroy();
    await ended;
    expect(closed && sent < giveUpAt, `still accepting after ${sent} bytes`).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('content-type: application/json');
    const limit = Number(/the limit is (\d+) bytes/.exec(answer)?.[1]);
    expect(limit, answer).toBeGreaterThan(0);
    // The body up to the limit, then at most twice the limit dropped, plus what sat in socket buffers.
    expect(sent).toBeLessThan(limit * 3 + 16 * 1024 * 1024);
    console.info(
      `chunked upload cut after ${(sent / 1024 / 1024).toFixed(1)} MB (body limit ${limit} bytes)`,
    );
    // Nothing of it was written, and the project still serves.
    const after = await rest(a.ref, 'items?select=id', { key: a.secretKey });
    expect(after.json()).toEqual([{ id: 1 }]);
  });
});
