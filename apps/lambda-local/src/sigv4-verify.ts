import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * SigV4 verification of a received request, the way a Lambda Function URL with `AWS_IAM` auth does it:
 * the canonical request is rebuilt from the exact received method, raw path, raw query string, the
 * headers the client listed in `SignedHeaders` and the body bytes, then signed again with
 * `@smithy/signature-v4` (the reference signer) and compared.
 */

export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /**
   * Set for temporary credentials: the one session token that goes with this access key. As on AWS, a
   * request must then carry it (`x-amz-security-token`, or `X-Amz-Security-Token` when presigned), and
   * without one configured a request carrying any token is refused too.
   */
  readonly sessionToken?: string;
}

interface ReceivedRequest {
  readonly method: string;
  /** Path as received on the wire, still percent-encoded, without the query. */
  readonly rawPath: string;
  /** Query string as received, without `?` (empty when none). */
  readonly rawQueryString: string;
  /** Lower-cased names; repeated headers joined with `,`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

type SigV4Failure =
  | { readonly kind: 'missing' }
  | { readonly kind: 'unknown-access-key' }
  | { readonly kind: 'invalid-security-token' }
  | { readonly kind: 'invalid'; readonly message: string };

type SigV4Result =
  | { readonly ok: true; readonly accessKeyId: string }
  | ({ readonly ok: false } & SigV4Failure);

export const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** AWS tolerates five minutes between the signer's clock and its own. */
const MAX_SKEW_MS = 5 * 60 * 1000;

const SERVICE = 'lambda';
/** Query parameters of a presigned request, in the order read below. */
const PRESIGN_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
];
const AUTH_PREFIX = 'AWS4-HMAC-SHA256 ';

/** `Checksum` for smithy backed by node:crypto (same bytes as @aws-crypto/sha256-js, much faster on 6 MB). */
type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

class NodeSha256 {
  private hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    throw new Error('not supported');
  }
}

/**
 * The query record handed to the signer: the raw query parsed as `application/x-www-form-urlencoded`
 * (`+` is a space, malformed escapes stay literal), repeated keys kept in arrival order. The gateway's
 * signer must build it the same way (docs/contracts.md, "Gateway → data API function").
 */
