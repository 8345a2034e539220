import type { ServerResponse } from 'node:http';
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
  responded(status: number, seconds: number): void;
  failed(error: Error, timedOut: boolean, seconds: number): void;
}

/**
 * Streams an upstream response into the client response through undici's dispatch handler API:
 * no intermediate Readable, back-pressure by pausing the upstream socket, small bodies coalesced
 * into a single write. Timeouts become 504 and connection failures 502 (JSON) while nothing has
 * been sent; after that the client connection is cut so a truncated body is never mistaken for a
 * whole one.
 */
export class UpstreamRelay implements Dispatcher.DispatchHandler {
  private abortUpstream: ((error?: Error) => void) | null = null;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private chunks: Buffer[] | null = null;
  private resumeUpstream: (() => void) | null = null;
  private readonly startedAt = performance.now();
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly observer: RelayObserver,
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
    const headers = this.headers;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (DROPPED_RESPONSE_HEADERS.has(name) || name.startsWith('access-control-')) continue;
      const value = rawHeaders[i + 1]!.toString('latin1');
      if (name === 'content-length') contentLength = Number(value);
      const previous = headers[name];
      if (previous === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
      else if (Array.isArray(previous)) previous.push(value);
      else headers[name] = `${previous}, ${value}`;
    }
    if (contentLength >= 0 && contentLength <= COALESCE_LIMIT) this.chunks = [];
    this.observer.responded(statusCode, (performance.now() - this.startedAt) / 1000);
    return true;
  }

  onData(chunk: Buffer): boolean {
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
    if (!res.headersSent) res.writeHead(this.status, this.headers);
    const chunks = this.chunks;
    if (chunks && chunks.length > 0) res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    else res.end();
  }

  onError(error: Error): void {
    this.done = true;
    const code = (error as { code?: string }).code ?? '';
    const timedOut = TIMEOUT_CODES.has(code);
    this.observer.failed(error, timedOut, (performance.now() - this.startedAt) / 1000);
    const res = this.res;
    if (res.destroyed) return;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const refusal: Refusal = timedOut ? refusals.upstreamTimeout : refusals.upstreamUnreachable;
    sendJson(res, refusal);
  }
}
