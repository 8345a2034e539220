import { createHmac, hash } from 'node:crypto';

/** AWS credentials as the default provider chain returns them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  readonly expiration?: Date | undefined;
}

export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const HEX_ESCAPE = /[!'()*]/g;
const hexEscape = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent plus `! ' ( ) *`). */
function escapeUri(value: string): string {
  return isUnreserved(value) ? value : encodeURIComponent(value).replace(HEX_ESCAPE, hexEscape);
}

/** RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), by char code. */
const UNRESERVED = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  UNRESERVED[c] = /[A-Za-z0-9\-._~]/.test(ch) ? 1 : 0;
}

/** True when encoding and decoding both leave `value` unchanged (the common case): no work to do. */
function isUnreserved(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || UNRESERVED[c] === 0) return false;
  }
  return true;
}

/** Like isUnreserved, with `/` allowed (a path). */
function isPlainPath(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 47 && (c >= 128 || UNRESERVED[c] === 0)) return false;
  }
  return true;
}

/**
 * One query parameter, both halves already in SigV4 encoding; `bare` when the client sent the key
 * without `=` (signed as `key=`, as AWS canonicalises it, but forwarded as sent: PostgREST reads a
 * key without a value as no parameter, one with `=` as the empty value).
 */
export type QueryPair = readonly [key: string, value: string, bare?: true];

type QueryParseResult = { ok: true; pairs: QueryPair[] } | { ok: false; reason: string };

const PLUS = /\+/g;
/** A `%` that starts no escape: itself, as http-types (PostgREST) and URLSearchParams read it. */
const LONE_PERCENT = /%(?![0-9A-Fa-f]{2})/g;
const SEPARATORS = /[&;]/;
const decodeHalf = (raw: string) => decodeURIComponent(raw.replace(PLUS, ' ').replace(LONE_PERCENT, '%25'));

/**
 * Parses a raw query string (`a=1&b=x%20y`, no leading `?`) into pairs in strict SigV4 encoding,
 * keeping their order. `+` means space (form encoding, as supabase-js sends it) and a `%` that starts
 * no escape is a percent sign; escaped bytes that are no UTF-8 are refused. What goes upstream
 * is these pairs through `formatQuery`, which decodes to the same values, so any verifier that
 * decodes the query gets the same canonical form.
 * `drop` sees each decoded pair and may remove it (the gateway takes `apikey` out this way). With
 * `semicolons`, a raw `;` separates parameters as `&` does, as PostgREST (http-types) reads a query:
 * what goes upstream then has `&` alone, which every verifier splits alike.
 */
export function parseQuery(
  raw: string,
  drop?: (decodedKey: string, decodedValue: string) => boolean,
  semicolons = false,
): QueryParseResult {
  const pairs: QueryPair[] = [];
  if (raw.length === 0) return { ok: true, pairs };
  for (const component of raw.split(semicolons && raw.includes(';') ? SEPARATORS : '&')) {
    if (component.length === 0) continue;
    const eq = component.indexOf('=');
    const rawKey = eq < 0 ? component : component.slice(0, eq);
    const rawValue = eq < 0 ? '' : component.slice(eq + 1);
    // Unreserved-only halves decode and re-encode to themselves: skip both steps.
    const plainKey = isUnreserved(rawKey);
    const plainValue = isUnreserved(rawValue);
    let key: string;
    let value: string;
    try {
      key = plainKey ? rawKey : decodeHalf(rawKey);
      value = plainValue ? rawValue : decodeHalf(rawValue);
    } catch {
      return { ok: false, reason: 'malformed percent-encoding in query string' };
    }
    if (drop?.(key, value)) continue;
    const pair = [plainKey ? key : escapeUri(key), plainValue ? value : escapeUri(value)] as const;
    pairs.push(eq < 0 ? [...pair, true] : pair);
  }
  return { ok: true, pairs };
}

/** `key=value&…`; with `asSent`, a bare key without its `=`. */
function joinPairs(pairs: readonly QueryPair[], asSent = false): string {
  let out = '';
  for (const [key, value, bare] of pairs) out += (out ? '&' : '') + key + (asSent && bare ? '' : '=' + value);
  return out;
}

/**
 * Escapes of characters RFC 3986 allows as they are in a query, and that carry no meaning to a form
 * decoder: `! $ ' ( ) * , / : @`. (`& = + ; ? #` and `%` stay escaped.) Every `%` of a strictly
 * encoded string starts an escape, so a match is never the tail of another one.
 */
const QUERY_SAFE_ESCAPE = /%(?:21|24|27|28|29|2A|2C|2F|3A|40)/g;
const unescapeSafe = (triplet: string) => String.fromCharCode(Number.parseInt(triplet.slice(1), 16));

