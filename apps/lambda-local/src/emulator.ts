import { createHash, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { FUNCTION_NAME, FunctionRegistry, type Logger, type RuntimeFactory } from './function-registry.js';
import { InvalidResultError, buildEvent, resultToReply } from './function-url-event.js';
import { type StaticCredentials, createSigV4Verifier } from './sigv4-verify.js';

/**
 * Lambda's synchronous invocation payload limit, which the event's JSON must fit (headers and a
 * base64-encoded binary body included); Function URLs answer 413 beyond it.
 */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;
/**
 * Lambda refuses a function's response (its JSON, headers and base64 body included) past this size
 * ("Response payload size exceeded maximum allowed payload size (6291556 bytes)"); the URL answers 502.
 */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100;
/**
 * Lambda's quota for the request line and header values together ("Lambda quotas": 1 MB), where
 * node's own limit (16 KB) would answer a bodiless 431 long before. Past it the URL is refused like an
 * oversized payload: a Function URL reported answering big cookies with the 413 of `tooLarge`.
 */
export const MAX_HEAD_BYTES = 1024 * 1024;
/** Bodies this far over the limit are not even drained: the connection is cut. */
const DRAIN_LIMIT = 64 * 1024 * 1024;
const CONTROL_BODY_LIMIT = 1024 * 1024;

export interface LambdaEmulatorOptions {
  /** Default 9000; 0 picks a free port. */
  readonly port?: number;
  /** Listen address. Default `127.0.0.1`. */
  readonly host?: string;
  /** Region in the Function URL host and the SigV4 scope. Default `local`. */
  readonly region?: string;
  /**
   * The only credentials whose signatures are accepted (the local stand-in for IAM); with a
   * `sessionToken`, requests must carry that token, as AWS requires of temporary credentials.
   */
  readonly credentials: StaticCredentials;
  /** Bearer token of the control API (the platform's internal service token). */
  readonly controlToken: string;
  /** Where `functions.json` persists registrations. Default: in memory only. */
  readonly dataDir?: string;
  /** Handler factories by runtime name, e.g. `rest`. */
  readonly runtimes: Readonly<Record<string, RuntimeFactory>>;
  /** Idle time after which a warm instance is stopped. Default 5 minutes. */
  readonly idleMs?: number;
  /**
   * Function timeout: an invocation still running after it is answered 502 and its instance is
   * replaced. Default 30 s, the rest function's timeout in production (infra/config.production.json).
   */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  /** Clock for SigV4 skew checks and event times; tests only. */
  readonly now?: () => number;
}

export interface LambdaEmulator {
  /** Control API base URL (the bare address). */
  readonly url: string;
  readonly port: number;
  /** `http://NAME.lambda-url.<region>.localhost:<port>/` */
  functionUrl(name: string): string;
  close(): Promise<void>;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

/** Starts the local Lambda Function URL emulator (docs/contracts.md, "Local Lambda Function URL emulator"). */
export async function startLambdaEmulator(options: LambdaEmulatorOptions): Promise<LambdaEmulator> {
  const region = options.region ?? 'local';
  const logger = options.logger ?? silent;
  const now = options.now ?? Date.now;
  const registry = new FunctionRegistry({
    runtimes: options.runtimes,
    idleMs: options.idleMs ?? 5 * 60 * 1000,
    timeoutMs: options.timeoutMs ?? 30_000,
    dataDir: options.dataDir,
    logger,
  });
  await registry.load();
  const verify = createSigV4Verifier({ region, credentials: options.credentials, now });
  const tokenDigest = createHash('sha256').update(`Bearer ${options.controlToken}`).digest();
  const hostPattern = new RegExp(
    `^([a-z0-9-]+)\\.lambda-url\\.${escapeRegExp(region)}\\.localhost(?::\\d+)?$`,
  );
  let port = 0;
  const functionUrl = (name: string) => `http://${name}.lambda-url.${region}.localhost:${port}/`;

  async function handleFunction(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!registry.has(name)) {
      return awsError(res, 404, 'ResourceNotFoundException', { Message: `Function not found: ${name}` });
    }
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === 'too-large') {
      closeIfUnread(req, res);
      return tooLarge(res);
    }
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const rawQueryString = q < 0 ? '' : target.slice(q + 1);
    const headers = joinedHeaders(req.rawHeaders);
    const method = req.method ?? 'GET';

    const auth = await verify({ method, rawPath, rawQueryString, headers, body });
    if (!auth.ok) {
      logger.warn({ function: name, reason: auth.kind }, 'rejected unsigned or badly signed request');
      if (auth.kind === 'missing')
        return awsError(res, 403, 'AccessDeniedException', { Message: 'Forbidden' });
      // AWS gives a wrong or missing session token the same answer as an unknown access key.
      if (auth.kind === 'unknown-access-key' || auth.kind === 'invalid-security-token') {
        return awsError(res, 403, 'UnrecognizedClientException', {
          message: 'The security token included in the request is invalid.',
        });
      }
      return awsError(res, 403, 'InvalidSignatureException', { message: auth.message });
    }

    const event = buildEvent({
      functionName: name,
      method,
      rawPath,
      rawQueryString,
      headers,
      body,
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      protocol: `HTTP/${req.httpVersion}`,
      accessKeyId: auth.accessKeyId,
      now: new Date(now()),
    });
    if (Buffer.byteLength(JSON.stringify(event)) > MAX_BODY_BYTES) return tooLarge(res);
    const requestId = event.requestContext.requestId;
    let reply: ReturnType<typeof resultToReply>;
    try {
      const outcome = await registry.invoke(name, event);
      if (!outcome) {
        return awsError(res, 404, 'ResourceNotFoundException', { Message: `Function not found: ${name}` });
      }
      if (outcome === 'stopped') return throttled(res, requestId);
      const payloadBytes = Buffer.byteLength(JSON.stringify(outcome.result) ?? 'null');
      if (payloadBytes > MAX_RESPONSE_BYTES) {
        throw new InvalidResultError(
          `response payload of ${payloadBytes} bytes exceeds ${MAX_RESPONSE_BYTES}`,
        );
      }
      reply = resultToReply(outcome.result);
    } catch (error) {
      const reason = error instanceof InvalidResultError ? 'invalid result' : 'function error';
      logger.error({ function: name, requestId, err: errorText(error) }, reason);
      return awsError(res, 502, 'Function.Error', { Message: 'Internal Server Error' }, requestId);
    }
    // Framing is ours to set, as Lambda's front end does.
    const { 'content-length': _, 'transfer-encoding': __, connection: ___, ...headersOut } = reply.headers;
    try {
      res.writeHead(reply.statusCode, { ...headersOut, 'x-amzn-requestid': requestId });
    } catch (error) {
      logger.error({ function: name, requestId, err: errorText(error) }, 'invalid result headers');
      return awsError(res, 502, 'Function.Error', { Message: 'Internal Server Error' }, requestId);
    }
    res.end(reply.body);
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/health') return json(res, 200, { status: 'ok' });
    if (path !== '/functions' && !path.startsWith('/functions/'))
      return json(res, 404, { message: 'not found' });

    const given = createHash('sha256')
      .update(req.headers.authorization ?? '')
      .digest();
    if (!timingSafeEqual(given, tokenDigest)) return json(res, 401, { message: 'unauthorized' });

    if (path === '/functions') {
      if (req.method !== 'GET') return json(res, 405, { message: 'method not allowed' });
      return json(res, 200, {
        functions: registry
          .list()
          .map((f) => ({ name: f.name, url: functionUrl(f.name), runtime: f.runtime, state: f.state })),
      });
    }
    const [name = '', action, ...more] = path.slice('/functions/'.length).split('/');
    if (!FUNCTION_NAME.test(name)) {
      return json(res, 400, {
        message: 'function name must be a lower-case DNS label (a-z, 0-9, -; at most 63)',
      });
    }
    if (action !== undefined) {
      if (action !== 'stop' || more.length > 0) return json(res, 404, { message: 'not found' });
      if (req.method !== 'POST') return json(res, 405, { message: 'method not allowed' });
      if (!(await registry.stopFunction(name)))
        return json(res, 404, { message: `function not found: ${name}` });
      logger.info({ function: name }, 'function stopped');
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'DELETE') {
      await registry.delete(name);
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'PUT') return json(res, 405, { message: 'method not allowed' });
    const raw = await readBody(req, CONTROL_BODY_LIMIT);
    if (raw === 'too-large') {
      closeIfUnread(req, res);
      return json(res, 413, { message: 'body too large' });
    }
    let input: unknown;
    try {
      input = JSON.parse(raw.toString('utf8'));
    } catch {
      return json(res, 400, {
        message: 'body must be JSON: {"runtime": string, "environment": {string: string}}',
      });
    }
    const parsed = parseRegistration(input);
    if (typeof parsed === 'string') return json(res, 400, { message: parsed });
    if (!registry.hasRuntime(parsed.runtime)) {
      return json(res, 400, { message: `unknown runtime: ${parsed.runtime}` });
    }
    await registry.put({ name, ...parsed });
    logger.info({ function: name, runtime: parsed.runtime, stopped: parsed.stopped }, 'function registered');
    return json(res, 200, { name, url: functionUrl(name) });
  }

  const server: Server = createServer({ maxHeaderSize: MAX_HEAD_BYTES }, (req, res) => {
    // Node routes by the first of repeated Host headers while SigV4 covers them all, joined: refused.
    if ((req.headersDistinct.host?.length ?? 0) > 1) return json(res, 400, { message: 'Bad Request' });
    const host = (req.headers.host ?? '').toLowerCase();
    const match = hostPattern.exec(host);
    const work = match ? handleFunction(match[1]!, req, res) : handleControl(req, res);
    work.catch((error: unknown) => {
      logger.error({ err: errorText(error) }, 'emulator failure');
      if (!res.headersSent) json(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  logger.info({ url, region }, 'lambda emulator listening');

  return {
    url,
    port,
    functionUrl,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await registry.close();
    },
  };
}

function parseRegistration(
  input: unknown,
): { runtime: string; environment: Record<string, string>; stopped: boolean } | string {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return 'body must be a JSON object';
  const { runtime, environment, stopped } = input as {
    runtime?: unknown;
    environment?: unknown;
    stopped?: unknown;
  };
  if (typeof runtime !== 'string' || runtime.length === 0) return 'runtime must be a non-empty string';
  if (stopped !== undefined && typeof stopped !== 'boolean') return 'stopped must be a boolean';
  if (environment !== undefined) {
    if (environment === null || typeof environment !== 'object' || Array.isArray(environment)) {
      return 'environment must be an object of strings';
    }
    for (const value of Object.values(environment)) {
      if (typeof value !== 'string') return 'environment must be an object of strings';
    }
  }
  return {
    runtime,
    environment: { ...(environment as Record<string, string> | undefined) },
    stopped: stopped === true,
  };
}

/** Lower-cased header map from the raw list, repeated headers joined with `,` (as Lambda does). */
function joinedHeaders(raw: string[]): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous},${value}`;
  }
  return { ...headers };
}

/**
 * Reads the whole body; beyond `limit` keeps draining (so the client still reads the 413) and answers
 * `too-large`. Past DRAIN_LIMIT it stops reading at once and the caller closes the connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > DRAIN_LIMIT) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DRAIN_LIMIT) {
        req.off('data', onData);
        req.pause();
        resolve('too-large');
      }
    };
    req.on('data', onData);
    req.on('end', () => resolve(size > limit ? 'too-large' : Buffer.concat(chunks, size)));
    req.on('error', reject);
    req.on('close', () => resolve('too-large'));
  });
}

/** After answering before the request body was read, the connection cannot be reused. */
function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  res.setHeader('connection', 'close');
  res.once('finish', () => req.socket.destroy());
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** An error in the shape of AWS's: a JSON body and its type in `x-amzn-errortype`. */
function awsErrorReply(
  errorType: string,
  body: Record<string, string>,
  requestId?: string,
): { headers: Record<string, string | number>; text: string } {
  const text = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-errortype': errorType,
    ...(requestId ? { 'x-amzn-requestid': requestId } : {}),
  };
  return { headers, text };
}

function awsError(
  res: ServerResponse,
  status: number,
  errorType: string,
  body: Record<string, string>,
  requestId?: string,
): void {
  const { headers, text } = awsErrorReply(errorType, body, requestId);
  res.writeHead(status, headers).end(text);
}

/**
 * A stopped function (a paused project's) is answered as Lambda answers one whose reserved concurrency
 * is 0: every invocation throttled, the function never started.
 */
function throttled(res: ServerResponse, requestId: string): void {
  awsError(
    res,
    429,
    'TooManyRequestsException',
    { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' },
    requestId,
  );
}

const TOO_LARGE_MESSAGE = `Request must be smaller than ${MAX_BODY_BYTES} bytes for the InvokeFunction operation`;

const TOO_LARGE_TYPE = 'RequestEntityTooLargeException';

function tooLarge(res: ServerResponse): void {
  awsError(res, 413, TOO_LARGE_TYPE, { Message: TOO_LARGE_MESSAGE });
}

/**
 * A head node cannot parse: past MAX_HEAD_BYTES the 413 of `tooLarge`; anything else as node answers
 * it (400, or 408 for a head not received in time), without a body.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const pending = (socket as { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
  if (!socket.writable || pending?.headersSent || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  let reply = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    reply = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n';
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    // No response object here: the socket gets the bytes `tooLarge` would send, written out.
    const { headers, text } = awsErrorReply(TOO_LARGE_TYPE, { Message: TOO_LARGE_MESSAGE });
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    reply = `HTTP/1.1 413 Request Entity Too Large\r\n${lines.join('')}connection: close\r\n\r\n${text}`;
  }
  socket.end(reply, () => socket.destroy());
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
