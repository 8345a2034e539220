import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from '../sigv4.js';

/** What the upstream saw, echoed back as JSON. */
export interface EchoBody {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bodyLength: number;
  readonly bodySha256: string;
  readonly signature: 'valid' | 'none';
}

export interface EchoUpstream {
  readonly port: number;
  readonly requests: EchoBody[];
  close(): Promise<void>;
}

function amzDateToDate(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) throw new Error('bad x-amz-date');
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

/** Verifies a SigV4 request the way AWS does, with @smithy/signature-v4 as the reference. */
async function verifySigV4(
  req: IncomingMessage,
  body: Buffer,
  credentials: AwsCredentials,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const authorization = req.headers.authorization ?? '';
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!match) return { ok: false, reason: 'malformed authorization' };
  const [, accessKeyId, , region, service, signedHeaders] = match;
  if (accessKeyId !== credentials.accessKeyId) return { ok: false, reason: 'unknown access key' };
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(q < 0 ? '' : url.slice(q + 1))) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) {
    const value = req.headers[name];
    if (typeof value !== 'string') return { ok: false, reason: `signed header ${name} missing` };
    headers[name] = value;
  }
  if (headers['x-amz-content-sha256'] !== createHash('sha256').update(body).digest('hex')) {
    return { ok: false, reason: 'payload hash mismatch' };
  }
  const signer = new SignatureV4({
    service: service!,
    region: region!,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(headers['x-amz-security-token'] ? { sessionToken: headers['x-amz-security-token'] } : {}),
    },
    sha256: Sha256,
  });
  const signed = (await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: (headers.host ?? '').split(':')[0]!,
      path: q < 0 ? url : url.slice(0, q),
      query,
      headers,
      body,
    } as never,
    { signingDate: amzDateToDate(headers['x-amz-date'] ?? '') },
  )) as unknown as { headers: Record<string, string> };
  return signed.headers.authorization === authorization
    ? { ok: true }
    : { ok: false, reason: 'signature mismatch' };
}

/**
 * A function-URL-like upstream: checks SigV4 when the request carries it (403 in AWS's shape
 * otherwise) and echoes the request. `/__slow` waits two seconds; `/__status/<n>` answers n;
 * `/__empty/<n>[/chunked]` answers n with no body; `/__connection` names headers in `Connection`;
 * `/__cookies` sets cookies with `Domain` attributes.
 */
export async function startEchoUpstream(credentials: AwsCredentials): Promise<EchoUpstream> {
  const requests: EchoBody[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const isSigned = req.headers.authorization?.startsWith('AWS4-') ?? false;
    if (isSigned) {
      const verdict = await verifySigV4(req, body, credentials);
      if (!verdict.ok) {
        res.writeHead(403, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'InvalidSignatureException',
        });
        res.end(
          JSON.stringify({
            message: `The request signature we calculated does not match the signature you provided. (${verdict.reason})`,
          }),
        );
        return;
      }
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const echo: EchoBody = {
      method: req.method ?? '',
      host: req.headers.host ?? '',
      path: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? '' : url.slice(q + 1),
      headers: req.headers,
      bodyLength: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
      signature: isSigned ? 'valid' : 'none',
    };
    requests.push(echo);
    if (echo.path.endsWith('/__slow')) await new Promise((r) => setTimeout(r, 2_000));
    const big = /\/__big\/(\d+)$/.exec(echo.path);
    if (big) {
      // A large body written in 64 KiB chunks without content-length (chunked), honouring back-pressure.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let left = Number(big[1]);
      let i = 0;
      const pump = () => {
        while (left > 0) {
          const size = Math.min(left, 65_536);
          left -= size;
          if (!res.write(Buffer.alloc(size, i++ % 251))) return res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    const empty = /\/__empty\/(\d{3})(\/chunked)?$/.exec(echo.path);
    if (empty) {
      // An error with no body, as node answers a head over its size limit (or chunked, with no chunk).
      res.writeHead(
        Number(empty[1]),
        empty[2] ? { 'content-type': 'text/plain' } : { 'content-length': '0' },
      );
      if (empty[2]) res.flushHeaders();
      res.end();
      return;
    }
    if (echo.path.endsWith('/__connection')) {
      // Hop-by-hop headers named in Connection (RFC 9110 §7.6.1), one of them a gateway-owned name.
      res.writeHead(
        200,
        [
          ['x-hop', 'one'],
          ['connection', 'keep-alive, X-Hop'],
          ['connection', 'x-other-hop,x-request-id'],
          ['x-other-hop', 'two'],
          ['x-end-to-end', 'kept'],
          ['content-type', 'application/json'],
        ].flat(),
      );
      res.end('{}');
      return;
    }
    if (echo.path.endsWith('/__cookies')) {
      // Cookies for the whole base domain (and every project under it), as a project's own
      // function could set them (PostgREST's `response.headers`).
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': [
          'wide=1; Domain=supaplane.test; Path=/',
          'dotted=2; path=/; domain=.SUPAPLANE.TEST; Secure',
          'spaced=3 ; Domain = supaplane.test ;HttpOnly',
          'own=4; Path=/',
          'value=domain=x; Max-Age=60',
        ],
      });
      res.end('{}');
      return;
    }
    const status = /\/__status\/(\d{3})$/.exec(echo.path);
    res.writeHead(status ? Number(status[1]) : 200, {
      'content-type': 'application/json',
      'access-control-allow-origin': 'https://upstream.example',
      'x-upstream': 'echo',
      'set-cookie': ['a=1; Path=/', 'b=2; Path=/'],
    });
    res.end(JSON.stringify(echo));
  });
  const upgraded = new Set<Socket>();
  // Upgrades: record the request, answer 101, then echo raw bytes back.
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    requests.push({
      method: req.method ?? '',
      host: req.headers.host ?? '',
      path: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? '' : url.slice(q + 1),
      headers: req.headers,
      bodyLength: 0,
      bodySha256: '',
      signature: 'none',
    });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    upgraded.add(socket);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
