/**
 * What the gateway reads from a client request's head, taken in one pass over `rawHeaders`.
 * node:http builds `req.headers` lazily, so a request path that never asks for it skips building
 * (and then walking) that object. Repeated fields follow node's own rules: `authorization`,
 * `user-agent` and `content-length` keep their first value, the others (`host` too) are joined with `, ` —
 * so a doubled `apikey` reads as one malformed key, exactly as through `req.headers`.
 */
export interface ClientHead {
  readonly host?: string;
  readonly apikey?: string;
  readonly authorization?: string;
  readonly 'user-agent'?: string;
  readonly origin?: string;
  readonly 'x-request-id'?: string;
  readonly 'content-length'?: string;
  readonly 'transfer-encoding'?: string;
  readonly 'access-control-request-method'?: string;
  readonly 'access-control-request-headers'?: string;
  readonly upgrade?: string;
  readonly 'x-forwarded-for'?: string;
  readonly 'x-forwarded-proto'?: string;
  readonly 'x-forwarded-port'?: string;
  readonly connection?: string;
  /** The end-to-end headers to send upstream, as a flat `[name, value, …]` list with lower-case names. */
  readonly forward: string[];
}

/** The fields kept on a {@link ClientHead}; every other header only goes to `forward` (or is dropped). */
export const CLIENT_HEAD_FIELDS = [
  'host',
  'apikey',
  'authorization',
  'user-agent',
  'origin',
  'x-request-id',
  'content-length',
  'transfer-encoding',
  'access-control-request-method',
  'access-control-request-headers',
  'upgrade',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-port',
  'connection',
] as const satisfies readonly (keyof ClientHead)[];
const READ = new Set<string>(CLIENT_HEAD_FIELDS);
/**
 * node:http keeps the first of these when a request repeats them. It keeps the first `host` too, but
 * here a repeated Host reads as its values joined, so project-host.ts can refuse it (RFC 9112 §3.2).
 */
const FIRST_WINS = new Set(['authorization', 'user-agent', 'content-length']);

/** Hop-by-hop and identity headers never forwarded upstream (the gateway sets its own). */
const NOT_FORWARDED = new Set([
  'host',
  'apikey',
  'authorization',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
  'proxy-authorization',
  'proxy-connection',
  'x-project-ref',
  'x-project-id',
  'x-tenant-id',
  'x-client-authorization',
  'x-forwarded-for',
  // Where the request came in, as the client claims it: an upstream building absolute URLs (storage's
  // upload Location, auth's redirects) must not take the client's word. X-Forwarded-Proto and -Port go
  // up from `upstreamHeaders`: a trusted proxy's (the ALB replaces the client's), else the listener's.
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-host',
  'x-forwarded-prefix',
  'forwarded',
  'x-real-ip',
  'x-request-id',
  // The gateway's own: the version of the project config it forwards under (upstream-forward.ts).
  'x-supaplane-config-version',
]);

export function readClientHead(rawHeaders: readonly string[]): ClientHead {
  const head: Record<string, string> = {};
  const forward: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (READ.has(name)) {
      const seen = head[name];
      if (seen === undefined) head[name] = value;
      else if (!FIRST_WINS.has(name)) head[name] = `${seen}, ${value}`;
    }
    if (!NOT_FORWARDED.has(name) && !name.startsWith('x-amz-') && !name.startsWith('proxy-')) {
      forward.push(name, value);
    }
  }
  // Headers the client named in `Connection` are hop-by-hop too (`keep-alive`/`close` name none).
  const connection = head.connection;
  if (connection !== undefined && forward.length > 0) {
    const listed = connection
      .toLowerCase()
      .split(',')
      .map((token) => token.trim())
      .filter((token) => token !== 'keep-alive' && token !== 'close' && token !== '');
    if (listed.length > 0) {
      for (let i = forward.length - 2; i >= 0; i -= 2) {
        if (listed.includes(forward[i]!)) forward.splice(i, 2);
      }
    }
  }
  return Object.assign(head, { forward }) as ClientHead;
}

