import { randomUUID } from 'node:crypto';

/** Payload format 2.0, as a Lambda Function URL hands it to the function. */
export interface FunctionUrlEvent {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    authorizer?: { iam: Record<string, string | null> };
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: '$default';
    stage: '$default';
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** What a function may return: the structured result, or any JSON value Lambda wraps as a 200. */
interface FunctionUrlResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  body?: string;
  isBase64Encoded?: boolean;
  cookies?: string[];
}

interface HttpReply {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

interface EventInput {
  readonly functionName: string;
  readonly method: string;
  readonly rawPath: string;
  readonly rawQueryString: string;
  /** Lower-cased names; repeated headers joined with `,`. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly protocol: string;
  readonly accessKeyId: string;
  readonly now: Date;
}

const LOCAL_ACCOUNT_ID = '000000000000';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `22/Nov/2026:10:15:00 +0000`, the CLF time AWS puts in `requestContext.time`. */
function clfTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/graphql'
  );
}

// ignoreBOM: a leading byte-order mark stays in the text, as Lambda hands the function the bytes sent.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function asText(body: Buffer): string | undefined {
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}

/** Builds the payload 2.0 event: cookies move out of `headers`, text bodies stay text, others go base64. */
export function buildEvent(input: EventInput): FunctionUrlEvent {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(input.headers)) {
    if (name === 'cookie') cookies = value.split(/;\s*/).filter((c) => c.length > 0);
    else headers[name] = value;
  }

  let queryStringParameters: Record<string, string> | undefined;
  if (input.rawQueryString.length > 0) {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(input.rawQueryString)) {
      const previous = queryStringParameters[key];
      queryStringParameters[key] = previous === undefined ? value : `${previous},${value}`;
    }
  }

  const host = (input.headers['host'] ?? '').replace(/:\d+$/, '');
  const event: FunctionUrlEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath: input.rawPath,
    rawQueryString: input.rawQueryString,
    headers,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: input.functionName,
      authorizer: {
        iam: {
          accessKey: input.accessKeyId,
          accountId: LOCAL_ACCOUNT_ID,
          callerId: input.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local`,
          userId: input.accessKeyId,
        },
      },
      domainName: host,
      domainPrefix: input.functionName,
      http: {
        method: input.method,
        path: input.rawPath,
        protocol: input.protocol,
        sourceIp: input.sourceIp,
        userAgent: input.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: clfTime(input.now),
      timeEpoch: input.now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (cookies) event.cookies = cookies;
  if (queryStringParameters) event.queryStringParameters = queryStringParameters;
  if (input.body.length > 0) {
    const text = isTextual(input.headers['content-type']) ? asText(input.body) : undefined;
    if (text === undefined) {
      event.body = input.body.toString('base64');
      event.isBase64Encoded = true;
    } else {
      event.body = text;
    }
  }
  return event;
}

export class InvalidResultError extends Error {}

/**
 * Maps what the function returned to the HTTP reply, as Lambda does: a result with a numeric
 * `statusCode` is used as is; anything else (object, array, string, number) is a 200 whose body is
 * the result as JSON, so a returned string arrives quoted (`"Hello"`) and `undefined` as `null`.
 */
export function resultToReply(result: unknown): HttpReply {
  if (result !== null && typeof result === 'object' && 'statusCode' in result) {
    const r = result as Partial<FunctionUrlResult>;
    if (
      typeof r.statusCode !== 'number' ||
      !Number.isInteger(r.statusCode) ||
      r.statusCode < 100 ||
      r.statusCode > 599
    ) {
      throw new InvalidResultError('statusCode must be an integer between 100 and 599');
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(r.headers ?? {})) headers[name.toLowerCase()] = String(value);
    if (r.cookies && r.cookies.length > 0) headers['set-cookie'] = r.cookies.map(String);
    const text =
      typeof r.body === 'string'
        ? r.body
        : r.body === undefined || r.body === null
          ? ''
          : JSON.stringify(r.body);
    const body = r.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text);
    if (!headers['content-type'] && body.length > 0) headers['content-type'] = 'application/json';
    return { statusCode: r.statusCode, headers, body };
  }
  const text = JSON.stringify(result) ?? 'null';
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
}
