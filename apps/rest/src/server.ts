import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { createRestEngine, type RestEngine, type RestEngineOptions } from './engine.js';

export type RestServerOptions = {
  readonly port: number;
  readonly host?: string;
  /** Largest request body accepted, in bytes. Default 10 MiB. */
  readonly bodyLimit?: number;
} & (
  | RestEngineOptions
  | (Omit<RestEngineOptions, 'pool' | 'schemas'> & {
      readonly dbUrl: string;
      readonly schemas?: string[];
      readonly poolMax?: number;
    })
);

export interface RestServer {
  readonly url: string;
  readonly engine: RestEngine;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;

/** A plain node:http server around the engine: the data API for local use and tests. */
export async function startRestServer(options: RestServerOptions): Promise<RestServer> {
  const ownPool =
    'dbUrl' in options
      ? new pg.Pool({ connectionString: options.dbUrl, max: options.poolMax ?? 10 })
      : undefined;
  const engine = createRestEngine({
    ...options,
    pool: ownPool ?? (options as RestEngineOptions).pool,
    schemas: options.schemas ?? ['public'],
  });
  const limit = options.bodyLimit ?? 10 * MiB;
  const server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const body = await readBody(req, limit).catch(() => undefined);
    if (body === 'too-large') {
      res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      res.end(JSON.stringify({ code: 'PGRST413', message: 'Payload too large', details: null, hint: null }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const response = await engine.handle({
      method: req.method ?? 'GET',
      path: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? '' : url.slice(q + 1),
      headers,
      ...(body ? { body } : {}),
    });
    try {
      const { cookies } = response;
      res.writeHead(
        response.status,
        cookies ? { ...response.headers, 'set-cookie': cookies } : response.headers,
      );
      res.end(req.method === 'HEAD' ? undefined : response.body);
    } catch {
      // A header Node refuses fails this response, never the process (as an unhandled rejection).
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(
          JSON.stringify({ code: 'PGRST000', message: 'Internal server error', details: null, hint: null }),
        );
      }
    }
  });
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    engine,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await engine.close();
      await ownPool?.end();
    },
  };
}

/** The body, or `too-large` once it passes `limit` (the rest is drained, not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? 'too-large' : size ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}
