import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { Client } from 'undici';
import { type LambdaEmulator, type LambdaEmulatorOptions, startLambdaEmulator } from './emulator.js';
import type { FunctionUrlEvent } from './function-url-event.js';
import type { Handler } from './function-registry.js';
import { signableQuery, type StaticCredentials } from './sigv4-verify.js';

export const CREDENTIALS: StaticCredentials = {
  accessKeyId: 'AKIALOCALEXAMPLE0001',
  secretAccessKey: 'local/Secret+Key/For/Tests/0123456789abcd',
};
export const CONTROL_TOKEN = 'control-token-for-tests';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  bytes: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected field by field
  json: () => any;
}

interface SignedCall {
  method?: string;
  rawPath?: string;
  rawQuery?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  credentials?: StaticCredentials;
  region?: string;
  signingDate?: Date;
  /** Runs on the signed request before it is sent (to tamper with it). */
  tamper?: (request: {
    path: string;
    query: string;
    headers: Record<string, string>;
    body?: string | Buffer;
  }) => void;
  unsigned?: boolean;
  /** Sign in the query string (a presigned URL) instead of the Authorization header. */
  presignExpiresIn?: number;
  /** Whether the signer adds (and signs) x-amz-content-sha256. Default true. */
  applyChecksum?: boolean;
}

/** Sends a request to a function through the emulator, signed by the reference signer (smithy + sha256-js). */
export async function callFunction(port: number, name: string, call: SignedCall = {}): Promise<Reply> {
  const host = `${name}.lambda-url.local.localhost:${port}`;
  const method = call.method ?? 'GET';
  const rawPath = call.rawPath ?? '/';
  const rawQuery = call.rawQuery ?? '';
  let headers: Record<string, string> = { host, ...call.headers };
  let query = rawQuery;
  if (!call.unsigned) {
    const signer = new SignatureV4({
      service: 'lambda',
      region: call.region ?? 'local',
      credentials: call.credentials ?? CREDENTIALS,
      sha256: Sha256,
      applyChecksum: call.applyChecksum ?? true,
    });
    const toSign = {
      method,
      protocol: 'http:',
      hostname: host.replace(/:\d+$/, ''),
      port,
      path: rawPath,
      query: signableQuery(rawQuery),
      headers,
      body: call.body,
    };
    const signingDate = call.signingDate ?? new Date();
    if (call.presignExpiresIn !== undefined) {
      const presigned = await signer.presign(toSign, { signingDate, expiresIn: call.presignExpiresIn });
      headers = presigned.headers as Record<string, string>;
      query = Object.entries(presigned.query ?? {})
        .flatMap(([k, v]) =>
          (Array.isArray(v) ? v : [v]).map((one) => `${strictEncode(k)}=${strictEncode(String(one))}`),
        )
        .join('&');
    } else {
      headers = (await signer.sign(toSign, { signingDate })).headers as Record<string, string>;
    }
  }
  const request = { path: rawPath, query, headers, body: call.body };
  call.tamper?.(request);
  return send(port, {
    method,
    path: request.query ? `${request.path}?${request.query}` : request.path,
    headers: request.headers,
    body: request.body,
  });
}

const strictEncode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export async function send(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Reply> {
  const client = new Client(`http://127.0.0.1:${port}`);
  try {
    const res = await client.request({
      method: options.method as 'GET',
      path: options.path,
      headers: options.headers,
      body: options.body,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const text = bytes.toString('utf8');
    return { status: res.statusCode, headers: res.headers, text, bytes, json: () => JSON.parse(text) };
  } finally {
    await client.close();
  }
}

export function control(port: number, method: string, path: string, body?: unknown, token = CONTROL_TOKEN) {
  return send(port, {
    method,
    path,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A runtime that echoes the event and environment back, counting cold starts and stops. */
export function echoRuntime() {
  const stats = { starts: 0, closes: 0 };
  const factory = (environment: Record<string, string>): Handler => {
    stats.starts++;
    const handler = (async (event: FunctionUrlEvent) => ({
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event, environment }),
    })) as Handler;
    handler.close = async () => {
      stats.closes++;
    };
    return handler;
  };
  return { factory, stats };
}

/** An emulator on a free port with the test credentials and control token; `runtimes` default to `echo`. */
export function startTestEmulator(options: Partial<LambdaEmulatorOptions> = {}): Promise<LambdaEmulator> {
  return startLambdaEmulator({
    port: 0,
    credentials: CREDENTIALS,
    controlToken: CONTROL_TOKEN,
    runtimes: { echo: echoRuntime().factory },
    ...options,
  });
}