/**
 * `forward` with `x-forwarded-for` added: the list itself, once per request. Of the client's
 * `X-Forwarded-For` only the last `trustedHops` entries are kept, the ones the proxies in front of the
 * gateway appended (ALB appends the address it was connected from); anything before them is whatever
 * the client wrote, and an upstream that takes the first entry as the client's address (auth's
 * per-IP rate limits, audit logs) must never see it. So the value sent is the client's address as
 * the outermost trusted proxy saw it, the proxies' entries after it, then this connection's peer.
 * `X-Forwarded-Proto` and `-Port` are the trusted proxy's when there is one; with none, the client
 * reached this listener itself (plain HTTP on its local port), and what it wrote there is not passed on.
 */
export function upstreamHeaders(
  head: ClientHead,
  connection: { readonly remoteAddress?: string | undefined; readonly localPort?: number | undefined },
  trustedHops: number,
): string[] {
  const headers = head.forward;
  const peer = connection.remoteAddress ?? 'unknown';
  if (trustedHops === 0) {
    headers.push('x-forwarded-proto', 'http');
    if (connection.localPort !== undefined) headers.push('x-forwarded-port', String(connection.localPort));
    headers.push('x-forwarded-for', peer);
    return headers;
  }
  const proto = head['x-forwarded-proto'];
  if (proto !== undefined) headers.push('x-forwarded-proto', proto);
  const port = head['x-forwarded-port'];
  if (port !== undefined) headers.push('x-forwarded-port', port);
  const forwardedFor = head['x-forwarded-for'];
  if (forwardedFor === undefined) {
    headers.push('x-forwarded-for', peer);
    return headers;
  }
  const trusted = trustedForwardedFor(forwardedFor, trustedHops);
  headers.push('x-forwarded-for', trusted === '' ? peer : `${trusted}, ${peer}`);
  return headers;
}

/** The last `trustedHops` entries of an `X-Forwarded-For` value: those the trusted proxies appended. */
function trustedForwardedFor(forwardedFor: string, trustedHops: number): string {
  let cut = forwardedFor.length;
  for (let hop = 0; hop < trustedHops && cut >= 0; hop++) cut = forwardedFor.lastIndexOf(',', cut - 1);
  return (cut < 0 ? forwardedFor : forwardedFor.slice(cut + 1)).trim();
}

/**
 * Who sent the request, as far as the gateway can tell: the address the outermost trusted proxy
 * was connected from (the first of the entries the trusted proxies appended to `X-Forwarded-For`),
 * else this connection's peer. An IPv6 address stands for its /64, what one host is usually given.
 */
export function clientAddress(
  head: ClientHead,
  connection: { readonly remoteAddress?: string | undefined },
  trustedHops: number,
): string {
  const forwardedFor = trustedHops > 0 ? head['x-forwarded-for'] : undefined;
  const trusted = forwardedFor === undefined ? '' : trustedForwardedFor(forwardedFor, trustedHops);
  const comma = trusted.indexOf(',');
  const address = (comma < 0 ? trusted : trusted.slice(0, comma)).trim() || connection.remoteAddress || '';
  return address.includes(':') ? ipv6Network(address) : address;
}

/** The /64 of an IPv6 address (`2001:db8:1:2::/64`); an IPv4-mapped one as its IPv4 address. */
function ipv6Network(address: string): string {
  const bare = address.replace(/^\[|\](?::\d+)?$/g, '').toLowerCase();
  if (bare.startsWith('::ffff:') && bare.includes('.')) return bare.slice(7);
  const double = bare.indexOf('::');
  const head = (double < 0 ? bare : bare.slice(0, double)).split(':').filter((g) => g !== '');
  const tail =
    double < 0
      ? []
      : bare
          .slice(double + 2)
          .split(':')
          .filter((g) => g !== '');
  const groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
