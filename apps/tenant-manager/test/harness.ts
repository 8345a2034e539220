import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { type RunningRedis, startRedis } from '@supaplane/local-services';
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { expect, inject } from 'vitest';
import './provided.js';
import { buildApp, type BuildAppOptions, type TenantManagerApp } from '../src/app.js';
import type {
  DescribedRestFunction,
  FunctionProvider,
  Provider,
  RestFunction,
  RestFunctionInput,
  WorkerClusterConnection,
} from '../src/providers/types.js';
import { INVALIDATION_CHANNEL } from '../src/lib/invalidation.js';
import { type ProjectRow, secretAad } from '../src/lib/projects.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const INTERNAL_TOKEN = 'test-internal-token-0123456789';
export const MASTER_KEY = randomBytes(32);
export const admin = { authorization: `Bearer ${ADMIN_KEY}` };
export const internal = { authorization: `Bearer ${INTERNAL_TOKEN}` };
/** The app config every test harness starts from; suites spread it and change what they test. */
export const TEST_APP_CONFIG = {
  adminApiKey: ADMIN_KEY,
  internalServiceToken: INTERNAL_TOKEN,
  masterKey: MASTER_KEY,
  publicUrlTemplate: 'http://{ref}.localhost:8000',
  internalBaseUrl: 'http://127.0.0.1:3002',
  sqlStatementTimeoutMs: 1_000,
  provisionWaitMs: 5_000,
  // No load shedding: a test worker that loads and compiles apps on a busy machine can lag seconds
  // behind, and its next request would be shed. bad-input.test.ts turns it on to test it.
  maxEventLoopDelayMs: 0,
};

/** Superuser URL of the shared test Postgres, optionally for another database. */
export function pgUrl(database = 'postgres'): string {
  const url = new URL(inject('pgUrl'));
  url.pathname = `/${database}`;
  return url.toString();
}

/** A Redis of the test file's own, the tenant-manager's connection to it, and what it publishes. */
export interface InvalidationListener {
  readonly server: RunningRedis;
  /** The connection to hand the tenant-manager (`startHarness({ redis })`). */
  readonly publisher: Redis;
  readonly subscriber: Redis;
  /** Every invalidation message published so far, parsed, in order. */
  readonly messages: Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startInvalidationListener(): Promise<InvalidationListener> {
  const server = await startRedis();
  const publisher = new Redis(server.url);
  const subscriber = new Redis(server.url);
  const messages: Record<string, unknown>[] = [];
  await subscriber.subscribe(INVALIDATION_CHANNEL);
  subscriber.on('message', (_channel, message) => messages.push(JSON.parse(message)));
  return {
    server,
    publisher,
    subscriber,
    messages,
    async stop() {
      publisher.disconnect();
      subscriber.disconnect();
      await server.stop();
    },
  };
}

/** A fresh management database for one test file (the worker cluster is the same server). */
export async function freshManagementDb(): Promise<string> {
  const name = `tm_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return pgUrl(name);
}

/** A function provider that records its calls: an implementation of the interface, not a mock. */
export class RecordingFunctions implements FunctionProvider {
  readonly live = new Map<string, Readonly<Record<string, string>>>();
  /** Functions stopped (a pause) and not ensured since. */
  readonly stopped = new Set<string>();
  readonly calls: string[] = [];
  /** While true, describing a function fails as an unreachable provider would. */
  unreachable = false;
  /** Refs whose function the provider describes as failed. */
  readonly failed = new Set<string>();
  async ensureRestFunction(input: RestFunctionInput): Promise<RestFunction> {
    this.calls.push(`ensure:${input.ref}`);
    this.live.set(input.ref, input.environment);
    // As the providers do: a stopped ensure keeps (or makes) it stopped, any other makes it runnable.
    if (input.stopped) this.stopped.add(input.ref);
    else this.stopped.delete(input.ref);
    return {
      name: `rest-${input.ref}`,
      url: `http://rest-${input.ref}.lambda-url.local.localhost:9000/`,
      region: 'local',
    };
  }
  async deleteRestFunction(ref: string): Promise<void> {
    this.calls.push(`delete:${ref}`);
    this.live.delete(ref);
    this.stopped.delete(ref);
  }
  async stopRestFunction(ref: string): Promise<void> {
    this.calls.push(`stop:${ref}`);
    this.stopped.add(ref);
  }
  /** The function as ensured (not recorded among the calls: a read changes nothing). */
  async describeRestFunction(ref: string): Promise<DescribedRestFunction | null> {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:9000');
    if (!this.live.has(ref)) return null;
    return {
      name: `rest-${ref}`,
      url: `http://rest-${ref}.lambda-url.local.localhost:9000/`,
      state: this.failed.has(ref) ? 'failed' : this.stopped.has(ref) ? 'stopped' : 'active',
    };
  }
}