export function signableQuery(rawQueryString: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(rawQueryString)) {
    const previous = query[key];
    if (previous === undefined) query[key] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else query[key] = [previous, value];
  }
  return query;
}

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: string[];
  readonly signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization | undefined {
  if (!header.startsWith(AUTH_PREFIX)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(AUTH_PREFIX.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) return undefined;
  const scope = credential.split('/');
  if (scope.length !== 5) return undefined;
  const [accessKeyId, date, region, service, terminator] = scope as [string, string, string, string, string];
  return {
    accessKeyId,
    date,
    region,
    service,
    terminator,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

/** `20261122T101500Z` → Date, or undefined when malformed. */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

interface SigV4VerifierOptions {
  readonly region: string;
  readonly credentials: StaticCredentials;
  readonly now?: () => number;
}

type SigV4Verifier = (request: ReceivedRequest) => Promise<SigV4Result>;

/** Builds a verifier for one region and one set of static credentials (the local stand-in for IAM). */
export function createSigV4Verifier(options: SigV4VerifierOptions): SigV4Verifier {
  const now = options.now ?? Date.now;
  const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
  const signer = new SignatureV4({
    service: SERVICE,
    region: options.region,
    // No session token here: the signer would add it to the signed headers whether the client signed it or not.
    credentials: { accessKeyId, secretAccessKey },
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const invalid = (message: string): SigV4Result => ({ ok: false, kind: 'invalid', message });

  /**
   * Access key, session token, scope and host checks shared by header and query (presigned)
   * authentication; `token` is the session token the request carries, if any.
   */
  const checkScope = (auth: ParsedAuthorization, token: string | undefined): SigV4Result | undefined => {
    if (!sameText(auth.accessKeyId, accessKeyId)) {
      return { ok: false, kind: 'unknown-access-key' };
    }
    if (
      sessionToken === undefined ? token !== undefined : token === undefined || !sameText(token, sessionToken)
    ) {
      return { ok: false, kind: 'invalid-security-token' };
    }
    if (auth.service !== SERVICE)
      return invalid(`Credential should be scoped to correct service: '${SERVICE}'.`);
    if (auth.region !== options.region) return invalid('Credential should be scoped to a valid region.');
    if (auth.terminator !== 'aws4_request') {
      return invalid(`Credential should be scoped with a valid terminator: 'aws4_request'.`);
    }
    if (!auth.signedHeaders.includes('host')) {
      return invalid(`'Host' must be a 'SignedHeader' in the AWS Authorization.`);
    }
    return undefined;
  };

  /** The headers the client signed, as received; undefined when one of them is missing. */
  const signedHeaderValues = (request: ReceivedRequest, names: readonly string[]) => {
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = request.headers[name];
      if (value === undefined) return undefined;
      headers[name] = value;
    }
    return headers;
  };

  const payloadMismatch = (request: ReceivedRequest): SigV4Result | undefined => {
    const contentSha = request.headers['x-amz-content-sha256'];
    if (contentSha !== undefined && contentSha !== createHash('sha256').update(request.body).digest('hex')) {
      return invalid(`The provided 'x-amz-content-sha256' header does not match what was computed.`);
    }
    return undefined;
  };

  const tooEarly = (amzDate: string, current: number) =>
    invalid(
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(new Date(current + MAX_SKEW_MS))} (${formatAmzDate(new Date(current))} + 5 min.)`,
    );

  const verifyHeader = async (
    request: ReceivedRequest,
    header: string,
    query: Record<string, string | string[]>,
  ): Promise<SigV4Result> => {
    const auth = parseAuthorization(header);
    if (!auth) {
      return invalid(
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.`,
      );
    }
    const refused = checkScope(auth, request.headers['x-amz-security-token']);
    if (refused) return refused;
    const amzDate = request.headers['x-amz-date'];
    const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
    if (!amzDate || !signingDate) {
      return invalid(`Authorization header requires existence of a valid 'X-Amz-Date' header.`);
    }
    const current = now();
    if (signingDate.getTime() < current - MAX_SKEW_MS) {
      return invalid(
        `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(current - MAX_SKEW_MS))} (${formatAmzDate(new Date(current))} - 5 min.)`,
      );
    }
    if (signingDate.getTime() > current + MAX_SKEW_MS) return tooEarly(amzDate, current);
    if (auth.date !== amzDate.slice(0, 8)) return invalid(SIGNATURE_MISMATCH);
    const badPayload = payloadMismatch(request);
    if (badPayload) return badPayload;

    const headers = signedHeaderValues(request, auth.signedHeaders);
    if (!headers) return invalid(SIGNATURE_MISMATCH);
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: 'http:',
        hostname: headers['host']!.replace(/:\d+$/, ''),
        path: request.rawPath,
        query,
        headers,
        body: request.body,
      },
      { signingDate, signableHeaders: new Set(auth.signedHeaders) },
    );
    const expected = parseAuthorization(String(signed.headers['authorization']));
    if (
      !expected ||
      expected.signedHeaders.join(';') !== auth.signedHeaders.join(';') ||
      !sameText(expected.signature, auth.signature)
    ) {
      return invalid(SIGNATURE_MISMATCH);
    }
    return { ok: true, accessKeyId: auth.accessKeyId };
  };

  /** Query-string authentication (a presigned URL), which Function URLs accept too. */
  const verifyPresigned = async (
    request: ReceivedRequest,
    query: Record<string, string | string[]>,
  ): Promise<SigV4Result> => {
    const field = (name: string) => {
      const value = query[name];
      return typeof value === 'string' ? value : undefined;
    };
    const [algorithm, credential, amzDate, expires, signedHeaders, signature] = PRESIGN_PARAMS.map(field);
    if (
      algorithm !== 'AWS4-HMAC-SHA256' ||
      !credential ||
      !amzDate ||
      !expires ||
      !signedHeaders ||
      !signature
    ) {
      return invalid(
        `AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'.`,
      );
    }
    const auth = parseAuthorization(
      `${AUTH_PREFIX}Credential=${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    );
    if (!auth) return invalid(SIGNATURE_MISMATCH);
    const token = field('X-Amz-Security-Token') ?? request.headers['x-amz-security-token'];
    const refused = checkScope(auth, token);
    if (refused) return refused;
    const signingDate = parseAmzDate(amzDate);
    const expiresIn = Number(expires);
    if (!signingDate) return invalid(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 604_800) {
      return invalid('X-Amz-Expires must be between 1 and 604800 seconds.');
    }
    const current = now();
    if (signingDate.getTime() > current + MAX_SKEW_MS) return tooEarly(amzDate, current);
    if (current > signingDate.getTime() + expiresIn * 1000) return invalid('Request has expired');
    if (auth.date !== amzDate.slice(0, 8)) return invalid(SIGNATURE_MISMATCH);
    const badPayload = payloadMismatch(request);
    if (badPayload) return badPayload;

    const headers = signedHeaderValues(request, auth.signedHeaders);
    if (!headers) return invalid(SIGNATURE_MISMATCH);
    const rest: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(query)) if (!PRESIGN_PARAMS.includes(key)) rest[key] = value;
    const presigned = await signer.presign(
      {
        method: request.method,
        protocol: 'http:',
        hostname: headers['host']!.replace(/:\d+$/, ''),
        path: request.rawPath,
        query: rest,
        headers,
        body: request.body,
      },
      {
        signingDate,
        expiresIn,
        signableHeaders: new Set(auth.signedHeaders),
        // Signed x-amz-* headers that arrived as headers were not hoisted into the query by the client.
        unhoistableHeaders: new Set(auth.signedHeaders.filter((h) => h.startsWith('x-amz-'))),
      },
    );
    const expectedHeaders = presigned.query?.[PRESIGN_PARAMS[4]!];
    const expectedSignature = presigned.query?.[PRESIGN_PARAMS[5]!];
    if (
      expectedHeaders !== signedHeaders ||
      typeof expectedSignature !== 'string' ||
      !sameText(expectedSignature, signature)
    ) {
      return invalid(SIGNATURE_MISMATCH);
    }
    return { ok: true, accessKeyId: auth.accessKeyId };
  };

  return async (request) => {
    const query = signableQuery(request.rawQueryString);
    const header = request.headers['authorization'];
    if (header) return verifyHeader(request, header, query);
    if (query['X-Amz-Signature'] !== undefined || query['X-Amz-Algorithm'] !== undefined) {
      return verifyPresigned(request, query);
    }
    return { ok: false, kind: 'missing' };
  };
}
