import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { type Refusal, refusals, sendJson } from './responses.js';

/** Upstream response headers never relayed: hop-by-hop, and CORS (the gateway answers CORS itself). */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-request-id',
]);

/** Whether an upstream response header (lower-case name) goes to the client. */
export function isRelayedResponseHeader(name: string): boolean {
  return !DROPPED_RESPONSE_HEADERS.has(name) && !name.startsWith('access-control-');
}

/** A cookie's `Domain` attribute with its value (the name=value pair before the first `;` never matches). */
const DOMAIN_ATTRIBUTE = /;\s*domain\s*(?:=[^;]*)?(?=;|$)/gi;

/**
 * A `Set-Cookie` value as relayed: without `Domain`, so the cookie stays on the project's own host.
 * With it, a project could set cookies on the base domain, which every other project's host then
 * receives (their `request.cookies` policies, auth's redirects) or which make each request to them
 * too large to serve. Hosted Supabase gets the same from the Public Suffix List, where its project
 * domain is listed and an operator's base domain is not.
 */
export function hostOnlyCookie(value: string): string {
  return value.replace(DOMAIN_ATTRIBUTE, '');
}

/** Responses up to this size (by `content-length`) are sent with one write. */
const COALESCE_LIMIT = 64 * 1024;

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

export interface RelayObserver {
  /** Upstream answered with headers after `seconds`. */
  responded(relay: UpstreamRelay, status: number, seconds: number): void;
  failed(relay: UpstreamRelay, error: Error, timedOut: boolean, seconds: number): void;
}

/**
 * Streams an upstream response into the client response through undici's dispatch handler API:
 * no intermediate Readable, back-pressure by pausing the upstream socket. Small bodies (by
 * `content-length`) are coalesced and go out with the head in one (corked) write. Timeouts become 504 and
 * connection failures 502 (JSON) while nothing has been sent; after that the client connection is
 * cut so a truncated body is never mistaken for a whole one.
 *
 * The response head is one flat `[name, value, …]` list handed to `writeHead`: `leadingHeaders`
 * (the gateway's own, e.g. `x-request-id` and CORS) followed by the upstream's relayable headers.
 * The request context (`service`, `ref`, `requestId`) rides along for the shared observer, so a
 * request allocates no closures for it.
 */
export class UpstreamRelay implements Dispatcher.DispatchHandler {
  private abortUpstream: ((error?: Error) => void) | null = null;
  private status = 0;
  private headers: string[] = [];
  private chunks: Buffer[] | null = null;
  private resumeUpstream: (() => void) | null = null;
  private readonly startedAt = performance.now();
  private done = false;
  /** Response body bytes received from the upstream (usage: egress). */
  bytesRelayed = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly observer: RelayObserver,
    readonly leadingHeaders: readonly string[],
    readonly service: string,
    readonly ref: string,
    readonly requestId: string,
  ) {}

  /** The client went away: stop the upstream request too. */
  cancel(): void {
    if (!this.done) this.abortUpstream?.(new Error('client closed the connection'));
  }

  onConnect(abort: (error?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    this.resumeUpstream = resume;
    let contentLength = -1;
    let connection: string | undefined;
    const headers = this.leadingHeaders.slice();
    const leading = headers.length;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (!isRelayedResponseHeader(name)) {
        if (name === 'connection' && !isPlainConnection(rawHeaders[i + 1]!)) {
          const value = rawHeaders[i + 1]!.toString('latin1');
          connection = connection === undefined ? value : `${connection},${value}`;
        }
        continue;
      }
      let value = rawHeaders[i + 1]!.toString('latin1');
      if (name === 'content-length') contentLength = Number(value);
      else if (name === 'set-cookie') value = hostOnlyCookie(value);
      // Repeated fields are joined with ", " (set-cookie stays one line each), as node:http did.
      let at = -1;
      if (name !== 'set-cookie') {
        for (let j = leading; j < headers.length; j += 2) {
          if (headers[j] === name) {
            at = j;
            break;
          }
        }
      }
      if (at < 0) headers.push(name, value);
      else headers[at + 1] = `${headers[at + 1]}, ${value}`;
    }
    if (connection !== undefined) dropConnectionListed(headers, leading, connection);
    this.headers = headers;
    if (contentLength >= 0 && contentLength <= COALESCE_LIMIT) this.chunks = [];
    this.observer.responded(this, statusCode, (performance.now() - this.startedAt) / 1000);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesRelayed += chunk.length;
    if (this.chunks) {
      this.chunks.push(chunk);
      return true;
    }
    const res = this.res;
    if (!res.headersSent) res.writeHead(this.status, this.headers);
    if (res.write(chunk)) return true;
    res.once('drain', () => this.resumeUpstream?.());
    return false;
  }

  onComplete(): void {
    this.done = true;
    const res = this.res;
    if (res.destroyed) return;
    if (!res.headersSent) {
      // Supabase clients parse an error's body as JSON: an upstream error with none (node's own 431
      // for a head over its limit, a load balancer's 502) gets a body that says what the status means.
      if (this.status >= 400 && this.bytesRelayed === 0 && res.req.method !== 'HEAD') {
        this.endWithStatusMessage();
        return;
      }
      res.writeHead(this.status, this.headers);
    }
    const chunks = this.chunks;
    if (chunks && chunks.length > 0) res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    else res.end();
  }

  private endWithStatusMessage(): void {
    const body = JSON.stringify({ message: STATUS_CODES[this.status] ?? `Upstream answered ${this.status}` });
    const headers = this.headers;
    for (let i = headers.length - 2; i >= this.leadingHeaders.length; i -= 2) {
      const name = headers[i];
      if (name === 'content-type' || name === 'content-length' || name === 'content-encoding') {
        headers.splice(i, 2);
      }
    }
    headers.push(
      'content-type',
      'application/json; charset=utf-8',
      'content-length',
      String(Buffer.byteLength(body)),
    );
    this.res.writeHead(this.status, headers);
    this.res.end(body);
  }

  onError(error: Error): void {
    this.done = true;
    const code = (error as { code?: string }).code ?? '';
    const timedOut = TIMEOUT_CODES.has(code);
    this.observer.failed(this, error, timedOut, (performance.now() - this.startedAt) / 1000);
    const res = this.res;
    if (res.destroyed) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (let i = 0; i < this.leadingHeaders.length; i += 2) {
      res.setHeader(this.leadingHeaders[i]!, this.leadingHeaders[i + 1]!);
    }
    const refusal: Refusal = timedOut ? refusals.upstreamTimeout : refusals.upstreamUnreachable;
    sendJson(res, refusal);
  }
}

/** `Connection` values that name no header, as node and undici write them, compared without a string. */
const PLAIN_CONNECTION = ['keep-alive', 'Keep-Alive', 'close', 'Close'].map((v) => Buffer.from(v, 'latin1'));
function isPlainConnection(value: Buffer): boolean {
  for (const plain of PLAIN_CONNECTION) if (value.equals(plain)) return true;
  return false;
}

/**
 * Removes the upstream's headers (from `from` on; the gateway's own leading ones stay) named in its
 * `Connection` field: they concern its hop only (RFC 9110 §7.6.1). `keep-alive`/`close` name none.
 */
function dropConnectionListed(headers: string[], from: number, connection: string): void {
  const listed = connection
    .toLowerCase()
    .split(',')
    .map((token) => token.trim());
  for (let i = headers.length - 2; i >= from; i -= 2) {
    if (listed.includes(headers[i]!)) headers.splice(i, 2);
  }
}
