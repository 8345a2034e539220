import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateApiKey, hashApiKey } from '@supaplane/keys';
import { Redis } from 'ioredis';
import type { RateLimit } from '../rate-limit.js';
import type { ApiKeyRecord, ProjectRecord, UpstreamRecord } from '../records.js';
import { INVALIDATION_CHANNEL, apiKeyRedisKey, projectRedisKey } from '../redis-layer.js';

export interface TestProject {
  readonly ref: string;
  readonly jwtSecret: string;
  readonly publishableKey: string;
  readonly secretKey: string;
}

/**
 * A real HTTP server implementing the tenant-manager's internal API contract (docs/contracts.md),
 * with the same invalidation behaviour (DEL then PUBLISH) when a Redis URL is given.
 */
export interface RegistryServer {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Internal API calls served, by path. */
  readonly calls: Map<string, number>;
  addProject(
    ref: string,
    options: {
      upstreams: Record<string, UpstreamRecord | null>;
      status?: string;
      jwks?: { keys: Record<string, unknown>[] };
      sharedKeys?: { kid: string; k: string }[];
      rateLimit?: RateLimit | null;
    },
  ): TestProject;
  /** Changes a project's rate limit and publishes `limits-updated`, as the tenant-manager does. */
  setRateLimit(ref: string, rateLimit: RateLimit | null): Promise<void>;
  /** An extra key for a project. */
  addKey(ref: string, type: 'publishable' | 'secret'): string;
  setStatus(ref: string, status: string): Promise<void>;
  revokeKey(key: string): Promise<void>;
  deleteProject(ref: string): Promise<void>;
  /** Stops listening (connections dropped); `start` listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startRegistryServer(options: {
  token: string;
  redisUrl?: string;
}): Promise<RegistryServer> {
  const projects = new Map<string, ProjectRecord>();
  const keys = new Map<string, ApiKeyRecord>();
  const calls = new Map<string, number>();
  const publisher = options.redisUrl ? new Redis(options.redisUrl, { maxRetriesPerRequest: 1 }) : null;
  publisher?.on('error', () => {});

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = req.url ?? '';
    calls.set(path, (calls.get(path) ?? 0) + 1);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${options.token}`)
      return send(401, { message: 'unauthorized' });
    let m = /^\/internal\/v1\/projects\/([^/]+)\/config$/.exec(path);
    if (m) {
      const project = projects.get(decodeURIComponent(m[1]!));
      return project && project.status !== 'REMOVED'
        ? send(200, project)
        : send(404, { message: 'project not found' });
    }
    m = /^\/internal\/v1\/api-keys\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      const key = keys.get(m[1]!);
      return key ? send(200, key) : send(404, { message: 'api key not found' });
    }
    send(404, { message: 'not found' });
  };

  let server: Server = createServer(handler);
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer(handler);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();

  const publish = async (keysToDelete: string[], message: Record<string, unknown>) => {
    if (!publisher) return;
    await publisher.del(...keysToDelete);
    await publisher.publish(
      INVALIDATION_CHANNEL,
      JSON.stringify({ ...message, at: new Date().toISOString() }),
    );
  };

  const addKey = (ref: string, type: 'publishable' | 'secret') => {
    const key = generateApiKey(ref, type);
    keys.set(hashApiKey(key), {
      ref,
      keyId: `key-${keys.size + 1}`,
      type,
      role: type === 'secret' ? 'service_role' : 'anon',
      status: 'active',
    });
    return key;
  };

  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    token: options.token,
    calls,
    addProject(ref, { upstreams, status = 'ACTIVE_HEALTHY', jwks, sharedKeys, rateLimit = null }) {
      const jwtSecret = `jwt-secret-for-${ref}-0123456789abcdefghijklmnop`;
      projects.set(ref, {
        ref,
        status,
        jwtSecret,
        jwks: jwks ?? { keys: [] },
        ...(sharedKeys ? { sharedKeys } : {}),
        upstreams,
        rateLimit,
        version: 1,
      });
      return { ref, jwtSecret, publishableKey: addKey(ref, 'publishable'), secretKey: addKey(ref, 'secret') };
    },
    addKey,
    async setRateLimit(ref, rateLimit) {
      const project = projects.get(ref);
      if (!project) throw new Error(`no project ${ref}`);
      projects.set(ref, { ...project, rateLimit, version: project.version + 1 });
      await publish([projectRedisKey(ref)], { kind: 'project', ref, reason: 'limits-updated' });
    },
    async setStatus(ref, status) {
      const project = projects.get(ref);
      if (!project) throw new Error(`no project ${ref}`);
      projects.set(ref, { ...project, status, version: project.version + 1 });
      await publish([projectRedisKey(ref)], {
        kind: 'project',
        ref,
        reason: status === 'PAUSED' || status === 'INACTIVE' ? 'paused' : 'restored',
      });
    },
    async revokeKey(key) {
      const hash = hashApiKey(key);
      const record = keys.get(hash);
      if (!record) throw new Error('unknown key');
      keys.set(hash, { ...record, status: 'revoked' });
      await publish([apiKeyRedisKey(hash)], {
        kind: 'api-key',
        ref: record.ref,
        keyHash: hash,
        reason: 'revoked',
      });
    },
    async deleteProject(ref) {
      projects.delete(ref);
      await publish([projectRedisKey(ref)], { kind: 'project', ref, reason: 'deleted' });
    },
    stop,
    start: listen,
    async close() {
      await stop();
      publisher?.disconnect();
    },
  };
}