/**
 * The query string to send for `pairs`, in their original order. SigV4 signs the strict encoding,
 * but a verifier (AWS, or the emulator) decodes the query it receives and encodes it again, so the
 * PostgREST punctuation can travel as itself: `in.(1,2,3)` rather than `in.%281%2C2%2C3%29`, which
 * keeps a long filter within the upstream's request-line limit.
 */
export function formatQuery(pairs: readonly QueryPair[]): string {
  const out = joinPairs(pairs, true);
  return out.includes('%') ? out.replace(QUERY_SAFE_ESCAPE, unescapeSafe) : out;
}

/** Sorted by key, then by value; `X-Amz-Signature` left out (as the reference implementation does). */
function canonicalQuery(pairs: readonly QueryPair[]): string {
  if (pairs.length === 0) return '';
  if (pairs.length > SMALL_QUERY) {
    return joinPairs(pairs.filter(([key]) => !isSignatureKey(key)).sort(comparePairs));
  }
  // A typical query has a handful of pairs: an insertion sort into a fresh array spares the copy
  // and the scratch space Array.prototype.sort allocates on every call.
  const sorted: QueryPair[] = [];
  for (const pair of pairs) {
    if (isSignatureKey(pair[0])) continue;
    let at = sorted.length;
    while (at > 0 && comparePairs(sorted[at - 1]!, pair) > 0) {
      sorted[at] = sorted[at - 1]!;
      at--;
    }
    sorted[at] = pair;
  }
  return joinPairs(sorted);
}

/** Up to this many pairs the canonical query is sorted by insertion (quadratic beyond). */
const SMALL_QUERY = 16;

const isSignatureKey = (key: string) => key.length === 15 && key.toLowerCase() === 'x-amz-signature';

