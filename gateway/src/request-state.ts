import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientHead } from './client-head.js';
import type { ServiceName } from './project-runtime.js';
import { discardUnreadBody } from './request-body.js';
import { type Refusal, sendJson } from './responses.js';
import type { UpstreamRelay } from './upstream-relay.js';

/** What the gateway knows of one request as it goes: read when it is logged, metered and answered. */
export interface RequestState {
  prefix: ServiceName | 'other' | 'none';
  ref: string | null;
  relay: UpstreamRelay | null;
  /** Set for HTTP upgrade (WebSocket) requests. */
  upgrade: Upgrade | null;
  readonly requestId: string;
  /** A project host's answer: CORS headers go with it. */
  cors: boolean;
  /** The request's headers, read once (client-head.ts). */
  readonly head: ClientHead;
  /** The request counts toward the usage of project `ref` (docs/contracts.md, "Usage counters"). */
  metered: boolean;
  /** Refused by the project's rate limit. */
  rateLimited: boolean;
  /** Request body bytes forwarded upstream; for a WebSocket tunnel, the client's bytes through it. */
  ingressBytes: number;
  /** A WebSocket tunnel's bytes from the upstream (a relayed response counts `relay.bytesRelayed`). */
  egressBytes: number;
  /** The client waits for `100 Continue` before it sends the body. */
  readonly expectsContinue: boolean;
}

/** The client's socket and the bytes after its head, for an HTTP upgrade (WebSocket) request. */
export interface Upgrade {
  readonly socket: Socket;
  readonly head: Buffer;
}

/**
 * The upstreams' own CORS headers are dropped, so this list covers what each one exposes and its
 * client reads: PostgREST (counts, inserts), GoTrue (`X-Supabase-Api-Version` decides how auth-js reads
 * error codes; admin pagination), Edge Functions (`x-relay-error`), Storage's resumable uploads (tus),
 * and the gateway's own `Retry-After`. One constant string: nothing per request.
 */
const EXPOSED_HEADERS =
  'Content-Range, Content-Location, Content-Profile, Content-Encoding, Preference-Applied, Range-Unit, ' +
  'Location, Date, ETag, X-Request-Id, Retry-After, X-Total-Count, Link, X-Supabase-Api-Version, ' +
  'X-Relay-Error, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Tus-Resumable, ' +
  'Tus-Version, Tus-Max-Size, Tus-Extension';

/** What a preflight allows when the browser names no headers: those Supabase clients send. */
const DEFAULT_ALLOWED_HEADERS =
  'authorization, apikey, content-type, content-profile, accept-profile, prefer, range, x-client-info, x-supabase-api-version';

/** The gateway's own response headers, as a flat list: `x-request-id`, and CORS on project hosts. */
export function leadingHeaders(state: RequestState): string[] {
  return state.cors
    ? [
        'x-request-id',
        state.requestId,
        'access-control-allow-origin',
        '*',
        'access-control-expose-headers',
        EXPOSED_HEADERS,
      ]
    : ['x-request-id', state.requestId];
}

export function applyLeadingHeaders(res: ServerResponse, state: RequestState): void {
  const headers = leadingHeaders(state);
  for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
}

/**
 * A refusal (or any JSON answer) with the gateway's own headers; a body the client still sends is
 * dropped up to twice `bodyLimitBytes` (request-body.ts).
 */
export function answer(
  res: ServerResponse,
  state: RequestState,
  refusal: Refusal,
  bodyLimitBytes: number,
): void {
  applyLeadingHeaders(res, state);
  sendJson(res, refusal);
  // A body not read yet (the request was refused first) is dropped within bounds.
  const req = res.req;
  const head = state.head;
  const length = head['content-length'];
  if (
    !state.upgrade &&
    !req.readableEnded &&
    ((length !== undefined && length !== '0') || head['transfer-encoding'] !== undefined)
  ) {
    discardUnreadBody(req, res, 2 * bodyLimitBytes);
  }
}

/** Error name, code and message only: never headers or bodies that may carry secrets. */
export function errorSummary(error: unknown): Record<string, unknown> {
  if (error instanceof Error)
    return { name: error.name, code: (error as { code?: string }).code, message: error.message };
  return { message: String(error) };
}

/** A CORS preflight's answer: every method, and the headers the browser asked for (bounded). */
export function answerPreflight(res: ServerResponse, state: RequestState): void {
  applyLeadingHeaders(res, state);
  const requested = state.head['access-control-request-headers'];
  res.statusCode = 204;
  res.setHeader('access-control-allow-methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  res.setHeader(
    'access-control-allow-headers',
    typeof requested === 'string' && requested.length < 2048 ? requested : DEFAULT_ALLOWED_HEADERS,
  );
  res.setHeader('access-control-max-age', '86400');
  res.end();
}
