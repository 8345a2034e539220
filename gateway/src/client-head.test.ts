import { type IncomingMessage, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_HEAD_FIELDS, clientAddress, readClientHead, upstreamHeaders } from './client-head.js';

/** Sends `lines` as a raw request head and resolves with what node:http parsed. */
let port = 0;
let nextRequest: ((req: IncomingMessage) => void) | null = null;
const server = createServer((req, res) => {
  nextRequest?.(req);
  res.end();
});
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function parsed(lines: string[]): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    nextRequest = resolve;
    const socket = connect(port, '127.0.0.1', () => {
      socket.end(`GET /rest/v1/t HTTP/1.1\r\n${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`);
    });
    socket.on('error', reject);
    socket.resume();
  });
}

describe('readClientHead', () => {
  it('reads every field exactly as node builds req.headers, repeated fields included', async () => {
    const cases = [
      ['Host: a.example.com', 'apikey: k1'],
      ['Host: a.example.com', 'Host: b.example.com', 'APIKEY: k1', 'apikey: k2'],
      ['Host: a', 'Authorization: Bearer one', 'authorization: Bearer two', 'User-Agent: x', 'user-agent: y'],
      ['Host: a', 'Origin: https://a', 'Origin: https://b', 'X-Request-Id: r1', 'x-request-id: r2'],
      ['Host: a', 'X-Forwarded-For: 1.1.1.1', 'x-forwarded-for: 2.2.2.2', 'Upgrade: websocket'],
      ['Host: a', 'Access-Control-Request-Method: POST', 'Access-Control-Request-Headers: a, b'],
      ['Host: a', 'Content-Length: 0', 'Connection: keep-alive'],
      ['Host: a', 'Transfer-Encoding: chunked', 'X-Foo: 1'],
    ];
    for (const lines of cases) {
      const req = await parsed(lines);
      const head = readClientHead(req.rawHeaders);
      for (const field of CLIENT_HEAD_FIELDS) {
        // node keeps the first Host; a repeated one is read joined, to be refused (project-host.ts).
        if (field === 'host') continue;
        expect(head[field], `${field} in ${lines.join(' | ')}`).toBe(req.headers[field]);
      }
      const hosts = lines.filter((line) => /^host:/i.test(line)).map((line) => line.slice(6));
      expect(head.host).toBe(hosts.join(', '));
    }
  });

  it('forwards end-to-end headers with lower-case names and drops hop-by-hop, identity and AWS ones', async () => {
    const req = await parsed([
      'Host: a',
      'Accept: application/json',
      'Prefer: count=exact',
      'Prefer: return=representation',
      'apikey: k',
      'Authorization: Bearer t',
      'X-Client-Authorization: Bearer forged',
      'X-Project-Ref: other',
      'X-Tenant-Id: other',
      'X-Amz-Date: 20200101T000000Z',
      'Proxy-Foo: 1',
      'TE: trailers',
      'X-Request-Id: r',
      'X-Forwarded-For: 9.9.9.9',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Port: 443',
      // Where the request came in: the client's word is no proof, and an upstream may build URLs from it.
      'X-Forwarded-Host: evil.example',
      'X-Forwarded-Prefix: /evil',
      'Forwarded: host=evil.example;proto=http',
      'X-Real-IP: 6.6.6.6',
    ]);
    const head = readClientHead(req.rawHeaders);
    expect(head.forward).toEqual([
      'accept',
      'application/json',
      'prefer',
      'count=exact',
      'prefer',
      'return=representation',
    ]);
    expect(upstreamHeaders(head, { remoteAddress: '10.0.0.7', localPort: 8000 }, 1).slice(-6)).toEqual([
      'x-forwarded-proto',
      'https',
      'x-forwarded-port',
      '443',
      'x-forwarded-for',
      '9.9.9.9, 10.0.0.7',
    ]);
  });

  it('drops the headers a client names in Connection', () => {
    const head = readClientHead([
      'Host',
      'a',
      'X-Secret-Hop',
      '1',
      'Accept',
      '*/*',
      'Connection',
      'keep-alive, X-Secret-Hop',
    ]);
    expect(head.forward).toEqual(['accept', '*/*']);
    expect(upstreamHeaders(readClientHead(['Host', 'a']), {}, 1)).toEqual(['x-forwarded-for', 'unknown']);
  });

  it("keeps only the X-Forwarded-For entries the trusted proxies appended, never the client's own", () => {
    const forwardedFor = (value: string | null, hops: number) => {
      const head = readClientHead(value === null ? ['Host', 'a'] : ['Host', 'a', 'X-Forwarded-For', value]);
      return upstreamHeaders(head, { remoteAddress: '10.0.0.9', localPort: 8000 }, hops).at(-1);
    };
    // Straight from the client (no proxy): whatever it wrote is dropped.
    expect(forwardedFor('1.2.3.4', 0)).toBe('10.0.0.9');
    // Behind an ALB, which appends the address it was connected from: that one is the client.
    expect(forwardedFor('203.0.113.7', 1)).toBe('203.0.113.7, 10.0.0.9');
    expect(forwardedFor('6.6.6.6, 203.0.113.7', 1)).toBe('203.0.113.7, 10.0.0.9');
    expect(forwardedFor('6.6.6.6,7.7.7.7,203.0.113.7', 1)).toBe('203.0.113.7, 10.0.0.9');
    // CDN then ALB: the CDN saw the client, the ALB saw the CDN.
    expect(forwardedFor('6.6.6.6, 203.0.113.7, 198.51.100.1', 2)).toBe('203.0.113.7, 198.51.100.1, 10.0.0.9');
    // Fewer entries than hops (a proxy was skipped): all of them, nothing invented.
    expect(forwardedFor('203.0.113.7', 3)).toBe('203.0.113.7, 10.0.0.9');
    expect(forwardedFor(null, 1)).toBe('10.0.0.9');
    expect(forwardedFor('', 1)).toBe('10.0.0.9');
  });

  it('names the client by the address the outermost trusted proxy saw, an IPv6 one by its /64', () => {
    const client = (value: string | null, hops: number, peer = '10.0.0.9') => {
      const head = readClientHead(value === null ? ['Host', 'a'] : ['Host', 'a', 'X-Forwarded-For', value]);
      return clientAddress(head, { remoteAddress: peer }, hops);
    };
    expect(client('1.2.3.4', 0)).toBe('10.0.0.9');
    expect(client('6.6.6.6, 203.0.113.7', 1)).toBe('203.0.113.7');
    expect(client('6.6.6.6, 203.0.113.7, 198.51.100.1', 2)).toBe('203.0.113.7');
    expect(client('203.0.113.7', 3)).toBe('203.0.113.7');
    expect(client(null, 1)).toBe('10.0.0.9');
    expect(client(' , ', 1)).toBe('10.0.0.9');
    for (const address of ['2001:db8:1:2::1', '2001:0DB8:1:2:ffff:ffff:ffff:ffff', '[2001:db8:1:2::9]:443']) {
      expect(client(address, 1)).toBe('2001:db8:1:2::/64');
    }
    expect(client('2001:db8::1', 1)).toBe('2001:db8:0:0::/64');
    expect(client(null, 0, '::1')).toBe('0:0:0:0::/64');
    expect(client(null, 0, '::ffff:127.0.0.1')).toBe('127.0.0.1');
  });

  it("sends the listener's scheme and port when no proxy is trusted, the proxy's otherwise", () => {
    const forwarded = (hops: number, lines: string[]) => {
      const head = readClientHead(['Host', 'a', ...lines]);
      const headers = upstreamHeaders(head, { remoteAddress: '10.0.0.9', localPort: 8000 }, hops);
      const valuesOf = (name: string) => headers.filter((_, i) => i % 2 === 1 && headers[i - 1] === name);
      return { proto: valuesOf('x-forwarded-proto'), port: valuesOf('x-forwarded-port') };
    };
    const claimed = ['X-Forwarded-Proto', 'https', 'X-Forwarded-Port', '443'];
    // Straight from the client: it reached this plain-HTTP listener, whatever it says.
    expect(forwarded(0, claimed)).toEqual({ proto: ['http'], port: ['8000'] });
    expect(forwarded(0, [])).toEqual({ proto: ['http'], port: ['8000'] });
    // Behind the ALB, which sets both: its values, once each.
    expect(forwarded(1, claimed)).toEqual({ proto: ['https'], port: ['443'] });
    expect(forwarded(1, [])).toEqual({ proto: [], port: [] });
  });
});