function comparePairs(a: QueryPair, b: QueryPair): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** Canonical URI of a raw request path: dot segments and empty segments removed, then encoded again. */
function canonicalPath(path: string): string {
  // Unreserved characters and single slashes, no dot segments: already canonical.
  if (isPlainPath(path) && !path.includes('//') && !hasDotSegment(path)) return path;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment.length === 0 || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${
    segments.length > 0 && path.endsWith('/') ? '/' : ''
  }`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

function hasDotSegment(path: string): boolean {
  for (let i = path.indexOf('.'); i >= 0; i = path.indexOf('.', i + 1)) {
    if (i > 0 && path.charCodeAt(i - 1) !== 47) continue;
    const end = path.charCodeAt(i + 1) === 46 ? i + 2 : i + 1;
    if (end === path.length || path.charCodeAt(end) === 47) return true;
  }
  return false;
}

interface SignInput {
  readonly method: string;
  /** `Host` header value as sent (hostname plus non-default port). */
  readonly host: string;
  /** Raw request path as sent, without the query. */
  readonly path: string;
  readonly query: readonly QueryPair[];
  /** Hex SHA-256 of the exact body bytes sent. */
  readonly payloadHash: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  readonly date: Date;
}

/** Headers to add to the request; `x-amz-security-token` only with temporary credentials. */
export interface SignedHeaders {
  readonly authorization: string;
  readonly 'x-amz-date': string;
  readonly 'x-amz-content-sha256': string;
  readonly 'x-amz-security-token'?: string;
}

export interface SigV4Signer {
  sign(input: SignInput): SignedHeaders;
}

export function sha256Hex(body: Uint8Array | string): string {
  return hash('sha256', body, 'hex');
}

const HMAC_BLOCK = 64;

/** A SHA-256 HMAC key padded to the block and XORed with RFC 2104's inner and outer pads. */
interface HmacKey {
  readonly inner: Buffer;
  readonly outer: Buffer;
}

export function hmacKey(secret: Buffer): HmacKey {
  // A key longer than the block is hashed first (RFC 2104); signing keys (32 bytes) never are.
  const key = secret.length > HMAC_BLOCK ? hash('sha256', secret, 'buffer') : secret;
  const inner = Buffer.alloc(HMAC_BLOCK);
  const outer = Buffer.alloc(HMAC_BLOCK);
  for (let i = 0; i < HMAC_BLOCK; i++) {
    const byte = key[i] ?? 0;
    inner[i] = byte ^ 0x36;
    outer[i] = byte ^ 0x5c;
  }
  return { inner, outer };
}

/** Where each signature's two hash inputs are assembled: pad, then the message or the inner digest. */
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * HMAC-SHA256 (RFC 2104) of `message` as hex, from two one-shot hashes over a reused buffer. A
 * `createHmac` per request would build a native Hmac object whose weak handle every scavenge then
 * has to process (one per request signed): measured, that lengthened each scavenge by about half.
 */
export function hmacHex(key: HmacKey, message: string): string {
  // At most three UTF-8 bytes per UTF-16 unit: room enough without measuring the message first.
  const room = HMAC_BLOCK + 3 * message.length;
  if (scratch.length < room) scratch = Buffer.allocUnsafeSlow(2 * room);
  key.inner.copy(scratch, 0);
  const needed = HMAC_BLOCK + scratch.write(message, HMAC_BLOCK);
  const innerDigest = hash('sha256', scratch.subarray(0, needed), 'binary');
  key.outer.copy(scratch, 0);
  scratch.write(innerDigest, HMAC_BLOCK, 'binary');
  return hash('sha256', scratch.subarray(0, HMAC_BLOCK + 32), 'hex');
}

/**
 * Header-based SigV4 (AWS4-HMAC-SHA256) on node:crypto, signing `host` and the `x-amz-*` headers.
 * Signing keys are cached per credentials, day, region and service; equivalence with
 * `@smithy/signature-v4` is proven in sigv4.test.ts.
 */
export function createSigV4Signer(): SigV4Signer {
  const signingKeys = new WeakMap<AwsCredentials, Map<string, HmacKey>>();
  let lastSecond = -1;
  let lastLongDate = '';

  const longDateOf = (date: Date): string => {
    const second = Math.floor(date.getTime() / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      lastLongDate = date
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z')
        .replace(/[-:]/g, '');
    }
    return lastLongDate;
  };

  const signingKey = (
    credentials: AwsCredentials,
    scope: string,
    shortDate: string,
    region: string,
    service: string,
  ): HmacKey => {
    let byScope = signingKeys.get(credentials);
    if (!byScope) {
      byScope = new Map();
      signingKeys.set(credentials, byScope);
    }
    let key = byScope.get(scope);
    if (!key) {
      let k: Buffer | string = `AWS4${credentials.secretAccessKey}`;
      for (const part of [shortDate, region, service, 'aws4_request']) {
        k = createHmac('sha256', k).update(part).digest();
      }
      key = hmacKey(k as Buffer);
      if (byScope.size > 16) byScope.clear();
      byScope.set(scope, key);
    }
    return key;
  };

  // The scope and the canonical `host`/token values repeat request after request: keep the last ones.
  let lastScope = { shortDate: '', region: '', service: '', value: '' };
  const scopeOf = (shortDate: string, region: string, service: string): string => {
    const last = lastScope;
    if (last.shortDate === shortDate && last.region === region && last.service === service) return last.value;
    lastScope = { shortDate, region, service, value: `${shortDate}/${region}/${service}/aws4_request` };
    return lastScope.value;
  };
  const canonicalValues = new Map<string, string>();
  const canonicalValueOf = (value: string): string => {
    let canonical = canonicalValues.get(value);
    if (canonical === undefined) {
      canonical = canonicalHeaderValue(value);
      if (canonicalValues.size >= 1_000) canonicalValues.clear();
      canonicalValues.set(value, canonical);
    }
    return canonical;
  };

  return {
    sign(input) {
      const longDate = longDateOf(input.date);
      const shortDate = longDate.slice(0, 8);
      const scope = scopeOf(shortDate, input.region, input.service);
      const token = input.credentials.sessionToken;
      const signedHeaderNames = token
        ? 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token'
        : 'host;x-amz-content-sha256;x-amz-date';
      const canonicalHeaders =
        `host:${canonicalValueOf(input.host)}\n` +
        `x-amz-content-sha256:${input.payloadHash}\n` +
        `x-amz-date:${longDate}\n` +
        (token ? `x-amz-security-token:${canonicalValueOf(token)}\n` : '');
      const canonicalRequest =
        `${input.method}\n${canonicalPath(input.path)}\n${canonicalQuery(input.query)}\n` +
        `${canonicalHeaders}\n${signedHeaderNames}\n${input.payloadHash}`;
      const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
      const key = signingKey(input.credentials, scope, shortDate, input.region, input.service);
      const signature = hmacHex(key, stringToSign);
      const authorization =
        `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, ` +
        `SignedHeaders=${signedHeaderNames}, Signature=${signature}`;
      const headers: SignedHeaders = {
        authorization,
        'x-amz-date': longDate,
        'x-amz-content-sha256': input.payloadHash,
      };
      return token ? { ...headers, 'x-amz-security-token': token } : headers;
    },
  };
}

function canonicalHeaderValue(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}
