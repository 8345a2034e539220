import { lookup as dnsLookup } from 'node:dns';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { inject } from 'vitest';
import WebSocket from 'ws';

/** `*.localhost` does not resolve in Node: send it to loopback, everything else to DNS. */
export const dispatcher = new Agent({
  connect: {
    lookup(hostname, options, callback) {
      if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
        if ((options as { all?: boolean }).all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
        return (callback as unknown as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
      }
      return dnsLookup(hostname, options, callback);
    },
  },
});

export const platform = () => inject('platform');

/** `http(s)://<ref>.<baseDomain>[:port]` — the URL an app developer is given. */
export function projectUrl(ref: string): string {
  const gateway = new URL(platform().gatewayUrl);
  return `${gateway.protocol}//${ref}.${platform().baseDomain}${gateway.port ? `:${gateway.port}` : ''}`;
}

const fetchThroughLoopback: typeof fetch = (input, init) =>
  undiciFetch(input as string, { ...(init as object), dispatcher }) as unknown as Promise<Response>;

/**
 * An unmodified supabase-js client for a project, as an app would create it; `headers` go with every
 * request (as `global.headers`, e.g. the Cookie a server-side app passes on).
 */
export function supabaseFor(
  ref: string,
  key: string,
  accessToken?: string,
  headers?: Record<string, string>,
): SupabaseClient {
  return createClient(projectUrl(ref), key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket as never },
    global: {
      fetch: fetchThroughLoopback,
      headers: { ...headers, ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}) },
    },
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => unknown;
}

/**
 * `<method> /rest/v1/<target>` on the project's host with the target exactly as given (undici's
 * dispatcher API neither parses nor re-encodes it) and `key` as `apikey`; a header given as a list is
 * sent as that many header lines. What curl and non-JS clients send.
 */
export async function rawRest(
  ref: string,
  key: string,
  target: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {},
): Promise<HttpResult> {
  const res = await dispatcher.request({
    origin: projectUrl(ref),
    path: `/rest/v1/${target}`,
    method: (options.method ?? 'GET') as 'GET',
    headers: { apikey: key, ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** A raw HTTP request that keeps every header as given (fetch would drop a user-set Host). */
export async function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<HttpResult> {
  const res = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
    dispatcher,
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: () => {
      try {
        return JSON.parse(text);
      } catch {
        throw new Error(`not JSON (HTTP ${res.statusCode}): ${text.slice(0, 300)}`);
      }
    },
  };
}

/** Operator call to the tenant-manager's public API with the platform admin key. */
export async function admin(method: string, path: string, body?: unknown): Promise<HttpResult> {
  return http(`${platform().tenantManagerUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${platform().adminKey}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

export interface RestOptions {
  method?: string;
  /** Sent as `apikey`; omit for a request without a key. */
  key?: string;
  /** Sent as `Authorization: Bearer …` (a user token). */
  token?: string;
  headers?: Record<string, string>;
  /** JSON-encoded unless a string. */
  body?: unknown;
}

/** A raw data-API request to `<project host>/rest/v1/<path>`, as curl or a non-JS client would send it. */
export function rest(ref: string, path: string, options: RestOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.apikey = options.key;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  return http(`${projectUrl(ref)}/rest/v1/${path}`, {
    method: options.method ?? 'GET',
    headers,
    ...(body !== undefined ? { body } : {}),
  });
}
