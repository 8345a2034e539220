import { request as httpRequest } from 'node:http';
import { request } from 'undici';
import { type GatewayConfig, loadGatewayConfig } from '../config.js';
import type { UpstreamRecord } from '../records.js';
import type { AwsCredentials } from '../sigv4.js';
import type { RegistryServer } from './registry-server.js';

export const BASE_DOMAIN = 'supaplane.test';
export const TEST_AWS: AwsCredentials = { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local/secret+key' };
export const PREFIXES = ['rest', 'auth', 'storage', 'functions', 'realtime', 'graphql'] as const;

/** Gateway config for tests: local mode, silent logs, test allowlist, every value overridable. */
export function testConfig(
  registry: RegistryServer,
  overrides: Partial<GatewayConfig> = {},
  redisUrl?: string,
): GatewayConfig {
  const config = loadGatewayConfig({
    LOCAL_MODE: 'true',
    BASE_DOMAIN,
    GATEWAY_PORT: '0',
    TENANT_MANAGER_INTERNAL_URL: registry.url,
    INTERNAL_SERVICE_TOKEN: registry.token,
    LOCAL_AWS_ACCESS_KEY_ID: TEST_AWS.accessKeyId,
    LOCAL_AWS_SECRET_ACCESS_KEY: TEST_AWS.secretAccessKey,
    UPSTREAM_HOST_ALLOWLIST: '*.lambda-url.*.localhost,*.svc.localhost',
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'silent',
  });
  return { ...config, ...overrides };
}

/** rest and auth behind SigV4 function URLs, the other prefixes as plain in-VPC services. */
export function upstreamsFor(ref: string, port: number): Record<string, UpstreamRecord> {
  return {
    rest: {
      kind: 'lambda-url',
      url: `http://rest-${ref}.lambda-url.local.localhost:${port}/`,
      region: 'local',
    },
    auth: {
      kind: 'lambda-url',
      url: `http://auth-${ref}.lambda-url.local.localhost:${port}/`,
      region: 'local',
    },
    storage: { kind: 'http', url: `http://storage-${ref}.svc.localhost:${port}/` },
    functions: { kind: 'http', url: `http://functions-${ref}.svc.localhost:${port}/` },
    realtime: { kind: 'http', url: `http://realtime-${ref}.svc.localhost:${port}/` },
    graphql: {
      kind: 'lambda-url',
      url: `http://graphql-${ref}.lambda-url.local.localhost:${port}/`,
      region: 'local',
    },
  };
}

export const prefixPath = (prefix: string) => `/${prefix}/v1/${prefix === 'rest' ? 'todos' : 'thing'}`;

export interface CallResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary echoed JSON
  readonly body: any;
}

/** One request to the gateway with `Host: <ref>.<base domain>`. */
export async function call(
  gatewayUrl: string,
  ref: string | null,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<CallResult> {
  const port = new URL(gatewayUrl).port;
  const response = await request(gatewayUrl + path, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { host: ref ? `${ref}.${BASE_DOMAIN}:${port}` : `${BASE_DOMAIN}:${port}`, ...init.headers },
    body: init.body ?? null,
  });
  const text = await response.body.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {}
  return { status: response.statusCode, headers: response.headers, body };
}

/** Claims of a JWT, unverified (tests only). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
}

/** Like {@link call} but through node:http, which sends the path and headers exactly as written. */
export function rawCall(
  gatewayUrl: string,
  ref: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<CallResult> {
  const { port } = new URL(gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers: { host: `${ref}.${BASE_DOMAIN}:${port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