export interface Harness {
  readonly tm: TenantManagerApp;
  readonly db: pg.Pool;
  readonly functions: RecordingFunctions;
  readonly managementUrl: string;
  /** Registers the shared server as a worker cluster; returns its id. */
  registerCluster(name: string, capacity: number, extra?: Record<string, unknown>): Promise<string>;
  /** `POST /v1/projects` as the operator, named after `ref`; the raw response. */
  createProject(ref: string): Promise<LightMyRequestResponse>;
  /** A public-API request as the operator (admin key; `headers` added); the raw response. */
  call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object | string,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function startHarness(
  overrides: Partial<BuildAppOptions> & { managementUrl?: string; functions?: RecordingFunctions } = {},
): Promise<Harness> {
  const managementUrl = overrides.managementUrl ?? (await freshManagementDb());
  const db = new pg.Pool({ connectionString: managementUrl, max: 20 });
  db.on('error', () => {});
  const functions = overrides.functions ?? new RecordingFunctions();
  const provider: Provider = { name: 'local', functions };
  const tm = await buildApp({
    db,
    provider,
    config: TEST_APP_CONFIG,
    // Spare databases off by default: background CREATE DATABASE would slow every suite down.
    provisioning: { backoffMs: 20, spareDatabases: 0 },
    ...overrides,
  });
  const server = new URL(inject('pgUrl'));
  return {
    tm,
    db,
    functions,
    managementUrl,
    async registerCluster(name, capacity, extra = {}) {
      const response = await tm.publicApp.inject({
        method: 'POST',
        url: '/v1/clusters',
        headers: admin,
        payload: {
          name,
          host: server.hostname,
          port: Number(server.port),
          admin_user: decodeURIComponent(server.username),
          admin_password: decodeURIComponent(server.password),
          capacity,
          ...extra,
        },
      });
      if (response.statusCode !== 201) throw new Error(`cluster registration failed: ${response.body}`);
      return response.json().id as string;
    },
    createProject: (ref) =>
      tm.publicApp.inject({
        method: 'POST',
        url: '/v1/projects',
        headers: admin,
        payload: { name: ref, ref },
      }),
    call: (method, url, payload, headers = {}) =>
      tm.publicApp.inject({
        method,
        url,
        headers: { ...admin, ...headers },
        ...(payload === undefined ? {} : { payload }),
      }),
    async close() {
      await tm.close();
      await db.end();
    },
  };
}

/**
 * What a worker-cluster provider hands back for a new cluster, standing in for one it created: the
 * shared test server, under the external id `aurora-<name>`.
 */
export function clusterOnTestServer(name: string): WorkerClusterConnection {
  const server = new URL(pgUrl());
  return {
    host: server.hostname,
    port: Number(server.port),
    adminUser: decodeURIComponent(server.username),
    adminPassword: decodeURIComponent(server.password),
    region: 'eu-west-1',
    externalId: `aurora-${name}`,
  };
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Databases and roles of a ref that exist on the worker cluster. */
export async function clusterObjects(ref: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: pgUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT 'db:' || datname AS name FROM pg_database WHERE datname = 'proj_' || $1
       UNION ALL SELECT 'role:' || rolname FROM pg_roles WHERE rolname IN ('owner_' || $1, 'authenticator_' || $1)
       ORDER BY 1`,
      [ref],
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** Runs one statement on its own connection to `url` (a worker cluster as its superuser, in tests). */
export async function queryOnce<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Whether a project's login role (`owner` or `authenticator`) gets a session in `database` (its own by
 * default) with its real password: 'connected', or the SQLSTATE it was refused with.
 */
export async function loginAs(
  h: Harness,
  ref: string,
  role: 'owner' | 'authenticator',
  database = `proj_${ref}`,
): Promise<string> {
  const { rows } = await h.db.query<ProjectRow>('SELECT * FROM tm.projects WHERE ref = $1', [ref]);
  const project = rows[0]!;
  const password =
    role === 'owner'
      ? h.tm.ctx.box.open(project.owner_password_enc, secretAad.ownerPassword(project.id))
      : h.tm.ctx.box.open(project.authenticator_password_enc, secretAad.authenticatorPassword(project.id));
  const server = new URL(pgUrl());
  const client = new pg.Client({
    host: server.hostname,
    port: Number(server.port),
    database,
    user: `${role}_${ref}`,
    password,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'connected';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A TCP proxy to the test server that can go down (refusing and counting connections), hang (accepting
 * connections and never answering, as a server stuck under load or behind a dead link does) and come
 * back.
 */
export async function startClusterProxy() {
  const target = new URL(pgUrl());
  const open = new Set<net.Socket>();
  /** Connections accepted while hanging, still open: nothing is ever written to them. */
  const held = new Set<net.Socket>();
  let accepted = 0;
  let down = false;
  let hanging = false;
  let refused = 0;
  const server = net.createServer((client) => {
    if (down) {
      refused++;
      client.destroy();
      return;
    }
    if (hanging) {
      accepted++;
      held.add(client);
      client.on('error', () => {}).on('close', () => held.delete(client));
      client.resume(); // read and drop what the client sends
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket
        .on('error', () => {})
        .on('close', () => {
          open.delete(socket);
          client.destroy();
          upstream.destroy();
        });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of [...open, ...held]) socket.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    refused: () => refused,
    /** Connections accepted while hanging, and how many of them the clients have not closed yet. */
    hung: () => ({ accepted, open: held.size }),
    down() {
      down = true;
      cut();
    },
    /** New connections are accepted and never answered (those open keep working). */
    hang() {
      hanging = true;
    },
    up() {
      down = false;
      hanging = false;
      for (const socket of held) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

/**
 * Sends `limits` in a create of `refs.create` and in a PATCH of `refs.patch`: each must answer 400
 * with exactly `expected` (the limits suites' shared check that bad limits are refused on both routes).
 */
export async function expectLimitsRefused(
  h: Harness,
  refs: { readonly create: string; readonly patch: string },
  limits: object,
  expected: { readonly message: string; readonly code: string },
): Promise<void> {
  for (const [method, url, payload] of [
    ['POST', '/v1/projects', { name: 'bad', ref: refs.create, limits }],
    ['PATCH', `/v1/projects/${refs.patch}`, { limits }],
  ] as const) {
    const response = await h.tm.publicApp.inject({ method, url, headers: admin, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual(expected);
  }
}
