import type { ServerResponse } from 'node:http';

/** Body and status of every refusal the gateway makes, in Supabase's hosted shapes. */
export interface Refusal {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export const refusals = {
  noApiKey: {
    status: 401,
    body: {
      message: 'No API key found in request',
      hint: 'No `apikey` request header or url param was found.',
    },
  },
  invalidApiKey: {
    status: 401,
    body: {
      message: 'Invalid API key',
      hint: 'Double check your Supabase `anon` or `service_role` API key.',
    },
  },
  conflictingApiKeys: {
    status: 401,
    body: {
      message: 'Invalid API key',
      hint: 'The `apikey` header (or url param) and `Authorization: Bearer sb_…` carry different API keys; send one key, or the same key in both.',
    },
  },
  openApiNeedsSecretKey: {
    status: 403,
    body: {
      message: 'The data API schema (OpenAPI at /rest/v1/) is only served to secret API keys',
      hint: 'Use a secret key from a protected environment; publishable keys can query the tables and functions themselves.',
    },
  },
  secretKeyInBrowser: {
    status: 401,
    body: {
      message: 'Forbidden use of secret API key in browser',
      hint: 'Secret API keys can only be used in a protected environment and should never be used in a browser. Use a publishable key instead.',
    },
  },
  projectNotFound: { status: 404, body: { message: 'Project not found' } },
  projectPaused: {
    status: 503,
    body: { message: 'Project is paused', hint: 'Restore the project to serve requests again.' },
  },
  projectUnavailable: (status: string): Refusal => ({
    status: 503,
    body: {
      message: `Project is not available (status ${status})`,
      hint: 'Try again once the project is healthy.',
    },
  }),
  lookupUnavailable: {
    status: 503,
    body: {
      message: 'Service temporarily unavailable',
      hint: 'The gateway cannot check this API key with the project registry right now (unreachable or too busy); try again shortly.',
    },
  },
  badHost: { status: 400, body: { message: 'Invalid Host header' } },
  unknownHost: { status: 404, body: { message: 'Unknown host: use https://<project-ref>.<base-domain>' } },
  noRoute: { status: 404, body: { message: 'no Route matched with those values' } },
  serviceNotConfigured: (service: string): Refusal => ({
    status: 404,
    body: { message: `The ${service} service is not enabled for this project` },
  }),
  badPath: { status: 400, body: { message: 'Invalid request path' } },
  badQuery: { status: 400, body: { message: 'Invalid query string: malformed percent-encoding' } },
  payloadTooLarge: (limit: number): Refusal => ({
    status: 413,
    body: { message: `Request body too large: the limit is ${limit} bytes` },
  }),
  rateLimited: (requestsPerSecond: number, retryAfterMs: number): Refusal => ({
    status: 429,
    body: {
      message: 'API rate limit exceeded',
      hint: `This project accepts ${requestsPerSecond} request${requestsPerSecond === 1 ? '' : 's'} per second; retry after the number of seconds in Retry-After.`,
    },
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  }),
  tooManyNewKeys: (retryAfterMs: number): Refusal => ({
    status: 429,
    body: {
      message: 'Too many unrecognised API keys',
      hint: 'This project is receiving more API keys the gateway has not seen than it looks up per second; retry after the number of seconds in Retry-After.',
    },
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  }),
  upstreamTimeout: { status: 504, body: { message: 'The upstream service did not answer in time' } },
  upstreamUnreachable: { status: 502, body: { message: 'The upstream service could not be reached' } },
  upstreamNotAllowed: { status: 502, body: { message: 'The upstream service address is not allowed' } },
  upgradeNotSupported: {
    status: 404,
    body: { message: 'This service does not accept WebSocket connections through the gateway' },
  },
  upgradeProtocolNotSupported: { status: 400, body: { message: 'Only WebSocket upgrades are supported' } },
  internal: { status: 500, body: { message: 'Internal gateway error' } },
  shuttingDown: { status: 503, body: { message: 'Gateway is shutting down' } },
} satisfies Record<string, Refusal | ((...args: never[]) => Refusal)>;

/**
 * Text for a quoted header parameter: a verifier's message may quote the token itself (its `alg`), and
 * a line break or a character past Latin-1 there would make node refuse the header (a 500 instead of
 * the 401). Printable ASCII only, with neither the quote nor the backslash that would end or escape it.
 */
const NOT_QUOTABLE = /[^\x20-\x7e]|["\\]/g;

/** PostgREST's body for a rejected JWT. */
export function jwtRefusal(code: 'PGRST301' | 'PGRST303', message: string): Refusal {
  return {
    status: 401,
    body: { code, details: null, hint: null, message },
    headers: {
      'www-authenticate': `Bearer error="invalid_token", error_description="${message.replace(NOT_QUOTABLE, '')}"`,
    },
  };
}

export function sendJson(res: ServerResponse, refusal: Refusal): void {
  const payload = JSON.stringify(refusal.body);
  res.statusCode = refusal.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  if (refusal.headers)
    for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
  res.end(payload);
}
